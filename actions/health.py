"""Health answers: the sub-topic the response selector chose, and its "more" part."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import show_menu

# The retrieval responses of each health intent (domain/health.yml).
RESPONSES = {
    "contraception": "utter_contraception",
    "pregnancy": "utter_pregnancy",
    "addiction": "utter_addiction",
}
MORE_SLOT = "more_key"
PART_SLOT = "health_part"  # "more" selects the second part of an answer (a response condition)


def chosen_response(message: dict[str, Any], intent: str) -> str | None:
    """The best-ranked answer *of this intent* (one response selector ranks all of them)."""
    selectors = message.get("response_selector") or {}
    selector = selectors.get(intent) or selectors.get("default") or {}
    for ranked in selector.get("ranking") or []:
        key = ranked.get("intent_response_key") or ""
        if key.startswith(f"{intent}/"):
            return f"{RESPONSES[intent]}/{key.split('/', 1)[1]}"
    return None


def has_more(domain: dict[str, Any], response: str) -> bool:
    """Whether the answer has a second part (a variation conditioned on the part slot)."""
    return any(
        condition.get("name") == PART_SLOT
        for variation in (domain.get("responses") or {}).get(response, [])
        for condition in variation.get("condition") or []
    )


class ActionHealthAnswer(Action):
    """Answers contraception, pregnancy and addiction questions; remembers a "more" part."""

    def name(self) -> str:
        return "action_health_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        message = tracker.latest_message or {}
        intent = (message.get("intent") or {}).get("name", "")
        response = chosen_response(message, intent) if intent in RESPONSES else None
        if response is None or response not in (domain.get("responses") or {}):
            return show_menu(dispatcher, tracker, "main", "utter_fallback")
        dispatcher.utter_message(response=response, slots={PART_SLOT: None})
        return [SlotSet(MORE_SLOT, response if has_more(domain, response) else None)]


class ActionMore(Action):
    """"PLUS" / "MAS" / "WƐRƐ": the second part of the last answer, if it has one."""

    def name(self) -> str:
        return "action_more"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        response = tracker.get_slot(MORE_SLOT)
        if not response:
            return show_menu(dispatcher, tracker, "main", "utter_more_none")
        dispatcher.utter_message(response=response, slots={PART_SLOT: "more"})
        return [SlotSet(MORE_SLOT, None)]
