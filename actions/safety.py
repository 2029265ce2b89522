"""Emergencies: the fixed reply of the category, the country's verified numbers, an alert.

When the channel does not tell her country (Telegram, the terminal), a form asks it: the
form reads every answer, whatever the classifier thinks of it ("Pérou", "je suis à Lyon",
"vivo en Cusco", "n bɛ Segu", "2"), and an answer it cannot place gets the question again,
with the numbered list: during an emergency she gets nothing but the question, and "another
country" is always one of its answers.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import COUNTRY_PENDING_SLOT
from actions.handoff import request_handoff
from bot import menu, safety
from bot.channels.contacts import remember_country
from bot.countries import PROGRAMME
from bot.db.database import engine_from_env
from bot.i18n import Translator
from bot.i18n.language import LANGUAGE_SLOT

CATEGORY_SLOT = "emergency_category"
PRIORITY_SLOT = "handoff_priority"
ANSWER_SLOT, TRIES_SLOT = "country_answer", "country_tries"
COUNTRY_FORM = "country_form"


async def send_numbers(
    dispatcher: CollectingDispatcher, tracker: Tracker, slots: dict[str, Any]
) -> list[EventType]:
    """The verified numbers for the country and category, or where to go when there are
    none (no number is shown that was not verified)."""
    country = slots.get(menu.COUNTRY_SLOT) or tracker.get_slot(menu.COUNTRY_SLOT)
    category = slots.get(CATEGORY_SLOT) or tracker.get_slot(CATEGORY_SLOT) or safety.GENERAL
    language = slots.get(LANGUAGE_SLOT) or tracker.get_slot(LANGUAGE_SLOT)
    listed = safety.numbers_listed(country, category, language)
    if listed:
        dispatcher.utter_message(response="utter_emergency_numbers", numbers=listed, slots=slots)
    else:
        dispatcher.utter_message(response=safety.go_now_response(category), slots=slots)
    await asyncio.to_thread(safety.numbers_given, engine_from_env(), tracker.sender_id)
    return [SlotSet(menu.MENU_SLOT, None)]


async def send_numbers_then_handoff(
    dispatcher: CollectingDispatcher, tracker: Tracker, slots: dict[str, Any]
) -> list[EventType]:
    """Her country known: the numbers, then the priority handoff the emergency marked
    (asked only now, so that her answer to the question reached the bot). A programme
    country is kept with her contact, for the next time and for the relay."""
    country = slots.get(menu.COUNTRY_SLOT)
    if country in PROGRAMME:
        await asyncio.to_thread(remember_country, engine_from_env(), tracker.sender_id, country)
    events = await send_numbers(dispatcher, tracker, slots)
    if tracker.get_slot(PRIORITY_SLOT):
        events += await request_handoff(dispatcher, tracker, "emergency", slots)
    return events


def channel_country(tracker: Tracker) -> str | None:
    """The country the channel knows (an SMS number's calling code, or the country she gave
    before), from the metadata of the latest message: the numbers then come at once."""
    for event in reversed(tracker.events):
        if event.get("event") == "user":
            country = (event.get("metadata") or {}).get("country")
            return country if country in PROGRAMME else None
    return None


def _category(tracker: Tracker) -> str:
    category = ((tracker.latest_message or {}).get("safety") or {}).get("category")
    return category if category in safety.RESPONSES else safety.GENERAL


class ActionEmergency(Action):
    """First reply to an emergency: fixed text, numbers (or the country question), an alert
    row for review and the mark for a priority counsellor handoff."""

    def name(self) -> str:
        return "action_emergency"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        category = _category(tracker)
        language = tracker.get_slot(LANGUAGE_SLOT) or (tracker.latest_message or {}).get("language")
        country = tracker.get_slot(menu.COUNTRY_SLOT) or channel_country(tracker)
        await asyncio.to_thread(
            safety.record_alert, engine_from_env(), tracker.sender_id, category, language, country
        )
        slots = {LANGUAGE_SLOT: language, CATEGORY_SLOT: category, menu.COUNTRY_SLOT: country}
        dispatcher.utter_message(response=safety.RESPONSES[category], slots=slots)
        # An emergency wins over a health answer waiting for her country: the country form,
        # if it asks now, asks for the numbers.
        events: list[EventType] = [SlotSet(CATEGORY_SLOT, category), SlotSet(PRIORITY_SLOT, True),
                                   SlotSet(COUNTRY_PENDING_SLOT, None)]  # fmt: skip
        if country:
            events.append(SlotSet(menu.COUNTRY_SLOT, country))
            events += await send_numbers(dispatcher, tracker, slots)
            # A counsellor, first in the queue (the numbers were given first).
            return [*events, *await request_handoff(dispatcher, tracker, "emergency", slots)]
        return [*events, SlotSet(ANSWER_SLOT, None), SlotSet(TRIES_SLOT, 0.0),
                SlotSet(menu.MENU_SLOT, None), FollowupAction(COUNTRY_FORM)]  # fmt: skip


class ActionAskCountryAnswer(Action):
    """The country question with its numbered list; after an answer it could not place,
    the same question said again ("I did not understand where you are...")."""

    def name(self) -> str:
        return "action_ask_country_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        again = bool(tracker.get_slot(TRIES_SLOT))
        buttons = [{"title": title, "payload": payload}
                   for title, payload in menu.country_choices(
                       Translator(tracker.get_slot(LANGUAGE_SLOT)))]  # fmt: skip
        if tracker.get_slot(COUNTRY_PENDING_SLOT):  # a health answer's local part waits
            response = "utter_health_ask_country"
        elif again:
            response = "utter_emergency_ask_country_again"
        else:
            response = "utter_emergency_ask_country"
        dispatcher.utter_message(response=response, buttons=buttons)
        return []


class ValidateCountryForm(FormValidationAction):
    """Reads her answer: a number, a button, a country, a city or a sentence."""

    def name(self) -> str:
        return "validate_country_form"

    async def validate_country_answer(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: dict[str, Any],
    ) -> dict[str, Any]:  # fmt: skip
        if value is None:
            return {ANSWER_SLOT: None}
        message = tracker.latest_message or {}
        entities = {e.get("entity"): e.get("value") for e in message.get("entities") or []}
        if str(value).startswith("/"):  # a button of another menu pressed now: not an answer
            shown = entities.get("menu") == "country"
            country = menu.country_answer(str(entities.get("option"))) if shown else None
        else:
            country = menu.country_answer(str(value))
        if country is None and tracker.get_slot(COUNTRY_PENDING_SLOT):
            # Asked for a health answer: she is not kept on the question; the answer's
            # general part was sent, its local part becomes "no verified address".
            return {ANSWER_SLOT: str(value), TRIES_SLOT: 0.0}
        if country is None:
            return {ANSWER_SLOT: None, TRIES_SLOT: (tracker.get_slot(TRIES_SLOT) or 0.0) + 1}
        found: dict[str, Any] = {ANSWER_SLOT: str(value), menu.COUNTRY_SLOT: country,
                                 TRIES_SLOT: 0.0}  # fmt: skip
        if (message.get("safety") or {}).get("category"):  # she said more about the danger
            found[CATEGORY_SLOT] = _category(tracker)
        return found
