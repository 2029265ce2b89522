"""Counsellors teach the risk check (issue 17): ``MISSED 12`` / ``FALSEALARM 12`` and
``/missed`` / ``/falsealarm`` put her latest message, masked and encrypted, in the review queue
under her pseudonym; who may; after the close; the staff command line that lists, promotes
into a copy of the data files and dismisses; the retention purge and her erasure. On SQLite
and PostgreSQL, the relay without Rasa (``tests/support/relay.py``)."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Text, select, type_coerce
from sqlalchemy.engine import Engine

from bot import PROJECT_ROOT
from bot.channels.inbound import Inbound
from bot.channels.text import sms_fits, split_text
from bot.db.base import utcnow
from bot.db.crypto import Keyring, attach_keyring, is_encrypted, new_key
from bot.gsm7 import encode
from bot.handoff import messages as m
from bot.i18n import Translator
from bot.privacy.erase import Eraser
from bot.privacy.purge import cutoff_for, purge
from bot.safety.promote import SPLITS
from bot.safety.review import (
    DISMISSED,
    FALSE_ALARM,
    MISSED,
    PENDING,
    PROMOTED,
    STATUSES,
    SafetyReview,
    SafetyReviews,
)
from tests.support.clock import ManualClock
from tests.support.handoff import LUCIA, SOFIA
from tests.support.relay import (
    Parts,
    ask,
    build,
    close_clients,
    console,
    fire_due,
    new_user,
    sms_to,
    topic_texts,
    user_says,
)
from tests.support.standins import StandIns

NADIA = "+22370000199"  # an SMS supervisor (fr, es, bm)
AWA, MOUSSA, FATOU = 500001, 500002, 500003  # Telegram counsellors; Fatou supervises
_updates = itertools.count(9_300_000)
CommandLine = Callable[[str], Callable[..., tuple[int, str, str]]]


@pytest.fixture()
def parts(isolated: Engine, standins: StandIns) -> Iterator[Parts]:
    """The relay's parts on the test's database, with a data key: texts encrypted at rest."""
    attach_keyring(isolated, Keyring([new_key().encode()]))
    built = build(isolated, standins, ManualClock())
    yield built
    built.run(close_clients(built))
    built.loop.close()


def queue(parts: Parts) -> SafetyReviews:
    return SafetyReviews(parts.service.engine)


def stored(parts: Parts) -> list[tuple[str, str]]:
    """(text as stored, conversation id) of every review: what a copied database shows."""
    statement = select(type_coerce(SafetyReview.text, Text), SafetyReview.conversation_id)
    with parts.service.engine.connect() as connection:
        return [(str(t), str(c)) for t, c in connection.execute(statement)]


def as_sms(*texts: str) -> list[str]:
    """Console messages as an SMS phone gets them: folded, cut into one-segment parts."""
    return [encode(part).text for text in texts for part in split_text(text, sms_fits)]


def last_sms(parts: Parts, phone: str, *texts: str) -> bool:
    """The last messages ``phone`` got are ``texts``."""
    expected = as_sms(*texts)
    return sms_to(parts, phone)[-len(expected) :] == expected


def topic_post(parts: Parts, user_id: int, thread: int | None, text: str) -> None:
    contact = parts.store.contact("telegram", str(user_id))
    inbound = Inbound("telegram", f"r{next(_updates)}", str(user_id), "staff", text=text,
                      thread=thread)  # fmt: skip
    assert parts.run(parts.relay.console(contact, inbound)) == "console"


def test_her_counsellor_marks_a_missed_danger_masked_encrypted_under_her_pseudonym(
    parts: Parts,
) -> None:
    es = Translator("es")
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(console(parts, LUCIA, f"TAKE {handoff_id}"))
    parts.run(user_says(parts, user, "ya no aguanto, llamame al 987 654 321 o a @sofi_22"))
    parts.run(user_says(parts, user, "me voy al puente esta noche"))
    parts.run(console(parts, LUCIA, f"missed {handoff_id}"))
    kept = "me voy al puente esta noche"
    assert last_sms(parts, LUCIA, es(m.MARKED_MISSED, id=handoff_id, text=kept))
    [review] = queue(parts).listed()
    assert (review.kind, review.language, review.status, review.counsellor_id, review.text) == (
        MISSED, "es", PENDING, "lucia", kept)  # fmt: skip
    assert review.day == parts.clock().date()
    # Her earlier message, marked by the same command form, is masked before it is kept.
    parts.run(user_says(parts, user, "ya no aguanto, llamame al 987 654 321 o a @sofi_22"))
    parts.run(console(parts, LUCIA, f"OMITIDO {handoff_id}"))
    masked = "ya no aguanto, llamame al [number] o a [handle]"
    assert last_sms(parts, LUCIA, es(m.MARKED_MISSED, id=handoff_id, text=masked))
    assert [r.text for r in queue(parts).listed()] == [kept, masked]
    for text, conversation in stored(parts):
        assert is_encrypted(text) and "puente" not in text and "987" not in text
        assert conversation == user.id and conversation.startswith("sms-")
        assert user.address not in conversation and user.address[1:] not in conversation
    # The same message marked again is the entry already there.
    parts.run(console(parts, LUCIA, f"omitido {handoff_id}"))
    assert len(queue(parts).listed()) == 2


def test_who_may_mark_and_marks_after_the_close(parts: Parts) -> None:
    es, fr = Translator("es"), Translator("fr")
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(console(parts, LUCIA, f"TAKE {handoff_id}"))
    parts.run(user_says(parts, user, "estoy bien, solo queria hablar del colegio"))
    parts.run(console(parts, SOFIA, f"FALSEALARM {handoff_id}"))  # not hers, not a supervisor
    assert last_sms(parts, SOFIA, es(m.MARK_REFUSED, id=handoff_id))
    assert queue(parts).listed() == []
    said = "estoy bien, solo queria hablar del colegio"
    parts.run(console(parts, NADIA, f"falsa alarma {handoff_id}"))  # a supervisor may
    assert last_sms(parts, NADIA, fr(m.MARKED_FALSE_ALARM, id=handoff_id, text=said))
    parts.run(console(parts, LUCIA, f"DONE {handoff_id} resolved"))
    # Closed: the other commands answer that it is closed; a mark still works.
    parts.run(console(parts, LUCIA, f"RELEASE {handoff_id}"))
    assert last_sms(parts, LUCIA, es(m.NOT_OPEN, id=handoff_id))
    parts.run(console(parts, LUCIA, f"FALSE {handoff_id}"))
    assert last_sms(parts, LUCIA, es(m.MARKED_FALSE_ALARM, id=handoff_id, text=said))
    parts.run(console(parts, SOFIA, f"MISSED {handoff_id}"))
    assert last_sms(parts, SOFIA, es(m.MARK_REFUSED, id=handoff_id))
    # The same message marked the same way twice is one entry (the first counsellor's).
    assert [(r.kind, r.counsellor_id) for r in queue(parts).listed()] == [(FALSE_ALARM, "nadia")]
    parts.run(console(parts, LUCIA, "MISSED 99999"))
    assert last_sms(parts, LUCIA, es(m.UNKNOWN_REQUEST, id=99999))


def test_who_held_it_before_a_release_may_mark_it(parts: Parts) -> None:
    es = Translator("es")
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(console(parts, LUCIA, f"TAKE {handoff_id}"))
    parts.run(user_says(parts, user, "mi papa me encierra en el cuarto"))
    parts.run(console(parts, LUCIA, f"RELEASE {handoff_id}"))
    parts.run(console(parts, SOFIA, f"TAKE {handoff_id}"))
    parts.run(console(parts, LUCIA, f"FALTÓ {handoff_id}"))
    kept = "mi papa me encierra en el cuarto"
    assert last_sms(parts, LUCIA, es(m.MARKED_MISSED, id=handoff_id, text=kept))


def test_before_her_first_message_of_the_request_her_message_before_it_counts(
    parts: Parts,
) -> None:
    es = Translator("es")
    user = new_user(parts)  # she wrote "necesito ayuda", then asked for a person
    handoff_id = ask(parts, user)
    parts.clock.advance(minutes=1)
    parts.store.record_inbound("sms", "SMafter", user.id, "text", "later, to the assistant")
    parts.run(console(parts, LUCIA, f"TAKE {handoff_id}"))
    parts.run(console(parts, LUCIA, f"MISSED {handoff_id}"))
    assert last_sms(parts, LUCIA, es(m.MARKED_MISSED, id=handoff_id, text="necesito ayuda"))
    # A request with no message of hers at all: nothing to mark.
    silent = parts.store.contact("sms", "+51901999001", country="PE")
    other = ask(parts, silent)
    parts.run(console(parts, LUCIA, f"TAKE {other}"))
    parts.run(console(parts, LUCIA, f"MISSED {other}"))
    assert last_sms(parts, LUCIA, es(m.MARK_NOTHING, id=other))


def test_the_staff_group_marks_in_the_topic_and_from_the_general_chat(parts: Parts) -> None:
    fr = Translator("fr")
    user = new_user(parts, "fr")
    handoff_id = ask(parts, user, "fr")
    parts.run(fire_due(parts))
    thread = parts.service.get(handoff_id).topic_id
    topic_post(parts, AWA, thread, "/claim")
    said = "c mon dernier msg, mon num c 76 12 34 56"
    parts.run(user_says(parts, user, said))
    topic_post(parts, AWA, thread, "/missed")
    kept = "c mon dernier msg, mon num c [number]"
    assert topic_texts(parts, thread)[-1] == fr(m.MARKED_MISSED, id=handoff_id, text=kept)
    topic_post(parts, MOUSSA, thread, "/falsealarm")  # not his
    assert topic_texts(parts, thread)[-1] == fr(m.MARK_REFUSED, id=handoff_id)
    # A supervisor names the request in the general chat: her words are answered in its
    # topic, never in the general chat.
    general = len(topic_texts(parts, None))
    topic_post(parts, FATOU, None, f"/falsealarm {handoff_id}")
    assert topic_texts(parts, thread)[-1] == fr(m.MARKED_FALSE_ALARM, id=handoff_id, text=kept)
    assert len(topic_texts(parts, None)) == general
    topic_post(parts, FATOU, None, "/missed")  # no request named: the help
    assert topic_texts(parts, None)[-2:] == [fr(m.HELP_TELEGRAM), fr(m.HELP_MARKS)]
    assert [(r.kind, r.counsellor_id) for r in queue(parts).listed()] == [
        (MISSED, "awa"), (FALSE_ALARM, "fatou")]  # fmt: skip


def test_the_sms_help_names_the_marks_and_what_they_keep(parts: Parts) -> None:
    es = Translator("es")
    parts.run(console(parts, LUCIA, "HELP"))
    assert last_sms(parts, LUCIA, es(m.HELP_SMS), es(m.HELP_MARKS))
    assert "MISSED 12" in es(m.HELP_SMS) and "FALSEALARM 12" in es(m.HELP_SMS)


def test_the_retention_purge_and_her_erasure_take_her_reviews(parts: Parts) -> None:
    engine = parts.service.engine
    her, other = new_user(parts), new_user(parts)
    clock = ManualClock(utcnow() - timedelta(days=120))
    old = SafetyReviews(engine, clock)
    old.add(MISSED, "es", "me quiero morir", her.id, "lucia")
    clock.now = utcnow()
    old.add(FALSE_ALARM, "es", "me muero de risa", her.id, "lucia")
    old.add(MISSED, "es", "me pega cada noche", other.id, "sofia")
    cutoff = cutoff_for(90)
    assert purge(engine, None, cutoff, dry_run=True)["safety_reviews"] == 1
    assert len(queue(parts).listed()) == 3
    assert purge(engine, None, cutoff)["safety_reviews"] == 1
    assert [r.text for r in queue(parts).listed()] == ["me muero de risa", "me pega cada noche"]
    eraser = Eraser(engine, None)
    assert eraser.export(her.id)["safety_reviews"] == [
        {"day": clock.now.date().isoformat(), "kind": FALSE_ALARM, "text": "me muero de risa",
         "status": PENDING}]  # fmt: skip
    assert eraser.erase(her.id)["safety_reviews"] == 1
    assert [r.text for r in queue(parts).listed()] == ["me pega cada noche"]
    assert all(conversation == other.id for _, conversation in stored(parts))


# The staff command line -------------------------------------------------------------------


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A copy of the risk data and test lists: promotions never touch the real files."""
    root = tmp_path / "project"
    for directory in SPLITS.values():
        shutil.copytree(PROJECT_ROOT / directory, root / directory)
    return root


def test_staff_review_promote_and_dismiss(command_line: CommandLine, project: Path) -> None:
    from bot.db.database import engine_from_env

    run = command_line("safety")
    assert run("review") == (0, "Nothing to review.\n", "")
    reviews = SafetyReviews(engine_from_env())
    missed = reviews.add(MISSED, "fr", "jai tout prepare pour ce soir, appelle le 0612345678",
                         "sms-aaaa", "awa")  # fmt: skip
    known = yaml.safe_load((project / "data/safety/fr.yml").read_text("utf-8"))["lookalikes"][0]
    duplicate = reviews.add(FALSE_ALARM, "fr", known.upper(), "sms-bbbb", "awa")
    alarm = reviews.add(FALSE_ALARM, "es", "me muero de risa con mi prima jaja", "sms-cccc", "awa")
    dismissed = reviews.add(FALSE_ALARM, "bm", "a bɛ n faga ni yɛlɛ ye", "sms-dddd", "awa")
    status, out, _ = run("review")
    assert status == 0 and "jai tout prepare pour ce soir, appelle le [number]" in out
    assert "0612345678" not in out and "sms-aaaa" not in out
    assert out.splitlines()[0].split() == ["id", "date", "kind", "lang", "status", "text"]

    # A missed danger needs its category; then it goes at the end of that list, as text.
    train = project / "data/safety/fr.yml"
    before = train.read_text("utf-8")
    status, _, err = run("promote", str(missed.id), "--to", "train", "--root", str(project))
    assert status == 2 and "--category" in err
    assert run("promote", str(missed.id), "--to", "train", "--category", "violence",
               "--root", str(project))[0] == 0  # fmt: skip
    after = train.read_text("utf-8")
    added = [line for line in after.splitlines() if line not in before.splitlines()]
    assert added == ["  - jai tout prepare pour ce soir, appelle le [number]"]
    assert after.splitlines()[:6] == before.splitlines()[:6]  # the comments stay
    old, new = yaml.safe_load(before), yaml.safe_load(after)
    assert new["emergencies"]["violence"] == [*old["emergencies"]["violence"], missed.text]
    assert reviews.get(missed.id).status == PROMOTED
    assert reviews.get(missed.id).promoted_to == "train/violence"
    status, _, err = run("promote", str(missed.id), "--to", "dev", "--category", "violence",
                         "--root", str(project))  # fmt: skip
    assert status == 2 and "promoted already" in err

    # A text the data or a test list already has is refused, whatever the split.
    status, _, err = run("promote", str(duplicate.id), "--to", "test", "--root", str(project))
    assert status == 2 and "already" in err
    assert reviews.get(duplicate.id).status == PENDING
    # A false alarm goes under the look-alikes of its language's test list.
    test_list = project / "tests/data/risk_test/es.yml"
    count = len(yaml.safe_load(test_list.read_text("utf-8"))["lookalikes"])
    assert run("promote", str(alarm.id), "--to", "test", "--root", str(project))[0] == 0
    lookalikes = yaml.safe_load(test_list.read_text("utf-8"))["lookalikes"]
    assert len(lookalikes) == count + 1 and lookalikes[-1] == alarm.text
    status, _, err = run("promote", str(dismissed.id), "--to", "dev", "--category", "suicide",
                         "--root", str(project))  # fmt: skip
    assert status == 2 and "no --category" in err

    assert run("dismiss", str(dismissed.id)) == (0, f"#{dismissed.id} dismissed.\n", "")
    status, _, err = run("dismiss", str(dismissed.id))
    assert status == 2 and "dismissed already" in err
    assert reviews.get(dismissed.id).status == DISMISSED
    status, out, _ = run("review")
    assert [line.split()[0] for line in out.splitlines()[1:]] == [str(duplicate.id)]
    status, out, _ = run("review", "--all")
    assert len(out.splitlines()) == 5 and "train/violence" in out
    assert {r.status for r in reviews.listed(STATUSES)} == {PENDING, PROMOTED, DISMISSED}
