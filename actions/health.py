"""Health answers: the sub-topic the response selector chose, its "more" part, and what
her country adds (bot.content: a local text, the verified services, or "none verified")."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import COUNTRY_PENDING_SLOT, show_menu
from actions.handoff import request_handoff
from actions.menu import run_option
from actions.safety import (
    ANSWER_SLOT,
    CATEGORY_SLOT,
    COUNTRY_FORM,
    TRIES_SLOT,
    ActionEmergency,
    channel_country,
    send_numbers_then_handoff,
)
from bot import content, menu
from bot.channels.contacts import remember_country
from bot.content.services import services_for, services_line
from bot.countries import PROGRAMME
from bot.db.database import engine_from_env
from bot.i18n.language import LANGUAGE_SLOT
from bot.safety.context import CHECKIN_ACTION, CHECKIN_INTENT

# The retrieval responses of each health intent (domain/health.yml).
RESPONSES = {
    "contraception": "utter_contraception",
    "pregnancy": "utter_pregnancy",
    "addiction": "utter_addiction",
}
# Answers that first ask a question (the menu of bot.menu whose options are the answers).
QUESTIONS = {"utter_contraception/pill_missed": "pill_type"}
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
        return await answer(dispatcher, tracker, domain)


async def answer(
    dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any],
    ask_country: bool = True, message: dict[str, Any] | None = None,
) -> list[EventType]:  # fmt: skip
    """The answer to her health question. ``ask_country`` is False when she was just asked
    where she is and wrote a question instead: it is answered, and its country part is
    "none verified" rather than the question again; also before a safety check-in, whose
    question must stay the last one asked. ``message``: her message as classified, when the
    safety check changed its intent (default: the latest message)."""
    message = message or tracker.latest_message or {}
    shown = tracker.get_slot(menu.MENU_SLOT)
    if shown in QUESTIONS.values():  # "la combinée", "sin estrógeno": her answer to it
        number = menu.chosen_option(shown, str(message.get("text") or ""))
        if menu.resolve(shown, number) is not None:
            return await run_option(dispatcher, tracker, shown, number)
    intent = (message.get("intent") or {}).get("name", "")
    response = chosen_response(message, intent) if intent in RESPONSES else None
    if response is None or response not in (domain.get("responses") or {}):
        return show_menu(dispatcher, tracker, "main", "utter_fallback")
    if response in QUESTIONS:  # the answer depends on hers: the question, as a menu
        return [SlotSet(MORE_SLOT, None),
                *show_menu(dispatcher, tracker, QUESTIONS[response], response,
                           slots={PART_SLOT: None})]  # fmt: skip
    dispatcher.utter_message(response=response, slots={PART_SLOT: None})
    events = [SlotSet(MORE_SLOT, response if has_more(domain, response) else None)]
    key = content.answer_key(response)
    return [*events, *country_part(dispatcher, tracker, domain, key, ask=ask_country)]


class ActionMore(Action):
    """ "PLUS" / "MAS" / "WƐRƐ": the second part of the last answer, if it has one."""

    def name(self) -> str:
        return "action_more"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        response = tracker.get_slot(MORE_SLOT)
        if not response:
            return show_menu(dispatcher, tracker, "main", "utter_more_none")
        dispatcher.utter_message(response=response, slots={PART_SLOT: "more"})
        key = content.answer_key(response, more=True)
        return [SlotSet(MORE_SLOT, None), *country_part(dispatcher, tracker, domain, key)]


def country_part(
    dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any], key: str,
    ask: bool = True,
) -> list[EventType]:  # fmt: skip
    """After answer ``key``: what her country adds, or, when nobody knows her country yet,
    the country question (asked once: the form keeps the key until she answers)."""
    responses = domain.get("responses") or {}
    if not content.needs_country(key, responses):
        return []
    country = tracker.get_slot(menu.COUNTRY_SLOT) or channel_country(tracker)
    if country is None and not ask:
        send_local(dispatcher, tracker, responses, key, None)
        return []
    if country is None:
        return [SlotSet(COUNTRY_PENDING_SLOT, key), SlotSet(ANSWER_SLOT, None),
                SlotSet(TRIES_SLOT, 0.0), SlotSet(menu.MENU_SLOT, None),
                FollowupAction(COUNTRY_FORM)]  # fmt: skip
    send_local(dispatcher, tracker, responses, key, country)
    return [SlotSet(menu.COUNTRY_SLOT, country)]


def send_local(
    dispatcher: CollectingDispatcher, tracker: Tracker, responses: dict[str, Any], key: str,
    country: str | None,
) -> None:  # fmt: skip
    """Her country's text for answer ``key`` (when the catalog has one), then its verified
    services, or the message that none is verified (another country, or none known): she
    answered the country question, so something always follows."""
    local = content.local_response(key, country) if country in PROGRAMME else None
    has_local = bool(local and local in responses)
    if has_local:
        dispatcher.utter_message(response=local)
    topic = content.TOPIC_OF.get(key)
    if topic is None:
        if not has_local:
            dispatcher.utter_message(response="utter_health_services_none")
        return
    line = services_line(services_for(country, topic), tracker.get_slot(LANGUAGE_SLOT))
    if line:
        dispatcher.utter_message(response="utter_health_services", services=line)
    else:
        dispatcher.utter_message(response="utter_health_services_none")


class ActionCountryGiven(Action):
    """The country question answered (or, for a health answer, not placed): an emergency's
    numbers and priority handoff, or the country part of the health answer that asked."""

    def name(self) -> str:
        return "action_country_given"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        key = tracker.get_slot(COUNTRY_PENDING_SLOT)
        country = tracker.get_slot(menu.COUNTRY_SLOT)
        done = [SlotSet(ANSWER_SLOT, None), SlotSet(TRIES_SLOT, 0.0)]
        if not key:
            slots = {menu.COUNTRY_SLOT: country, CATEGORY_SLOT: tracker.get_slot(CATEGORY_SLOT)}
            return [*done, *await send_numbers_then_handoff(dispatcher, tracker, slots)]
        done.append(SlotSet(COUNTRY_PENDING_SLOT, None))
        if ((tracker.latest_message or {}).get("safety") or {}).get("category"):
            # Her answer was an emergency: that comes first, the health answer can wait.
            return [*done, *await ActionEmergency().run(dispatcher, tracker, domain)]
        if country in PROGRAMME:
            await asyncio.to_thread(remember_country, engine_from_env(), tracker.sender_id,
                                    country)  # fmt: skip
        send_local(dispatcher, tracker, domain.get("responses") or {}, key, country)
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        if country is None and intent in RESPONSES:
            # Not a place but a new health question: answered too, not lost.
            done += await answer(dispatcher, tracker, domain, ask_country=False)
        elif country is None and intent == "request_counsellor":  # "PARLER" instead
            done += await request_handoff(dispatcher, tracker, "asked")
        elif country is None and intent == CHECKIN_INTENT:  # words of distress instead
            done.append(FollowupAction(CHECKIN_ACTION))
        return done
