"""Asking for a person: queue the conversation, tell her what to expect, pause the bot."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot import menu
from bot.db.database import engine_from_env
from bot.handoff.requests import RELAY_CHANNELS, open_request
from bot.i18n import supported
from bot.i18n.language import LANGUAGE_SLOT


async def request_handoff(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    reason: str,
    slots: dict[str, Any] | None = None,
) -> list[EventType]:
    """Queue the conversation for a counsellor (``reason``: asked, emergency,
    not_understood) and pause Rasa: from now on the relay answers, not the bot."""
    slots = slots or {}
    channel = tracker.get_latest_input_channel()
    if channel not in RELAY_CHANNELS:
        if reason != "emergency":  # after an emergency the numbers were the answer
            dispatcher.utter_message(response="utter_handoff_not_here", slots=slots)
        return [SlotSet(menu.MENU_SLOT, None)]
    language = supported(slots.get(LANGUAGE_SLOT) or tracker.get_slot(LANGUAGE_SLOT))
    country = slots.get(menu.COUNTRY_SLOT) or tracker.get_slot(menu.COUNTRY_SLOT)
    opened = await asyncio.to_thread(
        open_request, engine_from_env(), tracker.sender_id, reason, language=language,
        channel=channel, country=country,
    )  # fmt: skip
    if opened.on_duty:
        dispatcher.utter_message(response="utter_handoff_queued", position=opened.position,
                                 slots=slots)  # fmt: skip
    elif opened.back_at:
        dispatcher.utter_message(response="utter_handoff_offline", when=opened.back_at,
                                 slots=slots)  # fmt: skip
    else:
        dispatcher.utter_message(response="utter_handoff_offline_unknown", slots=slots)
    return [SlotSet(menu.MENU_SLOT, None), ConversationPaused()]


class ActionRequestCounsellor(Action):
    """``request_counsellor`` (a message, "PARLER", menu option 3)."""

    def name(self) -> str:
        return "action_request_counsellor"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return await request_handoff(dispatcher, tracker, "asked")
