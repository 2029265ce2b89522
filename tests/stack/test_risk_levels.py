"""The graded risk check through the running stack (issue 17): ``safety_level`` in every
``POST /model/parse`` result, and an emergency only the learned model sees taking today's
emergency path (fixed reply first, then her country's numbers)."""

from __future__ import annotations

import pytest

from bot.launcher import LocalStack
from bot.safety import load_lexicon
from bot.safety.risk import LEVELS, load_risk_data
from tests.support.conversation import GREETINGS, Conversation

pytestmark = pytest.mark.stack


def model_only_emergencies() -> list[str]:
    """Training emergencies of the model's own data that no lexicon pattern matches."""
    lexicon = load_lexicon()
    emergencies = load_risk_data().emergencies
    return [t for msgs in emergencies.values() for t in msgs if lexicon.category(t) is None]


@pytest.mark.parametrize("text", ["", "1", "👍", "hola", "merci", "ok " * 300])
def test_every_message_gets_a_level(stack: LocalStack, text: str) -> None:
    result = stack.parse(text)
    assert result["safety_level"] in LEVELS
    assert 0.0 <= result["risk"]["score"] <= 1.0


def test_greetings_are_none_and_a_risk_word_is_clear(stack: LocalStack) -> None:
    for text in GREETINGS.values():
        assert stack.parse(text)["safety_level"] == "none", text
    result = stack.parse("je veux me suicider")
    assert result["safety_level"] == "clear"
    assert result["intent"]["name"] == "emergency"
    assert result["safety"] == {"category": "suicide", "by": "lexicon"}


def test_what_only_the_model_sees_is_flagged(stack: LocalStack) -> None:
    """Its own training emergencies without a risk word: nearly all flagged, most clear."""
    texts = model_only_emergencies()
    assert len(texts) >= 300
    levels = [stack.parse(t)["safety_level"] for t in texts[::5]]
    assert levels.count("none") <= 0.05 * len(levels), levels.count("none")
    assert levels.count("clear") >= 0.8 * len(levels), levels.count("clear")


def test_a_model_only_emergency_gets_the_emergency_reply_first(stack: LocalStack) -> None:
    only_model = {"category": "general", "by": "model"}
    text = next(t for t in model_only_emergencies() if stack.parse(t).get("safety") == only_model)
    chat = Conversation(stack)
    chat.say(text)
    sent = [e["metadata"].get("utter_action") for e in chat.new_bot_events()]
    assert sent[:1] == ["utter_emergency_general"], sent
