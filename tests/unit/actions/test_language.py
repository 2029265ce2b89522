"""actions/language.py: the conversation language set by the first clear message, changed
only after two clear messages in another language or at once when she names one, and the
confirmation rendered in the new language."""

from __future__ import annotations

from typing import Any

import pytest

from actions.language import ActionChooseLanguage, ActionUpdateLanguage
from tests.support.actions import make_tracker, responses, run_action, slot_events, slots_set


def update(
    text: str, detected: str | None, confidence: float = 0.95, intent: str = "ask_info",
    language: str | None = None, candidate: str | None = None, streak: float = 0.0,
) -> list[dict[str, Any]]:  # fmt: skip
    """The events after a message the detector read as ``detected``."""
    tracker = make_tracker(
        slots={"language": language, "language_candidate": candidate, "language_streak": streak},
        text=text, intent=intent,
        message={"language": detected, "language_confidence": confidence},
    )  # fmt: skip
    dispatcher, events = run_action(ActionUpdateLanguage(), tracker)
    assert dispatcher.messages == []  # it only sets slots
    return events


def state(language: str | None, candidate: str | None = None, streak: float = 0.0) -> list:
    return [("language", language), ("language_candidate", candidate),
            ("language_streak", streak)]  # fmt: skip


def test_the_first_clear_message_sets_the_language() -> None:
    """Her first message, clearly Spanish: the conversation is in Spanish."""
    events = update("hola quiero saber sobre la pildora", "es")
    assert slot_events(events) == state("es")


@pytest.mark.parametrize(("text", "confidence"), [("ok", 0.99), ("2", 0.99), ("si", 0.99),
                                                  ("hola quiero saber", 0.4)])  # fmt: skip
def test_short_or_unsure_messages_change_nothing(text: str, confidence: float) -> None:
    """"ok", "2", "si", or a message the detector is unsure of: no event at all."""
    assert update(text, "es", confidence=confidence, language="fr") == []


def test_one_message_in_another_language_is_not_enough() -> None:
    """A French conversation, one clear Bambara message: still French, Bambara noted once."""
    events = update("i ni ce, n b'a fɛ ka kalan", "bm", language="fr")
    assert slot_events(events) == state("fr", "bm", 1.0)


def test_the_second_message_in_a_row_switches() -> None:
    """The second clear Bambara message in a row: the conversation is in Bambara."""
    events = update("n b'a fɛ ka kalan kɛnɛya kan", "bm", language="fr", candidate="bm",
                    streak=1.0)  # fmt: skip
    assert slot_events(events) == state("bm")


def test_naming_a_language_switches_at_once() -> None:
    """"en bambara stp" (asking for it): Bambara now, however unsure the detector is."""
    events = update("en bambara stp", "fr", confidence=0.2, intent="choose_language",
                    language="es", candidate="fr", streak=1.0)  # fmt: skip
    assert slot_events(events) == state("bm")


def test_choosing_a_language_confirms_in_that_language() -> None:
    """"en español por favor": the confirmation rendered in Spanish, the language set."""
    tracker = make_tracker(slots={"language": "fr", "language_candidate": "bm"},
                           text="en español por favor", intent="choose_language")  # fmt: skip
    dispatcher, events = run_action(ActionChooseLanguage(), tracker)
    assert responses(dispatcher) == ["utter_language_changed"]
    assert dispatcher.messages[0]["slots"] == {"language": "es"}
    assert slot_events(events) == state("es")


@pytest.mark.parametrize("text", ["changer de langue", "francais ou espagnol"])
def test_asking_to_change_without_one_language_shows_the_language_menu(text: str) -> None:
    """"changer de langue" (none named, or two): the three languages as a menu."""
    tracker = make_tracker(slots={"language": "fr"}, text=text, intent="choose_language")
    dispatcher, events = run_action(ActionChooseLanguage(), tracker)
    assert responses(dispatcher) == ["utter_language_menu"]
    assert len(dispatcher.messages[0]["buttons"]) == 3
    assert slots_set(events) == {"menu": "language"}
