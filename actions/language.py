"""The conversation language (rules in :mod:`bot.i18n.language`)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import show_menu
from bot.i18n.language import (
    CANDIDATE_SLOT,
    LANGUAGE_SLOT,
    STREAK_SLOT,
    LanguageState,
    named_language,
    next_state,
)

CHOOSE_LANGUAGE_INTENT = "choose_language"


def _state(tracker: Tracker) -> LanguageState:
    return LanguageState(
        tracker.get_slot(LANGUAGE_SLOT),
        tracker.get_slot(CANDIDATE_SLOT),
        int(tracker.get_slot(STREAK_SLOT) or 0),
    )


def _slot_events(state: LanguageState) -> list[EventType]:
    return [
        SlotSet(LANGUAGE_SLOT, state.language),
        SlotSet(CANDIDATE_SLOT, state.candidate),
        SlotSet(STREAK_SLOT, float(state.streak)),
    ]


class ActionUpdateLanguage(Action):
    """Runs after every user message (custom slot mapping of ``language``)."""

    def name(self) -> str:
        return "action_update_language"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        message = tracker.latest_message or {}
        text = message.get("text") or ""
        intent = (message.get("intent") or {}).get("name")
        asked_for = named_language(text) if intent == CHOOSE_LANGUAGE_INTENT else None
        before = _state(tracker)
        after = next_state(
            before,
            text,
            message.get("language"),
            float(message.get("language_confidence") or 0.0),
            asked_for,
        )
        return [] if after == before else _slot_events(after)


class ActionChooseLanguage(Action):
    """"En français stp": confirm in the new language; no language named: the menu."""

    def name(self) -> str:
        return "action_choose_language"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = named_language(tracker.latest_message.get("text") or "")
        if language is None:
            return show_menu(dispatcher, tracker, "language")
        # The slot events below are not applied yet when the text is rendered.
        dispatcher.utter_message(response="utter_language_changed", slots={LANGUAGE_SLOT: language})
        return _slot_events(LanguageState(language))
