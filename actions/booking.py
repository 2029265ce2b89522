"""Booking a workshop seat in a conversation: list, choose (number or words), confirm, book
or join the waitlist; her bookings; cancelling one. The service (bot.booking) holds the
truth; these actions only ask and tell."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import show_menu
from bot import menu
from bot.booking import choice, dialogue, notices
from bot.booking.errors import BookingError, SessionClosed
from bot.booking.service import BookingService
from bot.booking.views import BookingView, SessionView
from bot.db.base import utcnow
from bot.db.database import engine_from_env
from bot.i18n import Translator, supported
from bot.i18n.language import LANGUAGE_SLOT

SESSION, CONFIRM, CANCEL = "booking_session", "booking_confirm", "cancel_choice"
OFFER, TRIES = "booking_offer", "booking_tries"
GAVE_UP = "stop"
RESET = [SlotSet(SESSION, None), SlotSet(CONFIRM, None), SlotSet(TRIES, 0.0)]


def _language(tracker: Tracker) -> str:
    return supported(tracker.get_slot(LANGUAGE_SLOT))


def _booking() -> BookingService:
    """The booking service of this process."""
    return dialogue.service(engine_from_env())


def _values(view: SessionView, language: str) -> dict[str, Any]:
    translate = Translator(language)
    return {"workshop": dialogue.topic(view, translate), "place": dialogue.place(view),
            "when": dialogue.when(view, language)}  # fmt: skip


async def _offered(tracker: Tracker) -> list[SessionView]:
    ids = [int(i) for i in tracker.get_slot(OFFER) or [] if str(i).isdigit()]
    return await asyncio.to_thread(_booking().sessions, ids)


async def start_booking(
    dispatcher: CollectingDispatcher, tracker: Tracker, slots: dict[str, Any] | None = None
) -> list[EventType]:
    """"I want to book" or menu 2: the form when there are sessions, else say so."""
    language = _language(tracker)
    sessions = await asyncio.to_thread(dialogue.offer, _booking(), language)
    if not sessions:
        dispatcher.utter_message(response="utter_booking_none", slots=slots or {})
        return [SlotSet(menu.MENU_SLOT, None)]
    return [*RESET, SlotSet(menu.MENU_SLOT, None), FollowupAction("booking_form")]


class ActionBookingStart(Action):
    def name(self) -> str:
        return "action_booking_start"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        return await start_booking(dispatcher, tracker)


class ActionAskBookingSession(Action):
    """The numbered list (buttons on Telegram), remembered in ``booking_offer``."""

    def name(self) -> str:
        return "action_ask_booking_session"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = _language(tracker)
        translate = Translator(language)
        sessions = await asyncio.to_thread(dialogue.offer, _booking(), language)
        buttons = [{"title": dialogue.line(s, translate, language), "payload": str(n)}
                   for n, s in enumerate(sessions, start=1)]  # fmt: skip
        dispatcher.utter_message(response="utter_booking_list", buttons=buttons)
        return [SlotSet(OFFER, [str(s.id) for s in sessions])]


class ActionAskBookingConfirm(Action):
    """"Allaitement, samedi 10:00, Centre X: 1 yes, 2 no", or the waitlist question."""

    def name(self) -> str:
        return "action_ask_booking_confirm"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = _language(tracker)
        translate = Translator(language)
        chosen = tracker.get_slot(SESSION)
        views = await asyncio.to_thread(_booking().sessions, [int(chosen)])
        if not views:
            return [SlotSet(SESSION, None)]
        view = views[0]
        buttons = [{"title": translate(dialogue.YES_LABEL), "payload": "1"},
                   {"title": translate(dialogue.NO_LABEL), "payload": "2"}]  # fmt: skip
        response = "utter_booking_confirm" if view.seats_left else "utter_booking_full"
        dispatcher.utter_message(response=response, buttons=buttons, **_values(view, language))
        return []


class ValidateBookingForm(FormValidationAction):
    """Reads the choice and the confirmation; after three answers not understood, or a
    "menu", the booking is left (nothing is booked)."""

    def name(self) -> str:
        return "validate_booking_form"

    async def validate_booking_session(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: dict[str, Any],
    ) -> dict[str, Any]:  # fmt: skip
        if value is None:  # the form starting (our own reset), not an answer
            return {SESSION: None}
        reply = str(value)
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        if dialogue.wants_to_stop(reply) or intent == "cancel_booking":
            return {SESSION: GAVE_UP, CONFIRM: "no"}
        offered = await _offered(tracker)
        found = choice.resolve(reply, offered)
        if found.index is not None:
            chosen = offered[found.index]
            if chosen.status != "scheduled" or chosen.starts_at <= utcnow():
                # Cancelled or begun since the list was shown: say so, show it again.
                dispatcher.utter_message(response="utter_booking_closed")
                return {SESSION: None}
            return {SESSION: str(chosen.id), TRIES: 0.0}
        tries = (tracker.get_slot(TRIES) or 0.0) + 1
        if tries >= dialogue.MAX_TRIES:
            return {SESSION: GAVE_UP, CONFIRM: "no"}
        if found.ambiguous:
            dispatcher.utter_message(response="utter_booking_ambiguous")
        else:
            dispatcher.utter_message(response="utter_booking_invalid", count=len(offered))
        return {SESSION: None, TRIES: tries}

    async def validate_booking_confirm(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: dict[str, Any],
    ) -> dict[str, Any]:  # fmt: skip
        if tracker.get_slot(SESSION) == GAVE_UP:
            return {CONFIRM: "no"}
        if value is None:
            return {CONFIRM: None}
        answer = menu.yes_no(str(value))
        if answer is None:
            if dialogue.wants_to_stop(str(value or "")):
                return {CONFIRM: "no"}
            tries = (tracker.get_slot(TRIES) or 0.0) + 1
            if tries >= dialogue.MAX_TRIES:
                return {CONFIRM: "no"}
            return {CONFIRM: None, TRIES: tries}
        return {CONFIRM: "yes" if answer else "no"}


class ActionBookingSubmit(Action):
    """Books (or waitlists) the chosen session, and says so with her reference."""

    def name(self) -> str:
        return "action_booking_submit"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = _language(tracker)
        chosen, confirm = tracker.get_slot(SESSION), tracker.get_slot(CONFIRM)
        if chosen == GAVE_UP:
            return [*RESET, *show_menu(dispatcher, tracker, "main")]
        if confirm != "yes" or not str(chosen or "").isdigit():
            dispatcher.utter_message(response="utter_booking_not_booked")
            return RESET
        try:
            booking: BookingView = await asyncio.to_thread(
                _booking().book, int(chosen), tracker.sender_id
            )
        except SessionClosed:  # it closed while she confirmed: the list again
            dispatcher.utter_message(response="utter_booking_closed")
            return [*RESET, FollowupAction("action_booking_start")]
        values = {**_values(booking.session, language), "reference": booking.reference}
        if booking.already:
            dispatcher.utter_message(response="utter_booking_already", **values)
        elif booking.status == "waitlisted":
            dispatcher.utter_message(response="utter_booking_waitlisted", **values)
        else:
            dispatcher.utter_message(response="utter_booking_booked", **values)
        return RESET


def _listed(bookings: list[BookingView], language: str) -> str:
    translate = Translator(language)
    return "\n".join(
        f"{b.reference}: {dialogue.line(b.session, translate, language)}"
        + (f" - {translate(dialogue.STATUS[b.status])}" if b.status in dialogue.STATUS else "")
        for b in bookings
    )


class ActionMyBookings(Action):
    def name(self) -> str:
        return "action_my_bookings"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = _language(tracker)
        bookings = await asyncio.to_thread(_booking().bookings_of, tracker.sender_id)
        if not bookings:
            dispatcher.utter_message(response="utter_booking_mine_none")
        else:
            dispatcher.utter_message(response="utter_booking_mine",
                                     bookings=_listed(bookings, language))  # fmt: skip
        return [SlotSet(menu.MENU_SLOT, None)]


class ActionCancelBooking(Action):
    """"Cancel" (also the answer to a reminder): her one booking, the one she names by its
    reference, day or topic, or the question which one (a form, which reads words too). A
    freed seat goes to the waitlist's first."""

    def name(self) -> str:
        return "action_cancel_booking"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        bookings = await asyncio.to_thread(_booking().bookings_of, tracker.sender_id)
        if not bookings:
            dispatcher.utter_message(response="utter_booking_mine_none")
            return [SlotSet(menu.MENU_SLOT, None)]
        chosen = _named(tracker, bookings)
        if chosen is None and len(bookings) == 1:
            chosen = bookings[0]
        if chosen is None:  # "ANNULER" answering a reminder: that booking
            since = utcnow() - timedelta(hours=48)
            reminded = await asyncio.to_thread(
                notices.last_reminded, engine_from_env(), tracker.sender_id, since
            )
            chosen = next((b for b in bookings if b.id == reminded), None)
        if chosen is None:
            return [SlotSet(CANCEL, None), SlotSet(TRIES, 0.0), SlotSet(menu.MENU_SLOT, None),
                    FollowupAction("cancel_form")]  # fmt: skip
        return await _cancel(dispatcher, tracker, chosen.reference)


def _named(
    tracker: Tracker, bookings: list[BookingView], number: bool = False
) -> BookingView | None:
    """The booking her latest message names: a reference (a button's or typed), the day,
    the date or the topic of its session, or (``number``: answering the list) its number."""
    message = tracker.latest_message or {}
    named = next(tracker.get_latest_entity_values("booking_ref"), None)
    reply = str(message.get("text") or "")
    found = next((b for b in bookings if b.reference == named
                  or b.reference in reply.upper().split()), None)  # fmt: skip
    if found is None and not reply.startswith("/"):
        pick = choice.resolve(reply, [b.session for b in bookings])
        # A bare number is a position only in an answer to the numbered list.
        if pick.index is not None and (number or menu.chosen_number(reply) is None):
            found = bookings[pick.index]
    return found


async def _cancel(
    dispatcher: CollectingDispatcher, tracker: Tracker, reference: str
) -> list[EventType]:
    """Cancel her booking ``reference``; if it was cancelled, or its session began, meanwhile:
    her bookings as they are now."""
    language = _language(tracker)
    try:
        cancelled, _ = await asyncio.to_thread(_booking().cancel, reference, tracker.sender_id)
    except BookingError:
        return [FollowupAction("action_my_bookings")]
    values = {**_values(cancelled.session, language), "reference": cancelled.reference}
    dispatcher.utter_message(response="utter_booking_cancelled", **values)
    return [SlotSet(menu.MENU_SLOT, None)]


class ActionAskCancelChoice(Action):
    """Her bookings, numbered (buttons on Telegram): which one to cancel?"""

    def name(self) -> str:
        return "action_ask_cancel_choice"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        language = _language(tracker)
        translate = Translator(language)
        bookings = await asyncio.to_thread(_booking().bookings_of, tracker.sender_id)
        buttons = [{"title": f"{b.reference}: {dialogue.line(b.session, translate, language)}",
                    "payload": f'/cancel_booking{{"booking_ref": "{b.reference}"}}'}
                   for b in bookings]  # fmt: skip
        dispatcher.utter_message(response="utter_booking_cancel_which", buttons=buttons)
        return []


class ValidateCancelForm(FormValidationAction):
    """Reads which booking: a number, a reference, a day, a date or a topic; "menu" or three
    answers it cannot place leave it (nothing is cancelled)."""

    def name(self) -> str:
        return "validate_cancel_form"

    async def validate_cancel_choice(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
        domain: dict[str, Any],
    ) -> dict[str, Any]:  # fmt: skip
        if value is None:
            return {CANCEL: None}
        if dialogue.wants_to_stop(str(value)):
            return {CANCEL: GAVE_UP}
        bookings = await asyncio.to_thread(_booking().bookings_of, tracker.sender_id)
        found = _named(tracker, bookings, number=True)
        if found is not None:
            return {CANCEL: found.reference, TRIES: 0.0}
        tries = (tracker.get_slot(TRIES) or 0.0) + 1
        if tries >= dialogue.MAX_TRIES or not bookings:
            return {CANCEL: GAVE_UP}
        return {CANCEL: None, TRIES: tries}


class ActionCancelSubmit(Action):
    """The choice made: cancel that booking; given up: the main menu, nothing cancelled."""

    def name(self) -> str:
        return "action_cancel_submit"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        reference = tracker.get_slot(CANCEL)
        reset = [SlotSet(CANCEL, None), SlotSet(TRIES, 0.0)]
        if not reference or reference == GAVE_UP:
            return [*reset, *show_menu(dispatcher, tracker, "main")]
        return [*reset, *await _cancel(dispatcher, tracker, reference)]
