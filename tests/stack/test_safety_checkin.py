"""The check-in and risk over a conversation, through the running stack (issue 17): a
message the risk model finds possibly dangerous gets "are you safe right now?" in her
language; "2", "no", "help", or no answer and more worry, gets the emergency answer; "1",
"yes" a thank-you; a worry spread over several messages is caught by the last one. In French,
Spanish and Bambara, answered as people write (digits, words, no accents, typos).

The messages are chosen for the current model: the ``worry`` fixture
(``tests.support.conversation.worries``) and ``test_the_escalating_messages_are_none_alone``
fail with a clear message if a new training moves them."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, select

from bot.i18n import Translator
from bot.launcher import LocalStack
from bot.safety import load_lexicon
from bot.safety.models import SafetyAlert
from tests.support.conversation import GREETINGS, Conversation, worries

pytestmark = pytest.mark.stack

# Conversations whose danger shows only together: each message alone is `none`. None is
# known in Bambara: the model's Bambara scores stay low even read together (README).
ESCALATING = {
    "fr": ["j'ai envie de tout laisser tomber", "je suis fatiguee de tout", "je suis a bout"],
    "es": ["estoy harta de todo", "soy una carga para todos", "ya no aguanto mas"],
}
EMERGENCY = ["utter_emergency_general", "utter_emergency_ask_country"]  # REST: no country
# Digits, words, no accents, typos (the unit tests read many more: test_safety_context.py).
HELP = {
    "fr": ["2", "Non.", "jai besoin daide"],
    "es": ["dos", "no estoy bien", "ayudame porfa"],
    "bm": ["2", "ayi", "n mago be deme na"],
}
SAFE = {
    "fr": ["1", "ouii ca va"],
    "es": ["sí estoy bien", "sii tranquila"],
    "bm": ["awɔ", "n kɛnɛ"],
}


@pytest.fixture(scope="module")
def worry(stack: LocalStack) -> dict[str, str]:
    """One `possible` message per language, without a risk word."""
    return worries(stack)


def sent(chat: Conversation) -> list[str | None]:
    return [e["metadata"].get("utter_action") for e in chat.new_bot_events()]


def checked_in(stack: LocalStack, worry: dict[str, str], language: str) -> Conversation:
    """A conversation in ``language`` that was just asked "are you safe right now?" (after
    the answer to her question, when the classifier read a health question in it)."""
    chat = Conversation(stack)
    chat.expect(GREETINGS[language], "utter_greet", language=language)
    replies = chat.say(worry[language])
    assert sent(chat)[-1] == "utter_safety_checkin"
    assert replies[-1]["text"] == Translator(language)("safety.checkin")
    assert [b["payload"] for b in replies[-1].get("buttons") or []] == ["1", "2"]
    return chat


@pytest.mark.parametrize(("language", "answer"),
                         [(lang, a) for lang, answers in HELP.items() for a in answers])
def test_help_after_the_checkin_is_an_emergency(
    stack: LocalStack, worry: dict[str, str], language: str, answer: str
) -> None:
    chat = checked_in(stack, worry, language)
    chat.expect(answer, *EMERGENCY, language=language)
    assert chat.slot("handoff_priority") is True  # a counsellor first, once she is placed


@pytest.mark.parametrize(("language", "answer"),
                         [(lang, a) for lang, answers in SAFE.items() for a in answers])
def test_safe_after_the_checkin_is_thanked(
    stack: LocalStack, worry: dict[str, str], language: str, answer: str
) -> None:
    chat = checked_in(stack, worry, language)
    chat.expect(answer, "utter_safety_checkin_safe", language=language)


@pytest.mark.parametrize("language", ["fr", "es", "bm"])
def test_no_answer_then_more_worry_is_an_emergency(
    stack: LocalStack, worry: dict[str, str], language: str
) -> None:
    """Silence, then the worry again: the emergency answer."""
    chat = checked_in(stack, worry, language)
    chat.expect(worry[language], *EMERGENCY, language=language)


def test_the_checkin_and_the_time_to_her_numbers_are_recorded(
    stack: LocalStack, worry: dict[str, str]
) -> None:
    """For the programme's counts (the dashboard's Safety page): the check-in as a
    `possible` alert, the emergency as a `clear` one with the moment her numbers went."""
    chat = checked_in(stack, worry, "es")
    chat.expect("2", *EMERGENCY, language="es")
    assert "utter_emergency_numbers" in sent_after(chat, "vivo en Peru")
    engine = create_engine(f"sqlite:///{stack.settings.var_dir / 'app.db'}", future=True)
    with engine.connect() as connection:
        alerts = connection.execute(select(
            SafetyAlert.level, SafetyAlert.created_at, SafetyAlert.numbers_at).where(
            SafetyAlert.conversation_id == chat.sender).order_by(SafetyAlert.id)).all()  # fmt: skip
    engine.dispose()
    assert [a.level for a in alerts] == ["possible", "clear"]
    assert alerts[0].numbers_at is None
    assert alerts[1].numbers_at is not None and alerts[1].numbers_at >= alerts[1].created_at


def sent_after(chat: Conversation, text: str) -> list[str | None]:
    chat.say(text)
    return sent(chat)


def test_another_question_after_the_checkin_is_answered_as_usual(
    stack: LocalStack, worry: dict[str, str]
) -> None:
    chat = checked_in(stack, worry, "es")
    chat.say("como se usa el condon")
    answered = sent(chat)
    assert answered and str(answered[0]).startswith("utter_contraception/"), answered


def test_the_escalating_messages_are_none_alone(stack: LocalStack) -> None:
    lexicon = load_lexicon()
    for texts in ESCALATING.values():
        for text in texts:
            assert lexicon.category(text) is None, f"a risk word in {text!r}: choose another"
            assert stack.parse(text)["safety_level"] == "none", f"{text!r} alone is not none"


@pytest.mark.parametrize("language", list(ESCALATING))
def test_a_worry_spread_over_messages_is_caught_by_the_last(
    stack: LocalStack, language: str
) -> None:
    chat = Conversation(stack)
    chat.expect(GREETINGS[language], "utter_greet", language=language)
    *first, last = ESCALATING[language]
    for text in first:
        chat.say(text)
        replies = sent(chat)
        assert "utter_safety_checkin" not in replies and not any(
            str(r).startswith("utter_emergency") for r in replies), (text, replies)  # fmt: skip
    chat.say(last)
    replies = sent(chat)
    assert replies[-1] == "utter_safety_checkin" or replies[:2] == EMERGENCY, replies
    parsed: dict[str, Any] = next(e for e in reversed(chat.tracker()["events"])
                                  if e["event"] == "user")["parse_data"]  # fmt: skip
    assert parsed["risk"].get("by") == "context", parsed["risk"]


def test_a_worry_during_a_booking_interrupts_it_with_the_checkin(
    stack: LocalStack, worry: dict[str, str], schedule: dict[str, Any]
) -> None:
    chat = Conversation(stack)
    chat.expect("bonjour", "utter_greet", language="fr")
    chat.expect("ATELIER", "utter_booking_list", language="fr")
    chat.say(worry["fr"])
    assert sent(chat)[-1] == "utter_safety_checkin"
    assert not (chat.tracker().get("active_loop") or {}).get("name")
    chat.expect("2", *EMERGENCY, language="fr")
