"""Counsellors and supervisors at their consoles (issue 12): exact commands, ``//`` notes,
a counsellor's own STOP, supervisors who assign, take over, close and read any transcript,
languages, and the staff command line. The relay without Rasa, on the real database, with
the real Twilio and Telegram clients talking to the stand-ins (``tests/support/relay.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.channels.inbound import Inbound
from bot.handoff import messages as m
from bot.handoff.supervision import assign, close
from bot.i18n import Translator
from tests.support.env import STAFF_CHAT
from tests.support.handoff import LUCIA, SOFIA, folded
from tests.support.relay import (
    Parts,
    ask,
    console,
    fire_due,
    new_user,
    relay_parts,
    sms_to,
    user_says,
)
from tests.support.standins import StandIns

NADIA = "+22370000199"  # an SMS supervisor (fr, es, bm)
AWA, MOUSSA, FATOU = 500001, 500002, 500003  # Telegram counsellors; Fatou supervises
_updates = iter(range(9_100_000, 9_200_000))


@pytest.fixture()
def parts(tmp_path: Path, standins: StandIns) -> Iterator[Parts]:
    yield from relay_parts(tmp_path, standins)


def topic_post(parts: Parts, user_id: int, thread: int | None, text: str) -> None:
    """A staff-group message through the relay's console (as the webhook would give it)."""
    contact = parts.store.contact("telegram", str(user_id))
    inbound = Inbound("telegram", f"u{next(_updates)}", str(user_id), "staff", text=text,
                      thread=thread)  # fmt: skip
    assert parts.run(parts.relay.console(contact, inbound)) == "console"


def topic_texts(parts: Parts, thread: int | None) -> list[str]:
    return [s["text"] for s in parts.standins.telegram.sent
            if s["chat_id"] == STAFF_CHAT and s.get("message_thread_id") == thread]  # fmt: skip


def test_commands_need_their_exact_form(parts: Parts) -> None:
    """A counsellor's SMS that is not a command gets one short line, and claims nothing."""
    es = Translator("es")
    user = new_user(parts)
    handoff_id = ask(parts, user)
    for text in (f"Take {handoff_id} tablets every 8 hours", "done ok",
                 "ok", "TAKE"):  # fmt: skip
        parts.run(console(parts, LUCIA, text))
        assert sms_to(parts, LUCIA)[-1] == folded(es(m.HELP_SHORT))
    assert parts.service.owner(user.id).state == "queued"
    parts.run(console(parts, LUCIA, f"take #{handoff_id}."))
    assert parts.service.owner(user.id).counsellor_id == "lucia"


def test_hash_stop_goes_to_the_user_and_a_counsellors_own_stop_asks_first(parts: Parts) -> None:
    es = Translator("es")
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(console(parts, LUCIA, f"TAKE {handoff_id}"))
    lucia = parts.store.contact("sms", LUCIA)
    for text in ("stop", "Stop !"):
        parts.run(console(parts, LUCIA, f"#{handoff_id} {text}"))
        assert sms_to(parts, user.address)[-1] == text
    assert not parts.store.contact_by_id(lucia.id).opted_out
    parts.run(console(parts, LUCIA, "STOP"))
    assert sms_to(parts, LUCIA)[-1] == folded(es(m.STOP_CONFIRM))
    parts.run(console(parts, LUCIA, "no, me equivoque"))
    assert sms_to(parts, LUCIA)[-1] == folded(es(m.STOP_KEPT))
    assert not parts.store.contact_by_id(lucia.id).opted_out
    parts.run(console(parts, LUCIA, "Arret"))
    parts.run(console(parts, LUCIA, "si"))
    assert sms_to(parts, LUCIA)[-1] == folded(es(m.STOPPED))
    assert parts.store.contact_by_id(lucia.id).opted_out
    # What she held goes back to the queue, first in line; the user is told.
    owner = parts.service.owner(user.id)
    assert (owner.state, owner.priority) == ("queued", True)
    assert sms_to(parts, user.address)[-1] == folded(es(m.REQUEUED))
    told = len(sms_to(parts, LUCIA))
    parts.run(console(parts, LUCIA, f"TAKE {handoff_id}"))  # nothing can reach her
    assert len(sms_to(parts, LUCIA)) == told
    assert parts.service.owner(user.id).state == "queued"
    parts.run(console(parts, LUCIA, "START"))
    assert not parts.store.contact_by_id(lucia.id).opted_out
    assert sms_to(parts, LUCIA)[-1] == folded(es("channel.opted_in"))


def test_notes_stay_in_the_transcript_and_never_reach_the_user(parts: Parts) -> None:
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(fire_due(parts))
    parts.run(console(parts, SOFIA, f"#{handoff_id} // vu au centre la semaine derniere"))
    parts.run(console(parts, LUCIA, f"TAKE {handoff_id}"))
    told = len(sms_to(parts, user.address))
    parts.run(console(parts, LUCIA, f"#{handoff_id} // elle a peur de son oncle"))
    parts.run(console(parts, LUCIA, f"#{handoff_id} Hola, te escucho.\n// llamar al CSMC"))
    assert sms_to(parts, user.address)[told:] == ["Hola, te escucho."]
    lines = [(line.direction, line.text) for line in parts.service.transcript(handoff_id)]
    assert lines == [("note", "vu au centre la semaine derniere"),
                     ("note", "elle a peur de son oncle"), ("note", "llamar al CSMC"),
                     ("counsellor", "Hola, te escucho.")]  # fmt: skip
    # In the staff group too: a topic line starting with // is a note.
    thread = parts.service.get(handoff_id).topic_id
    topic_post(parts, AWA, thread, "// a revoir demain")
    assert parts.service.transcript(handoff_id)[-1].direction == "note"
    assert len(sms_to(parts, user.address)) == told + 1


def test_a_counsellor_claims_only_in_a_language_she_speaks(parts: Parts) -> None:
    fr_user = new_user(parts, "fr")
    handoff_id = ask(parts, fr_user, "fr")
    parts.run(console(parts, LUCIA, f"TAKE {handoff_id}"))  # Lucia speaks Spanish only
    assert sms_to(parts, LUCIA)[-1] == folded(Translator("es")(
        m.WRONG_LANGUAGE, id=handoff_id, language="fr"))  # fmt: skip
    assert parts.service.owner(fr_user.id).state == "queued"
    parts.run(console(parts, NADIA, f"ASSIGN {handoff_id} lucia"))  # not even by a supervisor
    assert parts.service.owner(fr_user.id).state == "queued"
    parts.run(console(parts, SOFIA, f"TAKE {handoff_id}"))
    assert parts.service.owner(fr_user.id).counsellor_id == "sofia"


def test_supervisors_assign_take_over_close_and_read_any_transcript(parts: Parts) -> None:
    es, fr = Translator("es"), Translator("fr")
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(console(parts, LUCIA, f"TAKE {handoff_id}"))
    parts.run(user_says(parts, user, "tengo miedo de volver a casa"))
    # A counsellor cannot assign, nor read a transcript she does not hold.
    parts.run(console(parts, SOFIA, f"ASSIGN {handoff_id} sofia"))
    assert sms_to(parts, SOFIA)[-1] == folded(es(m.SUPERVISORS_ONLY))
    parts.run(console(parts, SOFIA, f"TRANSCRIPT {handoff_id}"))
    assert sms_to(parts, SOFIA)[-1] == folded(es(m.TRANSCRIPT_REFUSED, id=handoff_id))
    # A supervisor reads it, and gives the request to Sofia (by her first name).
    parts.run(console(parts, NADIA, f"TRANSCRIPT {handoff_id}"))
    assert "tengo miedo de volver a casa" in sms_to(parts, NADIA)[-1]
    parts.run(console(parts, NADIA, f"ASSIGN {handoff_id} Sofia"))
    assert parts.service.owner(user.id).counsellor_id == "sofia"
    assert sms_to(parts, user.address)[-1] == folded(es(m.CHANGED))
    assert folded(es(m.TAKEN_OVER, id=handoff_id, name="Sofia")) in sms_to(parts, LUCIA)
    assert folded(es(m.ASSIGNED, id=handoff_id, name="Sofia", by="Nadia")) in sms_to(parts, SOFIA)
    assert any("tengo miedo" in text for text in sms_to(parts, SOFIA))  # her transcript
    parts.run(console(parts, LUCIA, f"#{handoff_id} sigo aqui"))  # no longer hers
    assert "sigo aqui" not in sms_to(parts, user.address)
    # The supervisor takes it over herself, then closes it.
    parts.run(console(parts, NADIA, f"TAKE {handoff_id}"))
    assert parts.service.owner(user.id).counsellor_id == "nadia"
    parts.run(console(parts, NADIA, f"DONE {handoff_id} referred"))
    assert parts.service.owner(user.id).state == "bot"
    assert sms_to(parts, user.address)[-2:] == [folded(es(m.BACK_TO_BOT)),
                                                folded(es(m.FOLLOWUP["referred"]))]  # fmt: skip
    assert sms_to(parts, NADIA)[-1] == folded(fr(m.CLOSED, id=handoff_id, outcome="referred"))


def test_a_supervisor_closes_in_the_staff_group_a_request_held_by_someone_who_vanished(
    parts: Parts,
) -> None:
    fr = Translator("fr")
    user = new_user(parts, "fr")
    handoff_id = ask(parts, user, "fr")
    parts.run(fire_due(parts))
    thread = parts.service.get(handoff_id).topic_id
    topic_post(parts, AWA, thread, "/claim")  # then Awa's phone dies
    parts.run(user_says(parts, user, "allo ? il y a quelqu un ?"))
    topic_post(parts, MOUSSA, thread, "/close resolved")  # a counsellor: not hers to close
    assert parts.service.owner(user.id).counsellor_id == "awa"
    assert topic_texts(parts, thread)[-1] == fr(m.HELD_BY_OTHER, id=handoff_id, name="Awa")
    topic_post(parts, MOUSSA, None, f"/assign {handoff_id} moussa")  # nor to assign
    assert topic_texts(parts, None)[-1] == fr(m.SUPERVISORS_ONLY)
    # Fatou, a supervisor, closes it from the group's general chat, naming the request.
    topic_post(parts, FATOU, None, f"/close {handoff_id} no_answer")
    assert parts.service.owner(user.id).state == "bot"
    assert sms_to(parts, user.address)[-1] == folded(fr(m.BACK_TO_BOT))
    assert fr(m.CLOSED, id=handoff_id, outcome="no_answer") in topic_texts(parts, thread)[-1]


def test_the_staff_command_line_moves_are_announced_by_the_server(
    parts: Parts, command_line: Callable[[str], Callable[..., tuple[int, str, str]]]
) -> None:
    """``python -m bot handoff assign|close`` write the move; the worker tells everyone."""
    es = Translator("es")
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(fire_due(parts))
    registry = parts.relay.registry
    assert assign(parts.service, registry, handoff_id, "Lucia", by="nadia") == "lucia"
    assert parts.run(fire_due(parts)) == ["assigned"]
    assert sms_to(parts, user.address)[-1] == folded(es(m.JOINED))
    assert folded(es(m.ASSIGNED, id=handoff_id, name="Lucia", by="nadia")) in sms_to(parts, LUCIA)
    close(parts.service, handoff_id, "resolved", by="nadia")
    assert parts.run(fire_due(parts)) == ["closed"]
    assert sms_to(parts, user.address)[-1] == folded(es(m.BACK_TO_BOT))
    assert folded(es(m.CLOSED, id=handoff_id, outcome="resolved")) in sms_to(parts, LUCIA)
    # The command line itself, on a database of its own: what it prints and refuses.
    run = command_line("handoff")
    assert run("list") == (0, "No open handoff.\n", "")
    status, _, err = run("close", "99", "resolved")
    assert status == 2 and "no open handoff #99" in err
