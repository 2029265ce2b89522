"""Booking through the real stack (REST channel, Rasa, the action server), in each language:
the list, a choice in words, a wrong number, the confirmation, the reference, her bookings,
cancelling; a full session and the waitlist; an emergency in the middle of a booking.

Sessions are imported into the stack's own database for each test and cancelled after it.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import select

from bot.booking.models import Booking
from bot.booking.notices import BookingNotice
from bot.booking.service import BookingService
from bot.channels.sandbox import Sandbox, post
from bot.channels.store import ChannelStore
from bot.db.base import utcnow
from bot.launcher import LocalStack
from tests.support.conversation import GREETINGS, Conversation
from tests.support.env import CHANNEL_ENV

pytestmark = pytest.mark.stack

ASK = {"fr": "inscris moi a latelier allaitement stp", "es": "kiero apuntarme a la charla",
       "bm": "n b'a fe ka n togo seben atelier la"}  # fmt: skip
TOPIC_WORD = {"fr": "l'allaitement", "es": "lactancia", "bm": "sinji"}
YES = {"fr": "oui", "es": "si", "bm": "awo"}
MINE = {"fr": "c quand mon atelier deja", "es": "cuando era mi charla de lactancia?",
        "bm": "n ka atelierw"}  # fmt: skip
CANCEL = {"fr": "je pourrai pas venir a latelier", "es": "oe cancela mi charla",
          "bm": "n b'a fe ka n ka inscription annuler"}  # fmt: skip


def bookings_of(schedule: dict[str, Any], participant: str) -> list[Any]:
    with schedule["engine"].connect() as connection:
        return list(connection.execute(
            select(Booking.id, Booking.reference, Booking.status)
            .where(Booking.participant == participant)))  # fmt: skip


@pytest.mark.parametrize("language", ["fr", "es", "bm"])
def test_book_a_workshop_see_it_and_cancel_it(
    stack: LocalStack, schedule: dict[str, Any], language: str
) -> None:
    chat = Conversation(stack)
    chat.expect(GREETINGS[language], "utter_greet", language=language)
    replies = chat.expect(ASK[language], "utter_booking_list", language=language)
    titles = [b["title"] for b in replies[0]["buttons"]]
    assert 2 <= len(titles) <= 4
    count = len(titles)
    chat.expect(str(count + 40), "utter_booking_invalid", "utter_booking_list", language=language)
    replies = chat.expect(TOPIC_WORD[language], "utter_booking_confirm", language=language)
    assert [b["payload"] for b in replies[0]["buttons"]] == ["1", "2"]
    replies = chat.expect(YES[language], "utter_booking_booked", language=language)
    [(booking_id, reference, status)] = bookings_of(schedule, chat.sender)
    assert status == "booked" and reference in replies[0]["text"]
    with schedule["engine"].connect() as connection:
        reminders = list(connection.execute(select(BookingNotice.kind, BookingNotice.due_at)
                                            .where(BookingNotice.booking_id == booking_id)))
    assert [kind for kind, _ in reminders] == ["reminder"]
    replies = chat.expect(MINE[language], "utter_booking_mine", language=language)
    assert reference in replies[0]["text"]
    # Asking to book the same session again gives back her booking, not a second one.
    chat.expect(ASK[language], "utter_booking_list", language=language)
    chat.expect(TOPIC_WORD[language], "utter_booking_confirm", language=language)
    chat.expect("1", "utter_booking_already", language=language)
    replies = chat.expect(CANCEL[language], "utter_booking_cancelled", language=language)
    assert reference in replies[0]["text"]
    assert bookings_of(schedule, chat.sender)[0][2] == "cancelled"


def test_a_full_session_offers_the_waitlist_and_a_freed_seat_goes_to_her(
    stack: LocalStack, schedule: dict[str, Any]
) -> None:
    service: BookingService = schedule["service"]
    first = service.book(f"full-{schedule['tag']}", f"someone-{schedule['tag']}")
    assert first.status == "booked"
    chat = Conversation(stack)
    chat.expect("bonjour", "utter_greet", language="fr")
    chat.expect("je veux participer a un atelier", "utter_booking_list", language="fr")
    chat.expect("preparation a l accouchement", "utter_booking_full", language="fr")
    chat.expect("oui", "utter_booking_waitlisted", language="fr")
    [(booking_id, _, status)] = bookings_of(schedule, chat.sender)
    assert status == "waitlisted"
    _, promoted = service.cancel(first.reference)
    assert promoted is not None and promoted.id == booking_id and promoted.status == "booked"
    with schedule["engine"].connect() as connection:
        kinds = list(connection.scalars(select(BookingNotice.kind)
                                        .where(BookingNotice.booking_id == booking_id)))
    assert "promoted" in kinds


def test_a_booking_can_be_left_and_an_emergency_interrupts_it(
    stack: LocalStack, schedule: dict[str, Any]
) -> None:
    chat = Conversation(stack)
    chat.expect("hola", "utter_greet", language="es")
    chat.expect(ASK["es"], "utter_booking_list", language="es")
    chat.expect("menu", "utter_help", language="es")  # left: the main menu, nothing booked
    assert bookings_of(schedule, chat.sender) == []
    chat.expect(ASK["es"], "utter_booking_list", language="es")
    replies = chat.say("ya no aguanto, me quiero matar")
    sent = [e["metadata"].get("utter_action") for e in chat.new_bot_events()]
    assert sent == ["utter_emergency_suicide", "utter_emergency_ask_country"], sent
    # The booking is left; the question now open is where she is (the REST channel does
    # not tell her country).
    assert replies and chat.tracker().get("active_loop", {}).get("name") == "country_form"
    assert bookings_of(schedule, chat.sender) == []


def test_a_reminder_due_while_the_server_was_down_goes_out_once_after_it_is_back(
    channels: Sandbox, schedule: dict[str, Any], tmp_path: Path
) -> None:
    """The real server: a reminder falls due while it is stopped; after the restart it is
    sent once, by SMS, in her language."""
    phone = f"+5190400{uuid.uuid4().int % 10000:04d}"
    assert post(*channels.sms_request(phone, "hola"))[0] == 200
    deadline = time.monotonic() + 30
    while not channels.sms_to(phone) and time.monotonic() < deadline:
        time.sleep(0.2)
    tag = schedule["tag"]
    starts = (utcnow() + timedelta(hours=24, seconds=12)).astimezone(ZoneInfo("Africa/Bamako"))
    path = tmp_path / "soon.yml"
    path.write_text(yaml.safe_dump({"sessions": [{
        "code": f"soon-{tag}", "workshop": f"nutrition-{tag}", "venue": f"v-{tag}",
        "language": "es", "duration_minutes": 60, "capacity": 5,
        "starts_at": starts.strftime("%Y-%m-%d %H:%M:%S")}]}), encoding="utf-8")  # fmt: skip
    service: BookingService = schedule["service"]
    service.import_schedule(path)
    who = ChannelStore(schedule["engine"], CHANNEL_ENV["PSEUDONYM_KEY"].encode()).pseudonym(
        "sms", phone)  # fmt: skip
    booking = service.book(f"soon-{tag}", who)
    before = len(channels.sms_to(phone))
    channels.stack.kill()  # down hard, as in a power cut
    try:
        time.sleep(max(0.0, (booking.session.starts_at - timedelta(hours=24)
                             - utcnow()).total_seconds()) + 2)  # fmt: skip
        assert len(channels.sms_to(phone)) == before  # nobody sent it while down
    finally:
        channels.stack.start()
    deadline = time.monotonic() + 30
    while len(channels.sms_to(phone)) == before and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(5)  # time enough for a second sending, were there one
    sent = " ".join(channels.sms_to(phone)[before:])
    assert booking.reference in sent and sent.count(booking.reference) == 1
    with schedule["engine"].connect() as connection:
        outcome = connection.scalar(select(BookingNotice.outcome)
                                    .where(BookingNotice.booking_id == booking.id))
    assert outcome == "sent"
    service.cancel_session(f"soon-{tag}")


def test_a_session_cancelled_after_the_list_was_shown_is_refused_and_the_list_shown_again(
    stack: LocalStack, schedule: dict[str, Any]
) -> None:
    chat = Conversation(stack)
    chat.expect("bonjour", "utter_greet", language="fr")
    replies = chat.expect(ASK["fr"], "utter_booking_list", language="fr")
    shown = len(replies[0]["buttons"])
    schedule["service"].cancel_session(f"fr-nutrition-{schedule['tag']}")
    replies = chat.expect("latelier nutrition", "utter_booking_closed", "utter_booking_list",
                          language="fr")  # fmt: skip
    assert len(replies[1]["buttons"]) == shown - 1
    assert bookings_of(schedule, chat.sender) == []


def test_which_booking_to_cancel_is_answered_in_words(
    stack: LocalStack, schedule: dict[str, Any]
) -> None:
    """With two bookings, "annuler" asks which one; she answers with the topic or the day,
    and an answer it cannot place gets the numbered list again (never the fallback)."""
    service: BookingService = schedule["service"]
    chat = Conversation(stack)
    chat.expect("bonjour", "utter_greet", language="fr")
    for topic in ("breastfeeding", "nutrition"):
        service.book(f"fr-{topic}-{schedule['tag']}", chat.sender)
    chat.expect("annuler", "utter_booking_cancel_which", language="fr")
    chat.expect("bof euh", "utter_booking_cancel_which", language="fr")
    chat.expect("nutrition", "utter_booking_cancelled", language="fr")
    statuses = {status for _, _, status in bookings_of(schedule, chat.sender)}
    assert statuses == {"booked", "cancelled"}
    assert [b.session.topic for b in service.bookings_of(chat.sender)] == ["breastfeeding"]


def test_an_emergency_interrupts_the_question_which_booking_to_cancel(
    stack: LocalStack, schedule: dict[str, Any]
) -> None:
    service: BookingService = schedule["service"]
    chat = Conversation(stack)
    chat.expect("hola", "utter_greet", language="es")
    for topic in ("breastfeeding", "nutrition"):
        service.book(f"es-{topic}-{schedule['tag']}", chat.sender)
    chat.expect("cancelar", "utter_booking_cancel_which", language="es")
    chat.expect("me quiero matar", "utter_emergency_suicide", "utter_emergency_ask_country",
                language="es")  # fmt: skip
    assert chat.tracker()["active_loop"].get("name") == "country_form"
    assert {status for _, _, status in bookings_of(schedule, chat.sender)} == {"booked"}
