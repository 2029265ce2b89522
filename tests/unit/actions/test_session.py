"""actions/session.py: after an hour of silence a new session starts, keeping her language
and nothing else (no half-finished booking, no open menu, no emergency state)."""

from __future__ import annotations

from typing import Any

import pytest

from actions.session import ActionSessionStart
from tests.support.actions import kinds, make_tracker, run_action, slot_events

# What an old session may hold besides the language: none of it is carried over.
OLD_SESSION = {"menu": "main", "booking_session": "4", "booking_confirm": "yes",
               "country": "PE", "emergency_category": "suicide", "handoff_priority": True,
               "more_key": "utter_contraception/pill_how"}  # fmt: skip


def start(**slots: Any) -> list[dict[str, Any]]:
    dispatcher, events = run_action(ActionSessionStart(), make_tracker(slots=slots, text="hi"))
    assert dispatcher.messages == []  # a new session says nothing by itself
    return events


@pytest.mark.parametrize("language", ["fr", "es", "bm"])
def test_the_new_session_keeps_her_language_only(language: str) -> None:
    """Back after an hour: still answered in her language, everything else forgotten."""
    events = start(language=language, **OLD_SESSION)
    assert kinds(events) == ["session_started", "slot", "action"]
    assert slot_events(events) == [("language", language)]
    assert events[-1]["name"] == "action_listen"


def test_without_a_language_the_new_session_carries_nothing() -> None:
    """No language chosen yet: nothing is set, the next message decides it."""
    events = start(**OLD_SESSION)
    assert kinds(events) == ["session_started", "action"]
    assert events[-1]["name"] == "action_listen"



def test_a_language_switch_under_way_is_not_carried() -> None:
    """One Spanish message before the silence does not count toward a switch afterwards."""
    events = start(language="fr", language_candidate="es", language_streak=1.0)
    assert slot_events(events) == [("language", "fr")]
