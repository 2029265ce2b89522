"""Booking notices sent outside conversations: a reminder before the session, a freed seat,
a cancelled session. Real database (SQLite and PostgreSQL), real Twilio client against the
stand-in, a manual clock; two senders on one database stand for two server instances, a new
sender for a restart."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import uuid
from collections.abc import Coroutine, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from sqlalchemy.engine import Engine

from bot.booking import dialogue
from bot.booking.errors import BookingError
from bot.booking.notices import last_reminded
from bot.booking.sender import NoticeSender
from bot.booking.service import BookingService
from bot.channels.clients import close_twilio_client
from bot.channels.outbound import Outbox, SmsSender
from bot.channels.store import ChannelStore
from bot.gsm7 import encode
from bot.i18n import Translator
from tests.support.clock import ManualClock
from tests.support.env import CHANNEL_ENV
from tests.support.standins import StandIns

_phones = itertools.count(1)
T = TypeVar("T")


_sms_senders: list[SmsSender] = []  # their Twilio sessions are closed after each run()


def sender(engine: Engine, standins: StandIns, clock: ManualClock) -> NoticeSender:
    settings = standins.settings()
    store = ChannelStore(engine, settings.pseudonym_key, clock)
    sms = SmsSender(settings, store)
    _sms_senders.append(sms)
    return NoticeSender(engine, store, Outbox(store, {"sms": sms}), clock)


def run(work: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run``, closing in that loop the Twilio sessions the senders opened in it."""

    async def closing() -> T:
        try:
            return await work
        finally:
            for sms in _sms_senders:
                if sms._client is not None:
                    await close_twilio_client(sms._client)

    return asyncio.run(closing())


@pytest.fixture()
def world(isolated: Engine, tmp_path: Path) -> Iterator[dict]:
    """A session in Lima starting in 30 hours (its reminder falls due in 6), and a clock."""
    clock, tag = ManualClock(), uuid.uuid4().hex[:8]
    starts = (clock.now + timedelta(hours=30)).astimezone()
    schedule = {
        "venues": [{"code": f"v{tag}", "name": "Casa Santa Rosa", "city": "Lima",
                    "country": "PE", "timezone": "America/Lima"}],
        "workshops": [{"code": f"w{tag}", "topic": "breastfeeding",
                       "facilitator_role": "midwife", "languages": ["es"]}],
        "sessions": [{"code": f"s{tag}", "workshop": f"w{tag}", "venue": f"v{tag}",
                      "language": "es", "duration_minutes": 90, "capacity": 1,
                      "starts_at": starts.isoformat(timespec="minutes")}],
    }  # fmt: skip
    path = tmp_path / "schedule.yml"
    path.write_text(yaml.safe_dump(schedule), encoding="utf-8")
    service = BookingService(isolated, clock=clock)
    service.import_schedule(path)
    yield {"clock": clock, "service": service, "code": f"s{tag}", "engine": isolated}
    with contextlib.suppress(BookingError):  # some tests cancel it themselves
        service.cancel_session(f"s{tag}")


def participant(engine: Engine, clock: ManualClock) -> tuple[str, str]:
    store = ChannelStore(engine, CHANNEL_ENV["PSEUDONYM_KEY"].encode(), clock)
    phone = f"+5190300{next(_phones):04d}"
    contact = store.contact("sms", phone, country="PE")
    store.set_language(contact.id, "es")
    return contact.id, phone


def texts_to(standins: StandIns, phone: str) -> str:
    """Everything sent to ``phone``, its SMS parts joined (a long notice is two SMS)."""
    return " ".join(m["body"] for m in standins.twilio.messages if m["to"] == phone)


def expected(kind: str, service: BookingService, reference: str, key: str = "") -> str:
    """The notice as her SMS carries it: ``dialogue.NOTICES[kind]``, or the catalog ``key``."""
    booking = service.booking(reference)
    translate = Translator("es")
    view = booking.session
    return encode(translate(key or dialogue.NOTICES[kind], workshop=dialogue.topic(view, translate),
                            place=dialogue.place(view), when=dialogue.when(view, "es"),
                            reference=reference)).text  # fmt: skip


def test_a_reminder_due_while_the_server_was_down_goes_out_once(
    standins: StandIns, world: dict
) -> None:
    clock, service, engine = world["clock"], world["service"], world["engine"]
    who, phone = participant(engine, clock)
    booking = service.book(world["code"], who)
    before = sender(engine, standins, clock)
    assert run(before.run_once()) == 0  # not due yet
    clock.now += timedelta(hours=8)  # the server was down when it fell due (6 h)
    one, two = sender(engine, standins, clock), sender(engine, standins, clock)  # restarted x2

    async def both() -> list[int]:
        return list(await asyncio.gather(one.run_once(), two.run_once()))

    assert sorted(run(both())) == [0, 1]  # one instance took it
    assert run(one.run_once()) == 0
    sent = texts_to(standins, phone)
    assert sent == expected("reminder", service, booking.reference)
    assert "CANCELAR" in sent  # replying "cancel" to a reminder is how she cancels


def test_a_freed_seat_is_told_and_a_cancelled_reminder_is_not_sent(
    standins: StandIns, world: dict
) -> None:
    clock, service, engine = world["clock"], world["service"], world["engine"]
    (first, first_phone), (second, second_phone) = (participant(engine, clock),
                                                    participant(engine, clock))  # fmt: skip
    seat = service.book(world["code"], first)
    waiting = service.book(world["code"], second)
    assert (seat.status, waiting.status) == ("booked", "waitlisted")
    service.cancel(seat.reference, first)
    notices = sender(engine, standins, clock)
    run(notices.run_once())
    promoted = expected("promoted", service, waiting.reference)
    assert texts_to(standins, second_phone) == promoted
    clock.now += timedelta(hours=8)
    run(sender(engine, standins, clock).run_once())  # (a client per event loop)
    assert texts_to(standins, first_phone) == ""  # her reminder died with her booking
    reminder = expected("reminder", service, waiting.reference)
    assert texts_to(standins, second_phone) == f"{promoted} {reminder}"  # and hers came


def test_a_cancelled_session_tells_everyone_booked_or_waiting(
    standins: StandIns, world: dict
) -> None:
    clock, service, engine = world["clock"], world["service"], world["engine"]
    people = [participant(engine, clock) for _ in range(3)]
    references = [service.book(world["code"], who).reference for who, _ in people]
    service.cancel_session(world["code"])
    run(sender(engine, standins, clock).run_once())
    for (_, phone), reference in zip(people, references, strict=True):
        assert texts_to(standins, phone) == expected("session_cancelled", service, reference)
    clock.now += timedelta(hours=8)
    run(sender(engine, standins, clock).run_once())
    for (_, phone), reference in zip(people, references, strict=True):  # and no reminder
        assert texts_to(standins, phone) == expected("session_cancelled", service, reference)


def timed(world: dict, tmp_path: Path, code: str, later: timedelta, capacity: int) -> None:
    """Import session ``code`` of the world's workshop, ``later`` after its first session:
    a new session, or a new time (and capacity) for an existing one."""
    service = world["service"]
    session = service.session(world["code"])
    path = tmp_path / f"{code}.yml"
    starts = (session.starts_at + later).astimezone()
    path.write_text(yaml.safe_dump({"sessions": [{
        "code": code, "workshop": session.workshop_code, "venue": session.venue_code,
        "language": "es", "duration_minutes": 90, "capacity": capacity,
        "starts_at": starts.isoformat(timespec="minutes")}]}), encoding="utf-8")  # fmt: skip
    service.import_schedule(path)


def test_cancel_in_answer_to_a_reminder_means_the_reminded_booking(
    standins: StandIns, world: dict, tmp_path: Path
) -> None:
    clock, service, engine = world["clock"], world["service"], world["engine"]
    later = world["code"] + "-later"
    timed(world, tmp_path, later, timedelta(days=7), capacity=5)
    who, _ = participant(engine, clock)
    soon, other = service.book(world["code"], who), service.book(later, who)
    assert last_reminded(engine, who, clock.now - timedelta(days=2)) is None
    clock.now += timedelta(hours=8)
    run(sender(engine, standins, clock).run_once())
    assert last_reminded(engine, who, clock.now - timedelta(days=2)) == soon.id != other.id
    service.cancel_session(later)


def test_a_move_and_a_new_time_are_told_seat_or_waitlist(
    standins: StandIns, world: dict, tmp_path: Path
) -> None:
    """Staff move her place, then the session's time changes: she is told each at once, in
    her language; a waitlisted participant is told she is still waiting (not to come)."""
    clock, service, engine = world["clock"], world["service"], world["engine"]
    later = world["code"] + "-later"
    timed(world, tmp_path, later, timedelta(days=7), capacity=1)
    (awa, awa_phone), (bety, bety_phone) = (participant(engine, clock),
                                            participant(engine, clock))  # fmt: skip
    mine = service.book(world["code"], awa)
    service.move(mine.reference, later)  # the later session's only seat
    theirs = service.book(world["code"], bety)  # the seat Awa left
    service.move(theirs.reference, later)  # full: its waitlist
    assert [service.booking(b.id).status for b in (mine, theirs)] == ["booked", "waitlisted"]
    run(sender(engine, standins, clock).run_once())
    seat = expected("moved", service, mine.reference)
    queued = expected("moved", service, theirs.reference, key="booking.moved_waitlisted")
    assert texts_to(standins, awa_phone) == seat
    assert texts_to(standins, bety_phone) == queued
    # "CANCELAR" now means the booking she was told about.
    assert last_reminded(engine, awa, clock.now - timedelta(hours=1)) == mine.id

    clock.now += timedelta(hours=1)
    timed(world, tmp_path, later, timedelta(days=7, hours=2), capacity=1)
    run(sender(engine, standins, clock).run_once())
    new_time = expected("rescheduled", service, mine.reference)
    still_waiting = expected("rescheduled", service, theirs.reference,
                             key="booking.rescheduled_waitlisted")  # fmt: skip
    assert texts_to(standins, awa_phone) == f"{seat} {new_time}"
    assert texts_to(standins, bety_phone) == f"{queued} {still_waiting}"
    # Her reminder follows the new time: not sent at the old one, sent once at the new one.
    clock.now = service.session(later).starts_at - timedelta(hours=24, minutes=5)
    run(sender(engine, standins, clock).run_once())
    assert texts_to(standins, awa_phone) == f"{seat} {new_time}"
    clock.now += timedelta(minutes=10)
    run(sender(engine, standins, clock).run_once())
    reminder = expected("reminder", service, mine.reference)
    assert texts_to(standins, awa_phone) == f"{seat} {new_time} {reminder}"
    assert texts_to(standins, bety_phone) == f"{queued} {still_waiting}"  # no seat, no reminder
    service.cancel_session(later)
