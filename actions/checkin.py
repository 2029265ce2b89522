"""The safety check-in: a message the risk check finds possibly dangerous (level
``possible``, :mod:`bot.safety.context`) gets "are you safe right now? 1 yes, 2 I need help",
with a counsellor offered in the same words. Her answer is read by the NLU gate: "2", "no",
"help", or silence then more risk, is an emergency; "1", "yes" gets a thank-you.

When what she wrote was a health question (the classifier's intent, kept by the gate), it
is answered first: a false alarm costs her one extra line, never her answer. The check-in
comes last, so that "1" and "2" answer it and no other numbered question.
"""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.health import QUESTIONS, RESPONSES, answer, chosen_response
from actions.safety import channel_country
from bot import menu, safety
from bot.db.database import engine_from_env
from bot.i18n import Translator
from bot.i18n.language import LANGUAGE_SLOT
from bot.safety.context import CHECKIN_ACTION, CHECKIN_ANSWERS
from bot.safety.risk import POSSIBLE


class ActionSafetyCheckin(Action):
    """Her health question's answer if it was one, then the check-in."""

    def name(self) -> str:
        return CHECKIN_ACTION

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        message = dict(tracker.latest_message or {})
        asked = (message.get("risk") or {}).get("intent")
        events: list[EventType] = []
        # Not an answer that asks its own numbered question (which pill?): "1" would be ambiguous.
        if asked in RESPONSES and chosen_response(message, asked) not in QUESTIONS:
            message["intent"] = {"name": asked}
            events += await answer(dispatcher, tracker, domain, ask_country=False,
                                   message=message)  # fmt: skip
        language = tracker.get_slot(LANGUAGE_SLOT)
        country = tracker.get_slot(menu.COUNTRY_SLOT) or channel_country(tracker)
        await asyncio.to_thread(safety.record_alert, engine_from_env(), tracker.sender_id,
                                safety.GENERAL, language, country, POSSIBLE)  # fmt: skip
        translate = Translator(language)
        dispatcher.utter_message(
            response="utter_safety_checkin",
            buttons=[{"title": translate(key), "payload": payload}
                     for key, payload in CHECKIN_ANSWERS],
        )
        return [*events, SlotSet(menu.MENU_SLOT, None)]
