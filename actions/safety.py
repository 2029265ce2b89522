"""Emergencies: the fixed reply of the category, the country's verified numbers, an alert."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import show_menu
from actions.handoff import request_handoff
from bot import menu, safety
from bot.i18n import Translator
from bot.i18n.language import LANGUAGE_SLOT
from bot.storage import engine_from_env

CATEGORY_SLOT = "emergency_category"
PRIORITY_SLOT = "handoff_priority"


async def send_numbers(
    dispatcher: CollectingDispatcher, tracker: Tracker, slots: dict[str, Any]
) -> list[EventType]:
    """The verified numbers for the country and category, or where to go when there are
    none (no number is shown that was not verified)."""
    country = slots.get(menu.COUNTRY_SLOT) or tracker.get_slot(menu.COUNTRY_SLOT)
    category = slots.get(CATEGORY_SLOT) or tracker.get_slot(CATEGORY_SLOT) or safety.GENERAL
    translate = Translator(slots.get(LANGUAGE_SLOT) or tracker.get_slot(LANGUAGE_SLOT))
    numbers = safety.numbers_for(country, category)
    if numbers:
        listed = ", ".join(f"{n.number} ({translate(n.label_key)})" for n in numbers)
        dispatcher.utter_message(response="utter_emergency_numbers", numbers=listed, slots=slots)
    else:
        dispatcher.utter_message(response="utter_emergency_go_now", slots=slots)
    return [SlotSet(menu.MENU_SLOT, None)]


async def send_numbers_then_handoff(
    dispatcher: CollectingDispatcher, tracker: Tracker, slots: dict[str, Any]
) -> list[EventType]:
    """The country menu's answer: the numbers, then the priority handoff the emergency
    marked (asked only now, so that her answer to the menu reached the bot)."""
    events = await send_numbers(dispatcher, tracker, slots)
    if tracker.get_slot(PRIORITY_SLOT):
        events += await request_handoff(dispatcher, tracker, "emergency", slots)
    return events


def channel_country(tracker: Tracker) -> str | None:
    """The country the channel knows (an SMS number's calling code), from the metadata of
    the latest message: the numbers then come at once, without asking."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            country = (event.get("metadata") or {}).get("country")
            return country if country in safety.COUNTRIES else None
    return None


class ActionEmergency(Action):
    """First reply to an emergency: fixed text, numbers (or the country question, once),
    an alert row for review and the mark for a priority counsellor handoff."""

    def name(self) -> str:
        return "action_emergency"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        message = tracker.latest_message or {}
        category = (message.get("safety") or {}).get("category") or safety.GENERAL
        if category not in safety.RESPONSES:
            category = safety.GENERAL
        language = tracker.get_slot(LANGUAGE_SLOT) or message.get("language")
        country = tracker.get_slot(menu.COUNTRY_SLOT) or channel_country(tracker)
        await asyncio.to_thread(
            safety.record_alert, engine_from_env(), tracker.sender_id, category, language, country
        )
        slots = {LANGUAGE_SLOT: language, CATEGORY_SLOT: category, menu.COUNTRY_SLOT: country}
        dispatcher.utter_message(response=safety.RESPONSES[category], slots=slots)
        events: list[EventType] = [SlotSet(CATEGORY_SLOT, category), SlotSet(PRIORITY_SLOT, True)]
        if country:
            events.append(SlotSet(menu.COUNTRY_SLOT, country))
            events += await send_numbers(dispatcher, tracker, slots)
            # A counsellor, first in the queue (the numbers were given first).
            return [*events, *await request_handoff(dispatcher, tracker, "emergency", slots)]
        return [*events, *show_menu(dispatcher, tracker, "country", slots=slots)]
