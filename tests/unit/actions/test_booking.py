"""actions/booking.py: the booking conversation on a real database (SQLite file): the list
in her language, a choice read in digits or words, the confirmation, the booking or the
waitlist, her bookings, and cancelling one."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from sqlalchemy.engine import Engine

from actions.booking import (
    ActionAskBookingConfirm,
    ActionAskBookingSession,
    ActionAskCancelChoice,
    ActionBookingStart,
    ActionBookingSubmit,
    ActionCancelBooking,
    ActionCancelSubmit,
    ActionMyBookings,
    ValidateBookingForm,
    ValidateCancelForm,
)
from bot.booking.errors import SessionClosed
from bot.booking.service import BookingService
from bot.db.base import utcnow
from bot.i18n import Translator
from bot.menu import MENUS
from tests.support.actions import (
    SENDER,
    Workshops,
    change,
    followups,
    in_days,
    make_tracker,
    responses,
    rows,
    run_action,
    slots_set,
)

SESSION, CONFIRM, CANCEL = "booking_session", "booking_confirm", "cancel_choice"
OFFER, TRIES = "booking_offer", "booking_tries"


@pytest.fixture()
def world(engine: Engine) -> Workshops:
    return Workshops(engine)


def bookings_of(engine: Engine, participant: str = SENDER) -> list[tuple[int, str, str]]:
    """(session id, status, reference) of her bookings as stored, oldest first."""
    return [(r["session_id"], r["status"], r["reference"])
            for r in rows(engine, "bookings", participant=participant)]  # fmt: skip


def status(engine: Engine, reference: str) -> str:
    """The stored status of the booking ``reference``."""
    [row] = rows(engine, "bookings", reference=reference)
    return str(row["status"])


def book(session_id: int, participant: str = SENDER) -> str:
    """``participant`` confirms session ``session_id`` (the booking form done); the
    reference she is given."""
    tracker = make_tracker(slots={SESSION: str(session_id), CONFIRM: "yes"},
                           sender_id=participant)  # fmt: skip
    dispatcher, _ = run_action(ActionBookingSubmit(), tracker)
    return str(dispatcher.messages[0]["reference"])


def weekday(starts_at: datetime, zone: str = "Africa/Bamako") -> str:
    """The French name of a session's weekday, as she would write it ("samedi")."""
    return format_date(starts_at.astimezone(ZoneInfo(zone)), "EEEE", locale="fr")


# --- Starting and listing -------------------------------------------------------------------


def test_no_session_to_come_says_so_and_opens_no_form(engine: Engine) -> None:
    """She asks to book while nothing is scheduled: "no workshop for now", no form."""
    dispatcher, events = run_action(ActionBookingStart(), make_tracker(text="je veux reserver"))
    assert responses(dispatcher) == ["utter_booking_none"]
    assert followups(events) == []
    assert slots_set(events) == {"menu": None}


def test_sessions_to_come_open_the_booking_form_from_scratch(world: Workshops) -> None:
    """With sessions scheduled the booking form starts, any earlier choice forgotten."""
    world.session()
    tracker = make_tracker(slots={SESSION: "7", CONFIRM: "yes", TRIES: 2.0, "menu": "main"})
    dispatcher, events = run_action(ActionBookingStart(), tracker)
    assert dispatcher.messages == []
    assert followups(events) == ["booking_form"]
    assert slots_set(events) == {SESSION: None, CONFIRM: None, TRIES: 0.0, "menu": None}


def test_the_list_offers_the_sessions_held_in_her_language(world: Workshops) -> None:
    """In Spanish she is offered the Spanish sessions, soonest first, numbered 1, 2."""
    world.session("childbirth", in_days(2), language="fr")
    later = world.session("breastfeeding", in_days(5), language="es", venue="lima")
    sooner = world.session("nutrition", in_days(3), language="es", venue="lima")
    dispatcher, events = run_action(ActionAskBookingSession(),
                                    make_tracker(slots={"language": "es"}))  # fmt: skip
    assert responses(dispatcher) == ["utter_booking_list"]
    buttons = dispatcher.messages[0]["buttons"]
    assert [b["payload"] for b in buttons] == ["1", "2"]
    spanish = Translator("es")
    assert buttons[0]["title"].startswith(spanish("workshop.nutrition"))
    assert buttons[1]["title"].startswith(spanish("workshop.breastfeeding"))
    assert all("Lima" in b["title"] for b in buttons)
    assert slots_set(events) == {OFFER: [str(sooner), str(later)]}


def test_with_nothing_in_her_language_every_session_is_offered(world: Workshops) -> None:
    """In Bambara, with no session held in Bambara, she still sees the French ones."""
    first = world.session("childbirth", in_days(2))
    second = world.session("sexuality", in_days(4))
    dispatcher, events = run_action(ActionAskBookingSession(),
                                    make_tracker(slots={"language": "bm"}))  # fmt: skip
    titles = [b["title"] for b in dispatcher.messages[0]["buttons"]]
    assert titles[0].startswith(Translator("bm")("workshop.childbirth"))
    assert titles[1].startswith(Translator("bm")("workshop.sexuality"))
    assert slots_set(events) == {OFFER: [str(first), str(second)]}


# --- Reading her choice ---------------------------------------------------------------------


@pytest.fixture()
def offered(world: Workshops) -> list[int]:
    """Three sessions on three days: childbirth, breastfeeding, nutrition."""
    return [world.session("childbirth", in_days(2)), world.session("breastfeeding", in_days(3)),
            world.session("nutrition", in_days(4))]  # fmt: skip


def choose(
    domain: dict[str, Any], offered: list[int], reply: str, tries: float = 0.0,
    intent: str = "choose_option",
) -> tuple[list[str | None], dict[str, Any], list[dict[str, Any]]]:  # fmt: skip
    """Her reply to the list, through the booking form's validation action."""
    tracker = make_tracker(
        slots={OFFER: [str(i) for i in offered], TRIES: tries}, text=reply, intent=intent,
        candidates={SESSION: reply}, active_loop="booking_form",
    )  # fmt: skip
    dispatcher, events = run_action(ValidateBookingForm(), tracker, domain)
    return responses(dispatcher), slots_set(events), dispatcher.messages


@pytest.mark.parametrize(
    "reply", ["2", "deux", "le deuxieme", "el segundo", "a filanan", "l'allaitement", "lactancia"]
)
def test_the_choice_is_read_in_digits_number_words_and_topics(
    domain: dict[str, Any], offered: list[int], reply: str
) -> None:
    """"2", "deux", "le deuxième", "el segundo", "filanan" or the topic: the second session."""
    sent, slots, _ = choose(domain, offered, reply)
    assert sent == []
    assert slots == {SESSION: str(offered[1]), TRIES: 0.0}


def test_the_choice_is_read_as_a_weekday_or_a_date(
    domain: dict[str, Any], offered: list[int]
) -> None:
    """"lundi" or "le 14 décembre" names the session on that day."""
    third = in_days(4)
    by_day = choose(domain, offered, weekday(third))[1]
    by_date = choose(domain, offered, f"le {format_date(third, 'd MMMM', locale='fr')}")[1]
    assert by_day[SESSION] == by_date[SESSION] == str(offered[2])


def test_a_reply_fitting_two_sessions_is_asked_again(
    domain: dict[str, Any], world: Workshops
) -> None:
    """"allaitement" when two breastfeeding sessions are listed: "which number?"."""
    ids = [world.session("breastfeeding", in_days(2)), world.session("breastfeeding", in_days(3))]
    sent, slots, _ = choose(domain, ids, "allaitement")
    assert sent == ["utter_booking_ambiguous"]
    assert slots == {SESSION: None, TRIES: 1.0}


def test_a_number_off_the_list_says_how_many_there_are(
    domain: dict[str, Any], offered: list[int]
) -> None:
    """"7" with three sessions listed: "answer 1 to 3", the question stays open."""
    sent, slots, messages = choose(domain, offered, "7")
    assert sent == ["utter_booking_invalid"]
    assert messages[0]["count"] == 3
    assert slots == {SESSION: None, TRIES: 1.0}


def test_the_third_answer_not_understood_leaves_the_booking(
    domain: dict[str, Any], offered: list[int]
) -> None:
    """After two misses, a third one ends the form with nothing booked and no reproach."""
    sent, slots, _ = choose(domain, offered, "jsp", tries=2.0)
    assert sent == []
    assert slots == {SESSION: "stop", CONFIRM: "no"}


@pytest.mark.parametrize(("reply", "intent"), [("menu", "choose_option"), ("0", "choose_option"),
                                               ("laisse tomber", "deny"),
                                               ("je veux annuler", "cancel_booking")])  # fmt: skip
def test_menu_stop_or_cancel_leaves_the_booking(
    domain: dict[str, Any], offered: list[int], reply: str, intent: str
) -> None:
    """"menu", "0", "laisse" or asking to cancel: she leaves the booking at once."""
    sent, slots, _ = choose(domain, offered, reply, intent=intent)
    assert sent == []
    assert slots == {SESSION: "stop", CONFIRM: "no"}


def test_a_session_cancelled_since_the_list_was_shown_is_refused(
    domain: dict[str, Any], world: Workshops, offered: list[int]
) -> None:
    """She picks a session staff cancelled meanwhile: "no longer possible", the list again."""
    world.cancel_session(offered[0])
    sent, slots, _ = choose(domain, offered, "1")
    assert sent == ["utter_booking_closed"]
    assert slots == {SESSION: None}


# --- The confirmation ------------------------------------------------------------------------


def confirm(
    domain: dict[str, Any], reply: str, tries: float = 0.0, session: str = "12"
) -> dict[str, Any]:
    tracker = make_tracker(slots={SESSION: session, TRIES: tries}, text=reply,
                           candidates={CONFIRM: reply}, active_loop="booking_form")  # fmt: skip
    dispatcher, events = run_action(ValidateBookingForm(), tracker, domain)
    assert dispatcher.messages == []
    return slots_set(events)


@pytest.mark.parametrize(
    ("reply", "answer"),
    [("1", "yes"), ("oui", "yes"), ("si claro", "yes"), ("awɔ", "yes"), ("2", "no"),
     ("non merci", "no"), ("ayi", "no"), ("menu", "no")],
)  # fmt: skip
def test_the_confirmation_reads_yes_and_no_in_three_languages(
    domain: dict[str, Any], reply: str, answer: str
) -> None:
    """"1", "oui", "sí claro", "awɔ" confirm; "2", "non merci", "ayi", "menu" do not."""
    assert confirm(domain, reply) == {CONFIRM: answer}


def test_an_unclear_confirmation_is_asked_again_then_given_up(domain: dict[str, Any]) -> None:
    """"bof": asked again; the third unclear answer counts as no."""
    assert confirm(domain, "bof") == {CONFIRM: None, TRIES: 1.0}
    assert confirm(domain, "bof", tries=2.0) == {CONFIRM: "no"}


def test_no_confirmation_is_asked_once_she_left(domain: dict[str, Any]) -> None:
    """She left at the list: even a "oui" afterwards books nothing."""
    assert confirm(domain, "oui", session="stop") == {CONFIRM: "no"}


def test_the_confirmation_question_names_the_session(world: Workshops) -> None:
    """"Allaitement, <date> 12:00, Centre Bamako: 1 yes 2 no", in her language."""
    sid = world.session("breastfeeding", in_days(3))
    tracker = make_tracker(slots={SESSION: str(sid), "language": "es"})
    dispatcher, events = run_action(ActionAskBookingConfirm(), tracker)
    assert events == []
    [message] = dispatcher.messages
    spanish = Translator("es")
    assert message["response"] == "utter_booking_confirm"
    assert message["workshop"] == spanish("workshop.breastfeeding")
    assert message["place"] == "Centre Bamako, Bamako"
    assert "12:00" in message["when"]
    assert [(b["title"], b["payload"]) for b in message["buttons"]] == [
        (spanish("booking.yes"), "1"), (spanish("booking.no"), "2"),
    ]  # fmt: skip


def test_a_full_session_asks_about_the_waitlist(world: Workshops) -> None:
    """The last seat went: she is asked whether to join the waitlist instead."""
    sid = world.session(capacity=1)
    book(sid, "someone-else")
    dispatcher, _ = run_action(ActionAskBookingConfirm(), make_tracker(slots={SESSION: str(sid)}))
    assert responses(dispatcher) == ["utter_booking_full"]


def test_a_session_gone_from_the_database_is_asked_again(engine: Engine) -> None:
    """The chosen session no longer exists: nothing said, the choice is asked again."""
    dispatcher, events = run_action(ActionAskBookingConfirm(), make_tracker(slots={SESSION: "99"}))
    assert dispatcher.messages == []
    assert slots_set(events) == {SESSION: None}


# --- Booking ---------------------------------------------------------------------------------


def submit(slots: dict[str, Any]) -> tuple[Any, list[dict[str, Any]]]:
    return run_action(ActionBookingSubmit(), make_tracker(slots=slots))


def test_a_confirmed_choice_books_a_seat_and_gives_the_reference(
    world: Workshops, engine: Engine
) -> None:
    """"Booked! Your reference: K7Q2M": a seat is hers, stored under her conversation."""
    sid = world.session("nutrition")
    dispatcher, events = submit({SESSION: str(sid), CONFIRM: "yes", "language": "bm"})
    [(session_id, status, reference)] = bookings_of(engine)
    assert (session_id, status) == (sid, "booked")
    [message] = dispatcher.messages
    assert message["response"] == "utter_booking_booked"
    assert message["reference"] == reference
    assert message["workshop"] == Translator("bm")("workshop.nutrition")
    assert slots_set(events) == {SESSION: None, CONFIRM: None, TRIES: 0.0}


def test_a_full_session_puts_her_on_the_waitlist(world: Workshops, engine: Engine) -> None:
    """The session is full: she is told she is on the waitlist, not that she has a seat."""
    sid = world.session(capacity=1)
    book(sid, "someone-else")
    dispatcher, _ = submit({SESSION: str(sid), CONFIRM: "yes"})
    assert responses(dispatcher) == ["utter_booking_waitlisted"]
    assert [status for _, status, _ in bookings_of(engine)] == ["waitlisted"]


def test_booking_the_same_session_twice_gives_back_her_booking(
    world: Workshops, engine: Engine
) -> None:
    """A second "yes" (a double-tapped SMS): "you are already booked", one booking only."""
    sid = world.session()
    submit({SESSION: str(sid), CONFIRM: "yes"})
    dispatcher, _ = submit({SESSION: str(sid), CONFIRM: "yes"})
    [(_, _, reference)] = bookings_of(engine)
    assert responses(dispatcher) == ["utter_booking_already"]
    assert dispatcher.messages[0]["reference"] == reference


def test_a_no_books_nothing(world: Workshops, engine: Engine) -> None:
    """She answers no: "nothing was booked"."""
    sid = world.session()
    dispatcher, events = submit({SESSION: str(sid), CONFIRM: "no"})
    assert responses(dispatcher) == ["utter_booking_not_booked"]
    assert bookings_of(engine) == []
    assert slots_set(events) == {SESSION: None, CONFIRM: None, TRIES: 0.0}


def test_leaving_the_booking_shows_the_main_menu(engine: Engine) -> None:
    """She wrote "menu" during the booking: the main menu, nothing booked."""
    dispatcher, events = submit({SESSION: "stop", CONFIRM: "no"})
    assert responses(dispatcher) == ["utter_help"]
    assert len(dispatcher.messages[0]["buttons"]) == len(MENUS["main"])
    assert slots_set(events)["menu"] == "main"
    assert bookings_of(engine) == []


def test_a_session_closed_while_she_confirmed_shows_the_list_again(
    world: Workshops, engine: Engine
) -> None:
    """Cancelled between her choice and her "yes": "no longer possible", then the list."""
    sid = world.session()
    world.cancel_session(sid)
    dispatcher, events = submit({SESSION: str(sid), CONFIRM: "yes"})
    assert responses(dispatcher) == ["utter_booking_closed"]
    assert followups(events) == ["action_booking_start"]
    assert bookings_of(engine) == []


# --- Her bookings and cancelling -------------------------------------------------------------


def test_her_bookings_are_listed_with_references_and_waitlist_status(world: Workshops) -> None:
    """"Mis talleres: K7Q2M: Lactancia ... - lista de espera", in Spanish."""
    full = world.session("breastfeeding", in_days(3), capacity=1)
    book(full, "someone-else")
    seat, waiting = book(world.session("nutrition", in_days(2))), book(full)
    dispatcher, events = run_action(ActionMyBookings(), make_tracker(slots={"language": "es"}))
    assert responses(dispatcher) == ["utter_booking_mine"]
    first, second = dispatcher.messages[0]["bookings"].split("\n")
    spanish = Translator("es")
    assert first.startswith(f"{seat}: {spanish('workshop.nutrition')}")
    assert second.startswith(f"{waiting}: {spanish('workshop.breastfeeding')}")
    assert second.endswith(spanish("booking.status.waitlisted"))
    assert not first.endswith(spanish("booking.status.waitlisted"))
    assert slots_set(events) == {"menu": None}


def test_without_bookings_she_is_told_she_has_none(engine: Engine) -> None:
    """"My bookings" or "cancel" with nothing booked: "you have no booking"."""
    for action in (ActionMyBookings(), ActionCancelBooking()):
        dispatcher, events = run_action(action, make_tracker(text="annuler"))
        assert responses(dispatcher) == ["utter_booking_mine_none"]
        assert slots_set(events) == {"menu": None}


def test_cancelling_her_only_booking_needs_no_question(world: Workshops, engine: Engine) -> None:
    """One booking: "ANNULER" cancels it and tells her which one."""
    mine = book(world.session())
    dispatcher, events = run_action(ActionCancelBooking(), make_tracker(text="ANNULER"))
    assert responses(dispatcher) == ["utter_booking_cancelled"]
    assert dispatcher.messages[0]["reference"] == mine
    assert status(engine, mine) == "cancelled"
    assert followups(events) == []


def test_cancel_naming_a_reference_or_a_topic_cancels_that_one(
    world: Workshops, engine: Engine
) -> None:
    """Two bookings: "annuler <reference>" or "annuler l'accouchement" picks the right one."""
    birth = book(world.session("childbirth", in_days(2)))
    food_session = world.session("nutrition", in_days(3))
    food = book(food_session)
    run_action(ActionCancelBooking(), make_tracker(text=f"annuler {food.lower()}"))
    assert (status(engine, food), status(engine, birth)) == ("cancelled", "booked")
    book(food_session)
    run_action(ActionCancelBooking(), make_tracker(text="annuler l'accouchement"))
    assert status(engine, birth) == "cancelled"


def test_cancel_with_two_bookings_asks_which_one(world: Workshops, engine: Engine) -> None:
    """Two bookings and "annuler 2" (a number is no position here): the question which."""
    book(world.session(starts_at=in_days(2)))
    book(world.session(starts_at=in_days(3)))
    dispatcher, events = run_action(ActionCancelBooking(), make_tracker(text="annuler 2"))
    assert dispatcher.messages == []
    assert followups(events) == ["cancel_form"]
    assert slots_set(events) == {CANCEL: None, TRIES: 0.0, "menu": None}
    assert [status for _, status, _ in bookings_of(engine)] == ["booked", "booked"]


def test_cancel_answering_a_reminder_cancels_the_reminded_booking(
    world: Workshops, engine: Engine
) -> None:
    """"ANNULER" right after the reminder of her second booking cancels that one."""
    first = book(world.session(starts_at=in_days(2)))
    second = book(world.session(starts_at=in_days(3)))
    [booking] = rows(engine, "bookings", reference=second)
    [reminder] = rows(engine, "booking_notices", booking_id=booking["id"], kind="reminder")
    change(engine, "booking_notices", reminder["id"], outcome="sent", sent_at=utcnow())
    dispatcher, _ = run_action(ActionCancelBooking(), make_tracker(text="ANNULER"))
    assert dispatcher.messages[0]["reference"] == second
    assert (status(engine, first), status(engine, second)) == ("booked", "cancelled")


def test_which_booking_lists_hers_as_buttons(world: Workshops) -> None:
    """The question which booking: one button per booking, carrying its reference."""
    mine = [book(world.session(starts_at=in_days(2))), book(world.session(starts_at=in_days(3)))]
    dispatcher, events = run_action(ActionAskCancelChoice(), make_tracker())
    assert responses(dispatcher) == ["utter_booking_cancel_which"]
    buttons = dispatcher.messages[0]["buttons"]
    assert [b["title"].split(":")[0] for b in buttons] == mine
    assert [b["payload"] for b in buttons] == [
        f'/cancel_booking{{"booking_ref": "{reference}"}}' for reference in mine
    ]
    assert events == []


@pytest.fixture()
def two_booked(world: Workshops) -> list[str]:
    """Her references: childbirth in two days, nutrition in three."""
    return [book(world.session("childbirth", in_days(2))),
            book(world.session("nutrition", in_days(3)))]  # fmt: skip


def which(domain: dict[str, Any], reply: str, tries: float = 0.0) -> dict[str, Any]:
    """Her answer to "which booking?", through the cancel form's validation action."""
    tracker = make_tracker(slots={TRIES: tries}, text=reply, candidates={CANCEL: reply},
                           active_loop="cancel_form")  # fmt: skip
    dispatcher, events = run_action(ValidateCancelForm(), tracker, domain)
    assert dispatcher.messages == []
    return slots_set(events)


@pytest.mark.parametrize("reply", ["2", "la deuxieme", "dos", "la nutrition"])
def test_which_booking_is_read_as_a_number_or_words(
    domain: dict[str, Any], two_booked: list[str], reply: str
) -> None:
    """Answering the list: "2", "la deuxième", "dos" or the topic names the second booking."""
    assert which(domain, reply) == {CANCEL: two_booked[1], TRIES: 0.0}


def test_which_booking_gives_up_on_menu_or_the_third_miss(
    domain: dict[str, Any], two_booked: list[str]
) -> None:
    """"menu" leaves at once; an answer it cannot place is asked again, twice at most."""
    assert which(domain, "menu") == {CANCEL: "stop"}
    assert which(domain, "euh") == {CANCEL: None, TRIES: 1.0}
    assert which(domain, "euh", tries=2.0) == {CANCEL: "stop"}


def test_the_chosen_booking_is_cancelled(two_booked: list[str], engine: Engine) -> None:
    """The form filled: "cancelled: <workshop>, <reference>", that booking only."""
    first, second = two_booked
    tracker = make_tracker(slots={CANCEL: second, TRIES: 1.0})
    dispatcher, events = run_action(ActionCancelSubmit(), tracker)
    assert responses(dispatcher) == ["utter_booking_cancelled"]
    assert dispatcher.messages[0]["reference"] == second
    assert (status(engine, first), status(engine, second)) == ("booked", "cancelled")
    assert slots_set(events) == {CANCEL: None, TRIES: 0.0, "menu": None}


def test_cancelling_given_up_shows_the_main_menu(two_booked: list[str], engine: Engine) -> None:
    """She left the question: the main menu, nothing cancelled."""
    dispatcher, events = run_action(ActionCancelSubmit(), make_tracker(slots={CANCEL: "stop"}))
    assert responses(dispatcher) == ["utter_help"]
    assert slots_set(events)["menu"] == "main"
    assert [status(engine, reference) for reference in two_booked] == ["booked", "booked"]


def test_a_booking_cancelled_meanwhile_shows_her_bookings_as_they_are(
    two_booked: list[str], world: Workshops
) -> None:
    """Already cancelled, or someone else's: no error text, her bookings as they are now."""
    run_action(ActionCancelSubmit(), make_tracker(slots={CANCEL: two_booked[0]}))
    others = book(world.session(starts_at=in_days(5)), "someone-else")
    for reference in (two_booked[0], others):
        dispatcher, events = run_action(ActionCancelSubmit(),
                                        make_tracker(slots={CANCEL: reference}))  # fmt: skip
        assert dispatcher.messages == []
        assert followups(events) == ["action_my_bookings"]


def test_cancel_raced_by_staff_shows_her_bookings_as_they_are(
    world: Workshops, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """"ANNULER" while staff cancel the session (or it begins) between the reading and the
    cancellation: no crash, no error text, her bookings as they are now."""

    def raced(self: BookingService, reference: str, participant: str) -> Any:
        raise SessionClosed("the session has started or is cancelled")

    mine = book(world.session())
    monkeypatch.setattr(BookingService, "cancel", raced)
    dispatcher, events = run_action(ActionCancelBooking(), make_tracker(text="ANNULER"))
    assert dispatcher.messages == []
    assert followups(events) == ["action_my_bookings"]
    assert status(engine, mine) == "booked"
