"""Menus: greeting, help, fallback and out-of-scope all end on the numbered main menu."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.booking import start_booking
from actions.common import show_menu
from actions.handoff import request_handoff
from actions.privacy import ask_forget
from actions.safety import send_numbers_then_handoff
from bot import menu


async def _asked(
    dispatcher: CollectingDispatcher, tracker: Tracker, slots: dict[str, Any]
) -> list[EventType]:
    return await request_handoff(dispatcher, tracker, "asked", slots)


async def _not_understood(
    dispatcher: CollectingDispatcher, tracker: Tracker, slots: dict[str, Any]
) -> list[EventType]:
    return await request_handoff(dispatcher, tracker, "not_understood", slots)


# What an option's handler is given: the dispatcher, the tracker and the option's slots.
Handler = Callable[[CollectingDispatcher, Tracker, dict[str, Any]], Awaitable[list[EventType]]]

# Options that need more than a response or a menu (bot.menu.Option.handler).
HANDLERS: dict[str, Handler] = {
    "emergency_numbers": send_numbers_then_handoff,
    "booking": start_booking,
    "counsellor": _asked,
    "counsellor_not_understood": _not_understood,
    "forget_me": ask_forget,
}


# What the assistant says when it did not understand: a turn that ended with one of these
# was a miss, whatever the classifier's intent (a written menu answer is understood even as
# nlu_fallback; Rasa's core fallback misses with any intent).
MISSED = frozenset({"utter_fallback", "utter_fallback_counsellor"})


def failed_twice(tracker: Tracker) -> bool:
    """The message before this one was not understood either (the second miss in a row
    offers a counsellor): the assistant's answer to it was a "not understood"."""
    users = [i for i, event in enumerate(tracker.events) if event.get("event") == "user"]
    if len(users) < 2:
        return False
    answered = tracker.events[users[-2] + 1 : users[-1]]
    return any(
        event.get("event") == "bot" and (event.get("metadata") or {}).get("utter_action") in MISSED
        for event in answered
    )


class ShowMenu:
    """Mixin for actions that show a menu: subclass it with :class:`Action`, set
    ``action_name``, ``menu_name`` and ``intro`` (the response above the options)."""

    action_name = ""
    menu_name = "main"
    intro = ""

    def name(self) -> str:
        return self.action_name

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return show_menu(dispatcher, tracker, self.menu_name, self.intro)


class ActionGreet(ShowMenu, Action):
    """Hello, what the service does, and the main menu."""

    action_name = "action_greet"
    intro = "utter_greet"


class ActionHelp(ShowMenu, Action):
    """How to use the service, and the main menu."""

    action_name = "action_help"
    intro = "utter_help"


class ActionFallback(ShowMenu, Action):
    """Low confidence: an answer to the menu she was shown, written in words ("espagnol",
    "ateliers", "parler"), runs its option; anything else gets that menu again, or the main
    menu, rather than a guess.

    Also Rasa's core fallback (no rule applies): it then ends the turn itself, because
    nothing else would and Rasa would run it again until its action limit.
    """

    action_name = "action_fallback"
    intro = "utter_fallback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        shown = tracker.get_slot(menu.MENU_SLOT)
        text = str((tracker.latest_message or {}).get("text") or "")
        number = menu.chosen_option(shown, text) if shown in menu.MENUS else None
        if number is not None and menu.resolve(shown, number) is not None:
            events = await run_option(dispatcher, tracker, shown, number)
        elif failed_twice(tracker) or shown == "not_understood":
            events = show_menu(dispatcher, tracker, "not_understood")
        elif shown in menu.MENUS and shown != "main":
            events = show_menu(dispatcher, tracker, shown, self.intro)  # the question again
        else:
            events = await super().run(dispatcher, tracker, domain)
        return [*events, FollowupAction("action_listen")]


class ActionOutOfScope(ShowMenu, Action):
    """Outside what the service does: say what it does, and the menu."""

    action_name = "action_out_of_scope"
    intro = "utter_out_of_scope"


class ActionLanguageMenu(ShowMenu, Action):
    """The three languages as a numbered menu."""

    action_name = "action_language_menu"
    menu_name = "language"
    intro = "utter_language_menu"


class ActionChooseOption(Action):
    """A numbered choice: does what the option of the open menu says, in this one action
    (so the rule `choose_option -> action_choose_option` stays the whole turn)."""

    def name(self) -> str:
        return "action_choose_option"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        # A button names its menu; a typed number refers to the menu last shown.
        name = next(tracker.get_latest_entity_values("menu"), None) or tracker.get_slot(
            menu.MENU_SLOT
        )
        if name not in menu.MENUS:
            return show_menu(dispatcher, tracker, "main")
        option_entity = next(tracker.get_latest_entity_values("option"), None)
        text = str(option_entity or tracker.latest_message.get("text", ""))
        number = menu.chosen_option(name, text)
        if menu.resolve(name, number) is None:
            count = len(menu.MENUS[name])
            return show_menu(dispatcher, tracker, name, "utter_option_invalid", count=count)
        return await run_option(dispatcher, tracker, name, number)


async def run_option(
    dispatcher: CollectingDispatcher, tracker: Tracker, name: str, number: int | None
) -> list[EventType]:
    """Option ``number`` of menu ``name`` (it exists): its slots, then what it does."""
    option = menu.resolve(name, number)
    assert option is not None
    slots = dict(option.slots)
    events: list[EventType] = [SlotSet(slot, value) for slot, value in slots.items()]
    # Rendered with the slots the option sets (a new language): its events apply later.
    if option.opens:
        return [*events, *show_menu(dispatcher, tracker, option.opens, slots=slots)]
    if option.handler:
        return [*events, *await HANDLERS[option.handler](dispatcher, tracker, slots)]
    dispatcher.utter_message(response=option.response, slots=slots)
    # The menu stays open ("2" then "4" both work), unless the option changed a setting.
    return [*events, SlotSet(menu.MENU_SLOT, None)] if events else events
