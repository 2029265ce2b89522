"""The main menu's "my data" entry: ask before erasing (the channels' privacy desk reads her
yes or no, in every state: :mod:`bot.privacy.desk`)."""

from __future__ import annotations

import asyncio
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot import menu
from bot.db.database import engine_from_env
from bot.i18n import Translator
from bot.i18n.language import LANGUAGE_SLOT
from bot.privacy import FORGET_NO, FORGET_YES
from bot.privacy.requests import PrivacyRequests
from bot.settings import settings_from_env


async def ask_forget(
    dispatcher: CollectingDispatcher, tracker: Tracker, slots: dict[str, Any]
) -> list[EventType]:
    """Mark her request and say what will be erased, with yes (1) and no (2). A
    conversation the channels do not hold (the REST API) gets the notice instead: there is
    nothing of hers in our tables to erase."""
    translate = Translator(tracker.get_slot(LANGUAGE_SLOT))
    engine = engine_from_env()
    asked = await asyncio.to_thread(PrivacyRequests(engine).ask_erase, tracker.sender_id)
    if not asked:
        days = settings_from_env().privacy.retention_days
        dispatcher.utter_message(response="utter_privacy_notice", days=days)
        return [SlotSet(menu.MENU_SLOT, None)]
    buttons = [{"title": translate(FORGET_YES), "payload": "1"},
               {"title": translate(FORGET_NO), "payload": "2"}]  # fmt: skip
    dispatcher.utter_message(response="utter_privacy_forget_ask", buttons=buttons)
    return [SlotSet(menu.MENU_SLOT, None)]
