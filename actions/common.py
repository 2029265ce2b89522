"""What several actions share: sending a menu."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot import menu
from bot.i18n import Translator
from bot.i18n.language import LANGUAGE_SLOT

# The health answer (catalog key) whose country part waits for her answer to the country
# question (actions/health.py sets it, the country form reads it, an emergency clears it).
COUNTRY_PENDING_SLOT = "health_pending"


def show_menu(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    name: str,
    intro: str | None = None,
    slots: dict[str, Any] | None = None,
    **values: Any,
) -> list[EventType]:
    """Send ``intro`` (default: the menu's own) with the buttons of menu ``name``, as one
    message (one SMS), and remember which menu is open.

    ``slots`` are values this action is setting (rendered with them: the new language);
    ``values`` fill the intro's placeholders.
    """
    slots = slots or {}
    language = slots.get(LANGUAGE_SLOT) or tracker.get_slot(LANGUAGE_SLOT)
    dispatcher.utter_message(
        response=intro or menu.INTROS[name],
        buttons=menu.buttons(name, Translator(language)),
        slots=slots,
        **values,
    )
    return [SlotSet(menu.MENU_SLOT, name)]
