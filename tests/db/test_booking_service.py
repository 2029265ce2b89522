"""Workshop bookings on SQLite and PostgreSQL: seats and the waitlist, duplicates, closed
sessions, cancellations with promotion, cancelled sessions, moves, attendance, rosters,
notices (reminders, promotions, cancellations, obsolete ones), schedule imports, and the
races: fifty participants on the last five seats, cancellations against bookings."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot import PROJECT_ROOT
from bot.booking.errors import BookingError, NotFound, SessionClosed
from bot.booking.models import (
    TOPICS,
    Booking,
    Venue,
    Workshop,
    WorkshopSession,
    utc,
)
from bot.booking.notices import BookingNotice
from bot.booking.schedule_file import load_schedule
from bot.booking.service import ALPHABET, BookingService
from tests.support.clock import ManualClock

UTC = timezone.utc
NOW = datetime(2026, 11, 30, 10, tzinfo=UTC)  # a Monday
DAY = timedelta(days=1)
EXAMPLE = PROJECT_ROOT / "bot" / "booking" / "schedule.example.yml"




@pytest.fixture
def db(isolated: Engine) -> Engine:
    """The booking tables to this test alone (a schema of its own on the shared PostgreSQL):
    codes are unique, and the races count every row."""
    return isolated


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOW)


@pytest.fixture
def service(db: Engine, clock: ManualClock) -> BookingService:
    return BookingService(db, clock=clock)


class World:
    """Venues, workshops and sessions written straight into the tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        with Session(engine, future=True) as s, s.begin():
            for code, city, country, zone in [
                ("bko", "Bamako", "ML", "Africa/Bamako"),
                ("lima", "Lima", "PE", "America/Lima"),
                ("paris", "Paris", "FR", "Europe/Paris"),
            ]:
                s.add(Venue(code=code, name=f"Centre {city}", city=city, country=country,
                            timezone=zone, updated_at=NOW))  # fmt: skip
            s.add(Workshop(code="birth", topic="childbirth", facilitator_role="midwife",
                           languages="fr,es,bm", updated_at=NOW))  # fmt: skip

    def session(
        self, code: str, starts_in: timedelta = 3 * DAY, capacity: int = 2,
        language: str = "fr", venue: str = "bko", status: str = "scheduled",
    ) -> int:  # fmt: skip
        with Session(self.engine, future=True) as s, s.begin():
            row = WorkshopSession(
                code=code, starts_at=NOW + starts_in, duration_minutes=120, capacity=capacity,
                booked_count=0, language=language, status=status, updated_at=NOW,
                workshop_id=s.scalar(select(Workshop.id).where(Workshop.code == "birth")),
                venue_id=s.scalar(select(Venue.id).where(Venue.code == venue)),
            )  # fmt: skip
            s.add(row)
            s.flush()
            return int(row.id)


@pytest.fixture
def world(db: Engine) -> World:
    return World(db)


def notices(engine: Engine, booking_id: int) -> list[tuple[str, datetime, str | None]]:
    """(kind, due, outcome) of a booking's notices, oldest first."""
    with Session(engine, future=True) as s:
        rows = s.scalars(
            select(BookingNotice).where(BookingNotice.booking_id == booking_id)
            .order_by(BookingNotice.id)
        )  # fmt: skip
        return [(n.kind, utc(n.due_at), n.outcome) for n in rows]


def pending(engine: Engine, booking_id: int) -> list[tuple[str, datetime]]:
    """The notices still to send."""
    return [(kind, due) for kind, due, outcome in notices(engine, booking_id) if outcome is None]


def seats(engine: Engine, session_id: int) -> tuple[int, int, int]:
    """(booked_count, seated bookings, waitlisted bookings) as stored."""
    with Session(engine, future=True) as s:
        count = s.scalar(select(WorkshopSession.booked_count).where(WorkshopSession.id ==
                                                                   session_id))  # fmt: skip

        def n(*statuses: str) -> int:
            return int(s.scalar(select(func.count()).select_from(Booking).where(
                Booking.session_id == session_id, Booking.status.in_(statuses))) or 0)  # fmt: skip

        return int(count or 0), n("booked", "attended", "no_show"), n("waitlisted")


# --- Booking ----------------------------------------------------------------------------------


def test_seats_then_the_waitlist_with_reminders(
    service: BookingService, world: World, db: Engine
) -> None:
    sid = world.session("s-seats", starts_in=3 * DAY, capacity=2)
    awa, binta = service.book(sid, "sms-awa"), service.book(sid, "tg-binta")
    chata, dado = service.book(sid, "sms-chata"), service.book(sid, "sms-dado")
    assert [b.status for b in (awa, binta, chata, dado)] == [
        "booked", "booked", "waitlisted", "waitlisted",
    ]  # fmt: skip
    assert [b.waitlist_position for b in (awa, binta, chata, dado)] == [None, None, 1, 2]
    assert (awa.session.seats_left, binta.session.seats_left, dado.session.seats_left) == (1, 0, 0)
    assert not any(b.already for b in (awa, binta, chata, dado))
    assert seats(db, sid) == (2, 2, 2)
    # A reminder 24 hours before the start, for a seat only.
    start = NOW + 3 * DAY
    assert notices(db, awa.id) == [("reminder", start - DAY, None)]
    assert notices(db, binta.id) == [("reminder", start - DAY, None)]
    assert notices(db, chata.id) == notices(db, dado.id) == []
    # References: five letters or digits of the unambiguous alphabet, all different.
    references = {b.reference for b in (awa, binta, chata, dado)}
    assert len(references) == 4
    assert all(re.fullmatch(f"[{ALPHABET}]{{5}}", r) for r in references)
    assert not set("01OI") & set("".join(references))
    assert awa.session.code == "s-seats" and awa.session.venue_timezone == "Africa/Bamako"
    assert awa.session.starts_at == start and awa.session.starts_at.tzinfo is not None
    assert awa.created_at == awa.joined_at == NOW and awa.created_at.tzinfo is not None


def test_booking_again_gives_back_the_same_booking(
    service: BookingService, world: World, db: Engine
) -> None:
    sid = world.session("s-again", capacity=1)
    first = service.book(sid, "sms-awa")
    again = service.book(sid, "sms-awa")
    assert again.already and not first.already
    assert (again.id, again.reference, again.status) == (first.id, first.reference, "booked")
    waiting = service.book(sid, "sms-binta")
    assert service.book(sid, "sms-binta").id == waiting.id
    assert seats(db, sid) == (1, 1, 1)
    assert len(notices(db, first.id)) == 1  # no second reminder
    # Cancelled, she may book again: a new booking.
    service.cancel(first.reference)
    service.cancel(waiting.reference)
    anew = service.book(sid, "sms-awa")
    assert anew.id != first.id and anew.status == "booked" and not anew.already


def test_the_database_refuses_a_second_active_booking(world: World, db: Engine) -> None:
    """The partial unique index, for a path that would skip the service's check."""
    sid = world.session("s-index")
    with Session(db, future=True) as s, s.begin():
        for n, status in enumerate(["cancelled", "cancelled", "booked"]):
            s.add(Booking(session_id=sid, participant="sms-awa", status=status,
                          reference=f"AAAA{n + 2}", joined_at=NOW, created_at=NOW,
                          updated_at=NOW))  # fmt: skip
    with pytest.raises(IntegrityError), Session(db, future=True) as s, s.begin():
        s.add(Booking(session_id=sid, participant="sms-awa", status="waitlisted",
                      reference="AAAA9", joined_at=NOW, created_at=NOW,
                      updated_at=NOW))  # fmt: skip


def test_started_cancelled_and_unknown_sessions_are_refused(
    service: BookingService, world: World, clock: ManualClock, db: Engine
) -> None:
    past = world.session("s-past", starts_in=-DAY)
    soon = world.session("s-soon", starts_in=timedelta(hours=1))
    off = world.session("s-off", status="cancelled")
    with pytest.raises(SessionClosed, match="s-past has already started"):
        service.book(past, "sms-awa")
    with pytest.raises(SessionClosed, match="s-off is cancelled"):
        service.book(off, "sms-awa")
    with pytest.raises(NotFound):
        service.book(999_999, "sms-awa")
    with pytest.raises(BookingError, match="participant"):
        service.book(soon, " ")
    late = service.book("s-soon", "sms-awa")  # by code too
    assert late.status == "booked"
    assert notices(db, late.id) == []  # 24 hours before has passed: no reminder
    clock.now = NOW + timedelta(hours=1)  # it starts now
    with pytest.raises(SessionClosed):
        service.book(soon, "sms-binta")
    with pytest.raises(SessionClosed):
        service.cancel(late.reference)
    assert seats(db, soon) == (1, 1, 0) and seats(db, past) == seats(db, off) == (0, 0, 0)


# --- Cancelling -------------------------------------------------------------------------------


def test_a_cancelled_seat_goes_to_the_oldest_waitlisted(
    service: BookingService, world: World, clock: ManualClock, db: Engine
) -> None:
    sid = world.session("s-promote", starts_in=3 * DAY, capacity=1)
    awa = service.book(sid, "sms-awa")
    clock.now = NOW + timedelta(minutes=1)
    binta = service.book(sid, "sms-binta")
    clock.now = NOW + timedelta(minutes=2)
    chata = service.book(sid, "sms-chata")
    clock.now = NOW + timedelta(hours=2)

    with pytest.raises(NotFound):  # not hers: as if it did not exist
        service.cancel(awa.reference, participant="sms-binta")
    cancelled, promoted = service.cancel(awa.reference.lower(), participant="sms-awa")
    assert cancelled.status == "cancelled" and cancelled.cancelled_at == clock.now
    assert promoted is not None
    assert (promoted.id, promoted.status, promoted.waitlist_position) == (binta.id, "booked", None)
    assert promoted.session.seats_left == 0
    assert seats(db, sid) == (1, 1, 1)
    # Her reminder will not be sent; Binta is told now, and reminded the day before.
    assert notices(db, awa.id) == [("reminder", NOW + 2 * DAY, "obsolete")]
    assert pending(db, binta.id) == [("promoted", clock.now), ("reminder", NOW + 2 * DAY)]
    assert service.booking(chata.id).waitlist_position == 1  # type: ignore[union-attr]

    with pytest.raises(BookingError, match="already cancelled"):
        service.cancel(awa.reference)
    # A waitlisted place cancelled frees no seat: nobody is promoted.
    assert service.cancel(chata.id) == (service.booking(chata.id), None)
    assert seats(db, sid) == (1, 1, 0)
    # The last seat freed with nobody waiting: the seat is free again.
    assert service.cancel(binta.reference)[1] is None
    assert seats(db, sid) == (0, 0, 0)
    assert notices(db, binta.id)[0][2] == "obsolete"  # "promoted" was not sent yet: dropped
    with pytest.raises(NotFound):
        service.cancel("ZZZZZ")


def test_a_promotion_close_to_the_start_has_no_reminder(
    service: BookingService, world: World, clock: ManualClock, db: Engine
) -> None:
    sid = world.session("s-close", starts_in=3 * DAY, capacity=1)
    awa, binta = service.book(sid, "sms-awa"), service.book(sid, "sms-binta")
    clock.now = NOW + 3 * DAY - timedelta(hours=5)
    _, promoted = service.cancel(awa.reference)
    assert promoted is not None and promoted.id == binta.id
    assert pending(db, binta.id) == [("promoted", clock.now)]


def test_a_cancelled_session_tells_everyone(
    service: BookingService, world: World, clock: ManualClock, db: Engine
) -> None:
    sid = world.session("s-cancel", capacity=2)
    other = world.session("s-other", capacity=2)
    booked = [service.book(sid, f"sms-{n}") for n in ("awa", "binta", "chata")]
    elsewhere = service.book(other, "sms-awa")
    service.cancel(booked[1].reference)  # already cancelled: not told again
    clock.now = NOW + DAY
    cancelled = service.cancel_session("s-cancel")
    assert sorted(b.id for b in cancelled) == sorted([booked[0].id, booked[2].id])
    assert {b.status for b in cancelled} == {"cancelled"}
    assert {b.session.status for b in cancelled} == {"cancelled"}
    assert seats(db, sid) == (0, 0, 0)
    for booking in cancelled:
        assert pending(db, booking.id) == [("session_cancelled", clock.now)]
    assert ("reminder", NOW + 2 * DAY, "obsolete") in notices(db, booked[0].id)
    assert pending(db, booked[1].id) == []
    assert pending(db, elsewhere.id) == [("reminder", NOW + 2 * DAY)]  # her other session
    assert [s.code for s in service.upcoming()] == ["s-other"]
    with pytest.raises(SessionClosed):
        service.book(sid, "sms-dado")
    with pytest.raises(BookingError, match="already cancelled"):
        service.cancel_session(sid)
    with pytest.raises(NotFound):
        service.cancel_session("s-nothing")


# --- Moves, attendance, rosters ---------------------------------------------------------------


def test_moving_a_booking(
    service: BookingService, world: World, clock: ManualClock, db: Engine
) -> None:
    first = world.session("s-from", starts_in=3 * DAY, capacity=1)
    second = world.session("s-to", starts_in=5 * DAY, capacity=1)
    full = world.session("s-full", starts_in=6 * DAY, capacity=1)
    world.session("s-gone", status="cancelled")
    awa, binta = service.book(first, "sms-awa"), service.book(first, "sms-binta")
    service.book(full, "sms-chata")
    clock.now = NOW + timedelta(hours=1)

    moved = service.move(awa.reference, "s-to")
    assert (moved.id, moved.reference, moved.status) == (awa.id, awa.reference, "booked")
    assert moved.session.code == "s-to" and moved.joined_at == clock.now
    # A reminder for the new session, and she is told of the move at once.
    assert notices(db, awa.id) == [("reminder", NOW + 2 * DAY, "obsolete"),
                                   ("reminder", NOW + 4 * DAY, None),
                                   ("moved", clock.now, None)]  # fmt: skip
    # Her seat in the first session went to Binta.
    assert service.booking(binta.id).status == "booked"  # type: ignore[union-attr]
    assert pending(db, binta.id) == [("promoted", clock.now), ("reminder", NOW + 2 * DAY)]
    assert seats(db, first) == seats(db, second) == (1, 1, 0)

    # Into a full session: the waitlist; her seat is freed.
    waiting = service.move(awa.reference, "s-full")
    assert (waiting.status, waiting.waitlist_position) == ("waitlisted", 1)
    assert pending(db, awa.id) == [("moved", clock.now)]  # one notice: the latest move
    assert seats(db, second) == (0, 0, 0) and seats(db, full) == (1, 1, 1)

    with pytest.raises(BookingError, match="already in session s-full"):
        service.move(awa.reference, "s-full")
    with pytest.raises(SessionClosed):
        service.move(awa.reference, "s-gone")
    with pytest.raises(NotFound):
        service.move(awa.reference, "s-nowhere")
    with pytest.raises(NotFound):
        service.move("ZZZZZ", "s-to")
    chata = service.book(second, "sms-chata")
    with pytest.raises(BookingError, match=f"already has booking {chata.reference}"):
        service.move(service.bookings_of("sms-chata")[-1].reference, "s-to")
    assert seats(db, full) == (1, 1, 1) and seats(db, second) == (1, 1, 0)


def test_attendance_and_the_roster(
    service: BookingService, world: World, clock: ManualClock, db: Engine
) -> None:
    sid = world.session("s-roll", starts_in=DAY, capacity=2)
    world.session("s-elsewhere")
    awa = service.book(sid, "sms-awa")
    clock.now += timedelta(minutes=1)
    binta = service.book(sid, "tg-binta")
    clock.now += timedelta(minutes=1)
    chata = service.book(sid, "sms-chata")
    clock.now += timedelta(minutes=1)
    dado = service.book(sid, "sms-dado")
    service.cancel(dado.reference)

    assert service.roster("s-roll") == service.roster(sid)
    roster = service.roster("s-roll")
    assert [(r.reference, r.participant, r.status) for r in roster] == [
        (awa.reference, "sms-awa", "booked"),
        (binta.reference, "tg-binta", "booked"),
        (chata.reference, "sms-chata", "waitlisted"),
    ]
    assert roster[1].booked_at == NOW + timedelta(minutes=1)

    with pytest.raises(BookingError, match="attendance opens"):
        service.mark_attendance("s-roll", awa.reference, True)
    clock.now = NOW + DAY - timedelta(minutes=30)  # at the door
    assert service.mark_attendance("s-roll", awa.reference, True).status == "attended"
    clock.now = NOW + DAY + timedelta(hours=3)
    assert service.mark_attendance("s-roll", binta.reference, False).status == "no_show"
    assert service.mark_attendance("s-roll", binta.reference, True).status == "attended"
    assert service.mark_attendance("s-roll", binta.reference, False).status == "no_show"
    with pytest.raises(BookingError, match="waitlisted"):
        service.mark_attendance("s-roll", chata.reference, True)
    with pytest.raises(BookingError, match="already cancelled"):
        service.mark_attendance("s-roll", dado.reference, True)
    with pytest.raises(NotFound, match="s-elsewhere"):
        service.mark_attendance("s-elsewhere", awa.reference, True)
    assert [r.status for r in service.roster(sid)] == ["attended", "no_show", "waitlisted"]
    assert seats(db, sid) == (2, 2, 1)
    with pytest.raises(NotFound):
        service.roster("s-unknown")


def test_upcoming_sessions_and_her_bookings(
    service: BookingService, world: World, clock: ManualClock
) -> None:
    world.session("u-later", starts_in=5 * DAY, language="es", venue="lima")
    world.session("u-soon", starts_in=DAY, language="fr", venue="paris", capacity=1)
    world.session("u-bm", starts_in=3 * DAY, language="bm")
    world.session("u-past", starts_in=-DAY)
    world.session("u-off", starts_in=2 * DAY, status="cancelled")
    assert [s.code for s in service.upcoming()] == ["u-soon", "u-bm", "u-later"]
    assert [s.code for s in service.upcoming(language="es")] == ["u-later"]
    assert [s.code for s in service.upcoming(limit=2)] == ["u-soon", "u-bm"]
    assert [s.code for s in service.upcoming(at=NOW + 4 * DAY)] == ["u-later"]
    lima = service.upcoming(language="es")[0]
    assert (lima.venue_city, lima.venue_country, lima.venue_timezone) == (
        "Lima", "PE", "America/Lima",
    )  # fmt: skip
    assert lima.local_start.utcoffset() == timedelta(hours=-5)
    assert (lima.topic, lima.facilitator_role, lima.duration_minutes) == (
        "childbirth", "midwife", 120,
    )  # fmt: skip

    service.book("u-later", "sms-awa")
    service.book("u-soon", "sms-binta")
    soon = service.book("u-soon", "sms-awa")  # waitlisted
    cancelled = service.book("u-bm", "sms-awa")
    service.cancel(cancelled.reference)
    mine = service.bookings_of("sms-awa")
    assert [(b.session.code, b.status) for b in mine] == [
        ("u-soon", "waitlisted"), ("u-later", "booked"),
    ]  # fmt: skip
    assert mine[0].id == soon.id and mine[0].waitlist_position == 1
    assert [b.session.code for b in service.bookings_of("sms-awa", at=NOW + 2 * DAY)] == [
        "u-later"
    ]
    assert service.upcoming()[0].seats_left == 0
    assert service.bookings_of("sms-nobody") == []
    clock.now = NOW + 6 * DAY
    assert service.upcoming() == [] and service.bookings_of("sms-awa") == []


# --- Schedule imports -------------------------------------------------------------------------


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def schedule(**sessions: dict) -> dict:
    """A venue in Paris, a workshop, and these sessions (by code)."""
    return {
        "venues": [{"code": "v-paris", "name": "Espace parents", "city": "Paris",
                    "country": "FR", "timezone": "Europe/Paris"}],
        "workshops": [{"code": "w-milk", "topic": "breastfeeding", "facilitator_role":
                       "midwife", "languages": ["fr", "es"]}],
        "sessions": [
            {"code": code, "workshop": "w-milk", "venue": "v-paris",
             "starts_at": "2026-12-10 14:00", "duration_minutes": 90, "capacity": 3,
             "language": "fr"} | fields
            for code, fields in sessions.items()
        ],
    }  # fmt: skip


def test_import_adds_updates_and_never_deletes(
    service: BookingService, tmp_path: Path, db: Engine, clock: ManualClock
) -> None:
    file = write(tmp_path / "schedule.yml", schedule(a={}, b={"capacity": 2}))
    expected = ["add venue v-paris", "add workshop w-milk", "add session a", "add session b"]
    assert service.import_schedule(file, dry_run=True) == expected
    assert service.upcoming() == []  # a dry run writes nothing
    assert service.import_schedule(file) == expected
    a = service.session("a")
    assert a is not None
    # 14:00 in Paris in December is 13:00 UTC.
    assert a.starts_at == datetime(2026, 12, 10, 13, tzinfo=UTC)
    assert (a.capacity, a.language, a.venue_timezone, a.topic) == (3, "fr", "Europe/Paris",
                                                                   "breastfeeding")  # fmt: skip
    assert service.import_schedule(file) == []  # again: nothing to do

    booked = [service.book("b", f"sms-{n}") for n in ("awa", "binta", "chata", "dado")]
    in_a = service.book("a", "sms-awa")
    # b: two more seats (its two waiting get them), a: an hour later; c is new; a and b
    # missing from a later file would stay.
    changed = schedule(
        a={"starts_at": "2026-12-10T15:00", "language": "es"},
        b={"capacity": 5}, c={"status": "cancelled"},
    )  # fmt: skip
    changed["venues"][0]["name"] = "Espace parents Belleville"
    write(file, changed)
    lines = [
        "update venue v-paris: name",
        "update session a: starts_at, language",
        "update session b: capacity",
        "promote 2 from the waitlist of b",
        "add session c (cancelled)",
    ]
    assert service.import_schedule(file, dry_run=True) == lines
    assert service.session("a").starts_at.hour == 13  # type: ignore[union-attr]
    clock.now = NOW + timedelta(hours=1)
    assert service.import_schedule(file) == lines
    assert service.session("a").starts_at == datetime(2026, 12, 10, 14, tzinfo=UTC)  # type: ignore[union-attr]
    # She is told the new time, and her reminder moved with the session.
    assert notices(db, in_a.id) == [
        ("reminder", datetime(2026, 12, 9, 13, tzinfo=UTC), "obsolete"),
        ("rescheduled", clock.now, None),
        ("reminder", datetime(2026, 12, 9, 14, tzinfo=UTC), None),
    ]
    assert [service.booking(b.id).status for b in booked] == ["booked"] * 4  # type: ignore[union-attr]
    assert pending(db, booked[3].id) == [
        ("promoted", clock.now), ("reminder", datetime(2026, 12, 9, 13, tzinfo=UTC)),
    ]  # fmt: skip
    assert service.session("c").status == "cancelled"  # type: ignore[union-attr]

    write(file, schedule(c={}))  # the venue's first name, too
    assert service.import_schedule(file) == ["update venue v-paris: name", "reopen session c"]
    assert {s.code for s in service.upcoming()} == {"a", "b", "c"}  # a and b are kept

    # A capacity below the seats taken is refused, and nothing of the file is written.
    write(file, schedule(a={"capacity": 6}, b={"capacity": 3}))
    with pytest.raises(BookingError, match=r"session b: capacity 3 is below the 4 seat\(s\) "
                                           r"already taken; cancel or move bookings first"):
        service.import_schedule(file)
    assert service.session("a").capacity == 3  # type: ignore[union-attr]
    assert seats(db, service.session("b").id) == (4, 4, 0)  # type: ignore[union-attr]

    # Cancelled by the file: the bookings too, each told.
    write(file, schedule(b={"capacity": 5, "status": "cancelled"}))
    assert service.import_schedule(file) == ["cancel session b and its bookings"]
    assert {service.booking(b.id).status for b in booked} == {"cancelled"}  # type: ignore[union-attr]
    assert pending(db, booked[0].id) == [("session_cancelled", clock.now)]


def test_import_refusals_name_the_problem(
    service: BookingService, world: World, tmp_path: Path
) -> None:
    file = tmp_path / "schedule.yml"
    sid = world.session("booked-one", capacity=2)
    service.book(sid, "sms-awa")
    for sessions, message in [
        ({"x": {"language": "bm"}}, "session x: workshop w-milk is given in fr, es, not 'bm'"),
        ({"x": {"venue": "v-nowhere"}}, "session x: unknown venue v-nowhere"),
        ({"x": {"starts_at": "2027-03-28 02:30"}}, "2027-03-28 02:30 does not exist in Europe"),
        ({"booked-one": {}}, "has 1 active booking(s): its venue and workshop cannot change"),
    ]:
        write(file, schedule(**sessions))
        with pytest.raises(BookingError, match=re.escape(message)):
            service.import_schedule(file, dry_run=True)
    assert service.session("x") is None
    # The venues and workshops already stored may be used by a file of sessions only.
    only = {"sessions": [{"code": "y", "workshop": "birth", "venue": "lima", "language": "es",
                          "starts_at": "2026-12-12 10:00", "duration_minutes": 60,
                          "capacity": 4}]}  # fmt: skip
    assert service.import_schedule(write(file, only)) == ["add session y"]
    assert service.session("y").starts_at == datetime(2026, 12, 12, 15, tzinfo=UTC)  # type: ignore[union-attr]


def test_import_from_csv(service: BookingService, tmp_path: Path) -> None:
    file = tmp_path / "schedule.csv"
    file.write_text(
        "\ufeffcode,workshop,venue,starts_at,duration_minutes,capacity,language,status,"
        "venue_name,venue_city,venue_country,venue_timezone,workshop_topic,"
        "workshop_facilitator_role,workshop_languages\n"
        "lima-1,w-food,v-lima,2026-12-12 10:00,90,10,es,,Casa Santa Rosa,Lima,PE,"
        'America/Lima,nutrition,nutritionist,"es,fr"\n'
        "lima-2,w-food,v-lima,2026-12-19 10:00,90,8,es,cancelled,,,,,,,\n",
        "utf-8",
    )
    assert service.import_schedule(file) == [
        "add venue v-lima", "add workshop w-food", "add session lima-1",
        "add session lima-2 (cancelled)",
    ]  # fmt: skip
    lima = service.session("lima-1")
    assert lima is not None and lima.starts_at == datetime(2026, 12, 12, 15, tzinfo=UTC)
    assert (lima.topic, lima.facilitator_role, lima.venue_name) == ("nutrition", "nutritionist",
                                                                    "Casa Santa Rosa")  # fmt: skip


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("s.yml", "sessions:\n  - [a\n", "not valid YAML"),
        ("s.yml", "sesions: []\n", "expected the top-level keys"),
        ("s.yml", "venues:\n  - {code: v, name: V, city: C, country: SN, timezone: UTC}\n",
         "venues entry 1: venue v: unknown country 'SN' (ML, PE, FR)"),
        ("s.yml", "venues:\n  - {code: v, name: V, city: C, country: ML, timezone: Bamako}\n",
         "unknown timezone 'Bamako'"),
        ("s.yml", "workshops:\n  - {code: w, topic: yoga, facilitator_role: midwife, "
         "languages: [fr]}\n", "unknown topic 'yoga'"),
        ("s.yml", "workshops:\n  - {code: w, topic: nutrition, facilitator_role: chef, "
         "languages: [fr]}\n", "unknown facilitator_role 'chef'"),
        ("s.yml", "workshops:\n  - {code: w, topic: nutrition, facilitator_role: midwife, "
         "languages: [fr, wo]}\n", "unknown language 'wo'"),
        ("s.yml", "sessions:\n  - {code: s, workshop: w, venue: v, starts_at: 2026-12-01, "
         "duration_minutes: 60, capacity: 5, language: fr}\n", "starts_at needs a time too"),
        ("s.yml", "sessions:\n  - {code: s, workshop: w, venue: v, starts_at: tomorrow, "
         "duration_minutes: 60, capacity: 5, language: fr}\n", "is not a date and time"),
        ("s.yml", "sessions:\n  - {code: s, workshop: w, venue: v, starts_at: '2026-12-01 10:00',"
         " duration_minutes: 60, capacity: 0, language: fr}\n",
         "capacity must be a whole number from 1 to 500"),
        ("s.yml", "sessions:\n  - {code: s, workshop: w, venue: v, starts_at: '2026-12-01 10:00',"
         " duration_minutes: 60, capacity: 5, language: fr, room: 2}\n", "unknown key(s) room"),
        ("s.yml", "sessions:\n  - {code: s, workshop: w, venue: v, starts_at: '2026-12-01 10:00',"
         " duration_minutes: 60, capacity: 5}\n", "sessions entry 1: session s: missing language"),
        ("s.yml", "sessions:\n" + "  - {code: s, workshop: w, venue: v, starts_at: "
         "'2026-12-01 10:00', duration_minutes: 60, capacity: 5, language: fr}\n" * 2,
         "session s is listed twice"),
        ("s.csv", "code,workshop,venue\n", "missing column(s) starts_at"),
        ("s.csv", "code,workshop,venue,starts_at,duration_minutes,capacity,language,room\n",
         "unknown column(s) room"),
        ("s.csv", "code,workshop,venue,starts_at,duration_minutes,capacity,language,venue_city\n"
         "s,w,v,2026-12-01 10:00,60,5,fr,Lima\n", "line 2: venue v: missing name"),
        ("s.txt", "", "a schedule is a .yml or .csv file"),
    ],
)
def test_bad_schedule_files_are_explained(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    file = tmp_path / name
    file.write_text(content, "utf-8")
    with pytest.raises(ValueError, match=re.escape(message)):
        load_schedule(file)


def test_the_example_schedule(db: Engine) -> None:
    example = load_schedule(EXAMPLE)
    assert {(v.city, v.country, v.timezone) for v in example.venues} == {
        ("Bamako", "ML", "Africa/Bamako"), ("Lima", "PE", "America/Lima"),
        ("Paris", "FR", "Europe/Paris"),
    }  # fmt: skip
    assert sorted(w.topic for w in example.workshops) == sorted(TOPICS)
    assert 8 <= len(example.sessions) <= 12
    assert {s.language for s in example.sessions} == {"fr", "es", "bm"}
    service = BookingService(db, clock=lambda: NOW)
    lines = service.import_schedule(EXAMPLE)
    assert len(lines) == 3 + 6 + len(example.sessions)
    upcoming = service.upcoming(limit=100)
    assert len(upcoming) == len(example.sessions)  # all in the weeks after NOW
    assert upcoming[-1].starts_at - NOW < timedelta(weeks=8)
    bamako = next(s for s in upcoming if s.venue_city == "Bamako")
    assert bamako.local_start.strftime("%H:%M") == bamako.starts_at.strftime("%H:%M")  # UTC+0
    lima = next(s for s in upcoming if s.venue_city == "Lima")
    assert lima.starts_at.hour == lima.local_start.hour + 5


# --- Races ------------------------------------------------------------------------------------


def at_once(count: int, work: object) -> list:
    """``work(n)`` for n in range(count), in as many threads released together."""
    barrier = threading.Barrier(count, timeout=60)

    def run(n: int) -> object:
        barrier.wait()
        return work(n)  # type: ignore[operator]

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_fifty_participants_on_the_last_five_seats(world: World, db: Engine) -> None:
    sid = world.session("race-5", capacity=8)
    early = BookingService(db, clock=lambda: NOW)
    for n in range(3):
        early.book(sid, f"sms-early-{n}")

    results = at_once(50, lambda n: BookingService(db, clock=lambda: NOW).book(
        sid, f"sms-race-{n}"))  # fmt: skip
    statuses = [b.status for b in results]
    assert statuses.count("booked") == 5 and statuses.count("waitlisted") == 45
    assert len({b.id for b in results}) == 50 and len({b.reference for b in results}) == 50
    assert sorted(b.waitlist_position for b in results if b.waitlist_position) == list(
        range(1, 46)
    )
    assert seats(db, sid) == (8, 8, 45)
    assert early.session(sid).seats_left == 0  # type: ignore[union-attr]
    # Exactly one reminder per seat.
    with Session(db, future=True) as s:
        assert s.scalar(select(func.count()).select_from(BookingNotice)) == 8


def test_one_participant_tapping_many_times_gets_one_booking(world: World, db: Engine) -> None:
    sid = world.session("race-taps", capacity=5)
    results = at_once(12, lambda n: BookingService(db, clock=lambda: NOW).book(sid, "sms-awa"))
    assert len({b.id for b in results}) == 1
    assert sum(not b.already for b in results) == 1
    assert seats(db, sid) == (1, 1, 0)


def test_cancellations_bookings_and_moves_at_once_never_overbook(
    world: World, db: Engine
) -> None:
    """Seats freed and taken at once: the count stays the number of seats taken, within the
    capacity, and nobody waits while a seat is free."""
    capacity = 5
    sid = world.session("race-mix", capacity=capacity)
    spare = world.session("race-spare", capacity=3)
    service = BookingService(db, clock=lambda: NOW)
    first = [service.book(sid, f"sms-first-{n}") for n in range(12)]  # 5 seats, 7 waiting
    spare_booked = [service.book(spare, f"sms-spare-{n}") for n in range(2)]

    def work(n: int) -> object:
        own = BookingService(db, clock=lambda: NOW)
        if n < 8:  # the 5 seated and 3 waiting cancel
            return own.cancel(first[n].reference)
        if n < 18:  # newcomers
            return own.book(sid, f"sms-new-{n}")
        if n < 20:  # two from the spare session come over
            return own.move(spare_booked[n - 18].reference, "race-mix")
        return own.move(first[n - 12].reference, "race-spare")  # two waiting leave

    results = at_once(22, work)
    count, seated, waiting = seats(db, sid)
    assert count == seated <= capacity
    assert waiting == 0 or seated == capacity
    assert seated + waiting == 12 - 8 - 2 + 10 + 2  # everyone left is somewhere
    spare_count, spare_seated, spare_waiting = seats(db, spare)
    assert spare_count == spare_seated == 2 and spare_waiting == 0
    promotions = [r[1] for r in results[:8] if r[1] is not None]
    with Session(db, future=True) as s:
        promoted_notices = s.scalar(select(func.count()).select_from(BookingNotice).where(
            BookingNotice.kind == "promoted"))  # fmt: skip
        active = s.execute(select(Booking.participant, Booking.session_id).where(
            Booking.status.in_(["booked", "waitlisted"]))).all()  # fmt: skip
    assert promoted_notices >= len(promotions)
    assert len(active) == len(set(active))  # nobody twice in one session
