"""A new session (after an hour of silence) keeps the user's language and nothing else."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActionExecuted, EventType, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.i18n.language import LANGUAGE_SLOT

CARRIED_SLOTS = (LANGUAGE_SLOT,)


class ActionSessionStart(Action):
    """Replaces Rasa's default so that the language survives session expiry."""

    def name(self) -> str:
        return "action_session_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        carried = [
            SlotSet(slot, tracker.get_slot(slot))
            for slot in CARRIED_SLOTS
            if tracker.get_slot(slot) is not None
        ]
        return [SessionStarted(), *carried, ActionExecuted("action_listen")]
