"""The graded risk check while a person owns the conversation and after a crash (issue 17):
states (queued, with a counsellor, the bot's after a crashed turn) x levels (clear, possible,
none) and her answers to the check-in. The relay without Rasa, on the real database, with
the real Twilio client talking to the stand-in; the risk model's level comes from a reader
with fixed answers here (the trained model's levels are tests/stack/test_risk_levels.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.channels.contacts import ContactView
from bot.channels.inbound import Inbound
from bot.handoff import messages as m
from bot.i18n import Translator
from bot.safety import numbers_line
from bot.safety.context import CHECKIN_OPEN
from tests.support.handoff import LUCIA, folded
from tests.support.relay import (
    Parts,
    ask,
    console,
    crash,
    crashing_turns,
    fire_due,
    new_user,
    relay_parts,
    sms_to,
    topic_texts,
    user_says,
)
from tests.support.standins import StandIns

# What the risk model says of each message (anything else: none).
WORRYING = {"estoy cansada de todo", "nadie me quiere", "je suis fatiguee de tout",
            "n segenna ni fen bee ye", "ya no aguanto mas"}  # fmt: skip


class Reader:
    """The model's level, fixed per message; ``broken`` stands for a model that fails."""

    def __init__(self) -> None:
        self.broken = False
        self.read: list[str] = []

    async def risk_level(self, text: str) -> str:
        self.read.append(text)
        if self.broken:
            raise RuntimeError("no agent")
        return "possible" if text in WORRYING else "none"


@pytest.fixture()
def parts(tmp_path: Path, standins: StandIns) -> Iterator[Parts]:
    for built in relay_parts(tmp_path, standins):
        built.relay.safety.risk = Reader()
        yield built


def says(parts: Parts, user: ContactView, text: str) -> str | None:
    return parts.run(user_says(parts, user, text))


def checkin_sms(language: str) -> str:
    """The check-in as an SMS carries it: its text, then the two numbered answers."""
    t = Translator(language)
    return folded(f"{t('safety.checkin')}\n1. {t('safety.checkin.safe')}\n"
                  f"2. {t('safety.checkin.help')}")  # fmt: skip


def test_queued_a_possible_risk_gets_the_checkin_and_goes_first(parts: Parts) -> None:
    user = new_user(parts)  # +51: Peru, Spanish
    handoff_id = ask(parts, user)
    parts.run(fire_due(parts))  # the staff are notified: her topic is open
    told = len(sms_to(parts, user.address))
    assert says(parts, user, "estoy cansada de todo") == "held"
    assert sms_to(parts, user.address)[told] == checkin_sms("es")
    handoff = parts.service.get(handoff_id)
    assert handoff.priority and handoff.checkin_at is not None
    assert parts.service.owner(user.id).priority
    flag = Translator("fr")(m.POSSIBLE_FLAG, id=handoff_id)  # the staff group's language
    topic = parts.service.get(handoff_id).topic_id
    assert any(flag in post for post in topic_texts(parts, topic))
    # Kept for her counsellor, as everything she writes while queued.
    assert [line.text for line in parts.service.transcript(handoff_id)] == [
        "estoy cansada de todo"]


@pytest.mark.parametrize(
    ("language", "answer"),
    [("es", "2"), ("es", "no"), ("es", "necesito ayuda"), ("fr", "non"), ("fr", "aidez moi"),
     ("bm", "ayi"), ("bm", "n mago bɛ dɛmɛ na"), ("es", "ya no aguanto mas")],  # more risk
)  # fmt: skip
def test_queued_her_call_for_help_after_the_checkin_is_an_emergency(
    parts: Parts, language: str, answer: str
) -> None:
    user = new_user(parts, language)  # Peru for es, Mali otherwise
    handoff_id = ask(parts, user, language)
    says(parts, user, {"es": "nadie me quiere", "fr": "je suis fatiguee de tout",
                       "bm": "n segenna ni fen bee ye"}[language])  # fmt: skip
    told = len(sms_to(parts, user.address))
    says(parts, user, answer)
    t = Translator(language)
    reply, *rest = sms_to(parts, user.address)[told:]
    assert reply.startswith(folded(t("emergency.general"))[:25])
    assert folded(numbers_line("general", language, user.country)) in rest
    assert parts.service.get(handoff_id).checkin_at is None  # answered


@pytest.mark.parametrize("answer", ["1", "si", "sii estoy bien", "tranquila"])
def test_queued_safe_closes_the_checkin_and_nothing_more_is_sent(
    parts: Parts, answer: str
) -> None:
    user = new_user(parts)
    handoff_id = ask(parts, user)
    says(parts, user, "estoy cansada de todo")
    told = len(sms_to(parts, user.address))
    says(parts, user, answer)
    assert sms_to(parts, user.address)[told:] == []  # a counsellor is coming: no more bot
    assert parts.service.get(handoff_id).checkin_at is None
    # Worrying words later get a new check-in, not an emergency: she said she was safe.
    told = len(sms_to(parts, user.address))
    says(parts, user, "nadie me quiere")
    assert sms_to(parts, user.address)[told] == checkin_sms("es")


def test_queued_an_unrelated_message_leaves_the_checkin_open_for_a_while(parts: Parts) -> None:
    user = new_user(parts)
    handoff_id = ask(parts, user)
    says(parts, user, "estoy cansada de todo")
    told = len(sms_to(parts, user.address))
    says(parts, user, "cuanto falta?")  # neither an answer nor risk: kept, nothing said
    assert sms_to(parts, user.address)[told:] == []
    parts.clock.advance(seconds=CHECKIN_OPEN + 60)  # silence, then a worry much later
    says(parts, user, "nadie me quiere")
    assert sms_to(parts, user.address)[told] == checkin_sms("es")  # a new check-in
    assert parts.service.get(handoff_id).checkin_at is not None


def test_with_a_counsellor_a_possible_risk_warns_her_and_the_bot_stays_silent(
    parts: Parts,
) -> None:
    es = Translator("es")
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(console(parts, LUCIA, f"TAKE {handoff_id}"))
    told = len(sms_to(parts, user.address))
    assert says(parts, user, "estoy cansada de todo") == "relayed"
    lucia = sms_to(parts, LUCIA)
    assert lucia.index(folded(es(m.POSSIBLE_FLAG, id=handoff_id))) < lucia.index(
        f"#{handoff_id}: estoy cansada de todo")
    assert sms_to(parts, user.address)[told:] == []  # her counsellor answers, not the bot
    assert parts.service.get(handoff_id).checkin_at is None
    assert says(parts, user, "2") == "relayed"  # words for her counsellor, not an answer
    assert sms_to(parts, user.address)[told:] == []


def test_a_clear_message_still_comes_from_the_lexicon_first(parts: Parts) -> None:
    user = new_user(parts)
    handoff_id = ask(parts, user)
    reader = parts.relay.safety.risk
    told = len(sms_to(parts, user.address))
    says(parts, user, "me quiero matar")
    assert sms_to(parts, user.address)[told].startswith(
        folded(Translator("es")("emergency.suicide"))[:25])
    assert "me quiero matar" not in reader.read  # the lexicon named it: no model needed
    assert parts.service.get(handoff_id).priority


def test_a_failing_model_leaves_the_lexicon_and_the_relay_working(parts: Parts) -> None:
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(console(parts, LUCIA, f"TAKE {handoff_id}"))
    parts.relay.safety.risk.broken = True
    assert says(parts, user, "estoy cansada de todo") == "relayed"
    assert f"#{handoff_id}: estoy cansada de todo" in sms_to(parts, LUCIA)
    told = len(sms_to(parts, user.address))
    says(parts, user, "me quiero matar")
    assert sms_to(parts, user.address)[told].startswith(
        folded(Translator("es")("emergency.suicide"))[:25])


@pytest.mark.parametrize(("text", "answered"), [("estoy cansada de todo", True),
                                                ("hola, una pregunta", False)])
def test_after_a_crashed_turn_a_possible_risk_is_answered_as_an_emergency(
    parts: Parts, text: str, answered: bool
) -> None:
    """No form can hold her answer to a check-in once the turn is lost: the numbers and a
    priority handoff, not an apology."""
    es = Translator("es")
    runner = crashing_turns(parts)
    phone = f"+5190077{len(text):04d}"

    async def send() -> None:
        await runner.accept(Inbound("sms", f"SM{len(text)}", phone, "text", text=text,
                                    country="PE"), crash)  # fmt: skip
        await runner.drain()

    parts.run(send())
    told = sms_to(parts, phone)
    if not answered:
        assert told == [folded(es("channel.apology"))]
        return
    assert told[0].startswith(folded(es("emergency.general"))[:25])
    assert folded(numbers_line("general", "es", "PE")) in told
    assert folded(es("channel.apology")) not in told
    owner = parts.service.owner(parts.store.contact("sms", phone).id)
    assert (owner.state, owner.priority) == ("queued", True)
