"""Bookings of workshop sessions, with a waitlist: the one place where seats change.

Every change to a session's seats or bookings first locks the session's row (a no-op update,
:func:`_lock`): on PostgreSQL that is the row lock, held to commit; on SQLite the database's
write lock, since pysqlite opens the transaction at the first write. Changes to one session
thus happen one after the other, and what a change reads after its lock is what it writes on
(a cancellation always sees the waitlist entry of a booking that raced it). The seat itself is
taken by a conditional update (``booked_count < capacity``) and a check constraint bounds
``booked_count``: over-booking would need both to fail.

Notices (a reminder, a freed seat, a cancelled session) are rows of ``booking_notices``
written in the same transaction as their change (:func:`bot.booking.notices.schedule`); the
ones a change makes pointless are marked ``obsolete``, so they are never sent.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.booking import notices
from bot.booking.models import (
    ACTIVE,
    ATTENDED,
    BOOKED,
    CANCELLED,
    NO_SHOW,
    SCHEDULED,
    SEATED,
    WAITLISTED,
    Booking,
    Venue,
    Workshop,
    WorkshopSession,
    utc,
)
from bot.booking.notices import BookingNotice
from bot.booking.schedule_file import (
    Schedule,
    SessionSpec,
    VenueSpec,
    WorkshopSpec,
    load_schedule,
)
from bot.db.base import utcnow
from bot.settings import BookingSettings

logger = logging.getLogger(__name__)

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O nor 1/I: read aloud, typed on keypads
REFERENCE_LENGTH = 5  # 32^5: 33 million references
ATTENDANCE_OPENS = timedelta(hours=1)  # before the start: the roll call begins at the door
_ATTEMPTS = 4
T = TypeVar("T")


class BookingError(ValueError):
    """A change that does not apply. The message says why, for staff to read as it is."""


class NotFound(BookingError, LookupError):
    """No such session or booking (or not the participant's own)."""


class SessionClosed(BookingError):
    """The session has started or is cancelled: no more bookings, cancellations or moves."""


class _Raced(Exception):
    """What was read before the lock changed meanwhile (a booking moved): start again."""


@dataclass(frozen=True)
class SessionView:
    id: int
    code: str
    workshop_code: str
    topic: str
    facilitator_role: str
    venue_code: str
    venue_name: str
    venue_city: str
    venue_country: str
    venue_timezone: str
    starts_at: datetime  # UTC
    duration_minutes: int
    capacity: int
    seats_left: int  # 0 when full or cancelled
    language: str
    status: str

    @property
    def duration(self) -> timedelta:
        return timedelta(minutes=self.duration_minutes)

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + self.duration

    @property
    def local_start(self) -> datetime:
        """The start on the venue's clock (what the participant is told)."""
        return self.starts_at.astimezone(ZoneInfo(self.venue_timezone))


@dataclass(frozen=True)
class BookingView:
    id: int
    reference: str
    session: SessionView
    participant: str
    status: str
    joined_at: datetime  # when it joined this session (booked, waitlisted or moved there)
    created_at: datetime
    updated_at: datetime
    cancelled_at: datetime | None = None
    waitlist_position: int | None = None  # 1: the next seat freed is hers
    already: bool = False  # book(): she had it already, nothing new was made

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


@dataclass(frozen=True)
class RosterRow:
    reference: str
    participant: str  # the conversation id, a pseudonym
    status: str
    booked_at: datetime  # when she joined the session (or its waitlist)


class BookingService:
    """Books, cancels, moves, and imports the schedule. Tables must exist (``make_engine``
    creates them once ``bot.booking.models`` and ``bot.booking.notices`` are imported)."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime] = utcnow,
        reminder_before: timedelta = timedelta(hours=24),
    ) -> None:
        self._sessions = sessionmaker(engine, future=True, expire_on_commit=False)
        self._clock = clock
        self.reminder_before = reminder_before

    @classmethod
    def from_settings(cls, engine: Engine, settings: BookingSettings) -> BookingService:
        """With the reminder delay of the settings (``BOOKING_REMINDER_HOURS``)."""
        return cls(engine, reminder_before=settings.reminder_before)

    def now(self) -> datetime:
        return _instant(self._clock())

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def _run(self, work: Callable[[Session], T]) -> T:
        """``work`` in one transaction, run again from the start when it lost a race no lock
        covers: a reference drawn twice, a booking moved between its reading and its lock,
        two imports adding the same code."""
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                with self._transaction() as session:
                    return work(session)
            except IntegrityError:
                if attempt == _ATTEMPTS:
                    raise
            except _Raced:
                if attempt == _ATTEMPTS:
                    raise BookingError("the booking changed meanwhile: try again") from None
        raise AssertionError("unreachable")

    # Reading

    def upcoming(
        self, language: str | None = None, at: datetime | None = None, limit: int = 9
    ) -> list[SessionView]:
        """Sessions still to come and not cancelled, soonest first; full ones too (they
        have a waitlist)."""
        at = self.now() if at is None else _instant(at)
        statement = _session_query().where(
            WorkshopSession.status == SCHEDULED, WorkshopSession.starts_at > at
        )
        if language is not None:
            statement = statement.where(WorkshopSession.language == language)
        statement = statement.order_by(WorkshopSession.starts_at, WorkshopSession.id).limit(limit)
        with self._transaction() as session:
            return [_session_view(*row) for row in session.execute(statement)]

    def session(self, key: int | str) -> SessionView | None:
        """A session by id or code, whatever its status."""
        with self._transaction() as session:
            row = session.execute(_session_query().where(_session_key(key))).first()
            return None if row is None else _session_view(*row)

    def sessions(self, ids: list[int]) -> list[SessionView]:
        """The sessions of a list shown to her, in its order (missing ones left out)."""
        found = [self.session(i) for i in ids]
        return [view for view in found if view is not None]

    def booking(self, key: int | str) -> BookingView | None:
        """A booking by id or reference, whatever its status."""
        with self._transaction() as session:
            booking_id = session.scalar(select(Booking.id).where(_booking_key(key)))
            return None if booking_id is None else _booking_view(session, booking_id)

    def bookings_of(self, participant: str, at: datetime | None = None) -> list[BookingView]:
        """Her booked and waitlisted places in sessions still to come, soonest first."""
        at = self.now() if at is None else _instant(at)
        statement = (
            select(Booking.id)
            .join(WorkshopSession, WorkshopSession.id == Booking.session_id)
            .where(Booking.participant == participant, Booking.status.in_(ACTIVE),
                   WorkshopSession.starts_at > at)
            .order_by(WorkshopSession.starts_at, Booking.id)
        )  # fmt: skip
        with self._transaction() as session:
            return [_booking_view(session, i) for i in session.scalars(statement).all()]

    def roster(self, session_code: int | str) -> list[RosterRow]:
        """Who comes: seats first (booked, attended, no-show), then the waitlist in its
        order. Cancelled bookings are left out."""
        with self._transaction() as session:
            session_id = _session_id(session, session_code)
            rows = session.scalars(
                select(Booking)
                .where(Booking.session_id == session_id, Booking.status != CANCELLED)
                .order_by(Booking.joined_at, Booking.id)
            ).all()  # fmt: skip
            rows = sorted(rows, key=lambda b: b.status == WAITLISTED)  # stable: order kept
            return [RosterRow(b.reference, b.participant, b.status, utc(b.joined_at)) for b in rows]

    # Changes

    def book(self, session_id: int | str, participant: str) -> BookingView:
        """A seat if one is free, else a place on the waitlist. Asking again gives back her
        booking, marked ``already``. A seat comes with its reminder notice."""
        if not isinstance(participant, str) or not 0 < len(participant.strip()) <= 128:
            raise BookingError("a participant id of 1 to 128 characters is required")

        def work(session: Session) -> BookingView:
            row = _locked_session(session, session_id)
            now = self.now()  # after the lock: the waitlist's order is the locks' order
            _check_open(row, now)
            mine = session.scalar(
                select(Booking.id).where(Booking.session_id == row.id,
                                         Booking.participant == participant,
                                         Booking.status.in_(ACTIVE))
            )  # fmt: skip
            if mine is not None:
                return _booking_view(session, mine, already=True)
            seated = _take_seat(session, row.id)
            booking = Booking(
                session_id=row.id, participant=participant,
                status=BOOKED if seated else WAITLISTED, reference=_new_reference(session),
                joined_at=now, created_at=now, updated_at=now,
            )  # fmt: skip
            session.add(booking)
            session.flush()
            if seated:
                self._remind(session, booking.id, row, now)
            logger.info("Booking %s: %s in session %s.", booking.reference, booking.status,
                        row.code)  # fmt: skip
            return _booking_view(session, booking.id)

        return self._run(work)

    def cancel(
        self, reference_or_id: str | int, participant: str | None = None
    ) -> tuple[BookingView, BookingView | None]:
        """Cancel a booked or waitlisted place (only her own when ``participant`` is given).
        A freed seat goes to the first on the waitlist, who gets a ``promoted`` notice now.
        The cancelled booking and the promoted one (or None)."""

        def work(session: Session) -> tuple[BookingView, BookingView | None]:
            booking, row = _locked_booking(session, reference_or_id, participant)
            now = self.now()
            _check_active(booking)
            _check_open(row, now)
            was = booking.status
            _set_status(session, booking.id, was, status=CANCELLED, cancelled_at=now,
                        updated_at=now)  # fmt: skip
            _obsolete(session, [booking.id], now)
            promoted = None
            if was == BOOKED:
                _free_seats(session, row.id, 1)
                promoted = self._promote_next(session, row, now)
            logger.info("Booking %s cancelled%s.", booking.reference,
                        " (a seat went to the waitlist)" if promoted else "")  # fmt: skip
            return (
                _booking_view(session, booking.id),
                None if promoted is None else _booking_view(session, promoted),
            )

        return self._run(work)

    def cancel_session(self, session_code_or_id: str | int) -> list[BookingView]:
        """The session will not take place: every booked and waitlisted place is cancelled
        and each participant gets a ``session_cancelled`` notice now. The bookings cancelled."""

        def work(session: Session) -> list[BookingView]:
            row = _locked_session(session, session_code_or_id)
            now = self.now()
            if row.status == CANCELLED:
                raise BookingError(f"session {row.code} is already cancelled")
            _check_open(row, now)
            cancelled = self._cancel_all(session, row, now)
            logger.info("Session %s cancelled (%d bookings).", row.code, len(cancelled))
            return [_booking_view(session, i) for i in cancelled]

        return self._run(work)

    def move(self, reference: str, to_session: str | int) -> BookingView:
        """Move a booked or waitlisted place to another session (same reference): a seat
        there if one is free, else its waitlist. The old seat goes to that session's waitlist."""

        def work(session: Session) -> BookingView:
            found = session.execute(
                select(Booking.id, Booking.session_id).where(_booking_key(reference))
            ).first()
            if found is None:
                raise NotFound(f"no booking {_reference(reference)}")
            target_id = _session_id(session, to_session)
            _lock(session, found.session_id, target_id)  # in id order: no deadlock
            booking = session.get(Booking, found.id)
            if booking.session_id != found.session_id:
                raise _Raced
            old = session.get(WorkshopSession, found.session_id)
            new = session.get(WorkshopSession, target_id)
            now = self.now()
            if old.id == new.id:
                raise BookingError(f"booking {booking.reference} is already in session {new.code}")
            _check_active(booking)
            _check_open(old, now)
            _check_open(new, now)
            other = session.scalar(
                select(Booking.reference).where(Booking.session_id == new.id,
                                                Booking.participant == booking.participant,
                                                Booking.status.in_(ACTIVE))
            )  # fmt: skip
            if other is not None:
                raise BookingError(
                    f"this participant already has booking {other} in session {new.code}"
                )
            was = booking.status
            if was == BOOKED:
                _free_seats(session, old.id, 1)
            seated = _take_seat(session, new.id)
            _obsolete(session, [booking.id], now)
            _set_status(session, booking.id, was, session_id=new.id,
                        status=BOOKED if seated else WAITLISTED, joined_at=now,
                        updated_at=now)  # fmt: skip
            if seated:
                self._remind(session, booking.id, new, now)
            notices.schedule(session, booking.id, notices.MOVED, now)  # she is told at once
            if was == BOOKED:
                self._promote_next(session, old, now)
            logger.info("Booking %s moved from %s to %s.", booking.reference, old.code, new.code)
            return _booking_view(session, booking.id)

        return self._run(work)

    def mark_attendance(
        self, session_code: str | int, reference: str, attended: bool = True
    ) -> BookingView:
        """Attended or no-show, for a seat of the session (a mistake can be corrected)."""

        def work(session: Session) -> BookingView:
            row = _locked_session(session, session_code)
            now = self.now()
            booking = session.scalars(select(Booking).where(_booking_key(reference))).first()
            if booking is None or booking.session_id != row.id:
                raise NotFound(f"no booking {_reference(reference)} in session {row.code}")
            if row.status == CANCELLED:
                raise SessionClosed(f"session {row.code} was cancelled")
            if now < utc(row.starts_at) - ATTENDANCE_OPENS:
                raise BookingError(
                    f"session {row.code} has not begun: attendance opens an hour before it"
                )
            if booking.status not in SEATED:
                raise BookingError(
                    f"booking {booking.reference} is {_said(booking.status)}: only a seat can "
                    "be marked attended or no-show"
                )
            _set_status(session, booking.id, booking.status,
                        status=ATTENDED if attended else NO_SHOW, updated_at=now)  # fmt: skip
            return _booking_view(session, booking.id)

        return self._run(work)

    def import_schedule(self, path: str | Path, dry_run: bool = False) -> list[str]:
        """Add and update venues, workshops and sessions from a YAML or CSV file (never
        delete). The change lines, written or (``dry_run``) not. The file is checked whole
        and planned before anything is written; one transaction writes it all. A session
        cancelled by the file cancels its bookings (with notices); a time change moves the
        reminders; seats added go to the waitlist. A capacity below the seats already taken
        is refused."""
        schedule = load_schedule(path)
        try:
            lines = self._run(lambda session: self._import(session, schedule, dry_run))
        except BookingError as error:
            raise type(error)(f"{path}: {error}") from None
        if lines and not dry_run:
            logger.info("Schedule %s: %s.", path, "; ".join(lines))
        return lines

    # Steps shared by the changes, inside their transaction and the session's lock

    def _remind(self, session: Session, booking_id: int, row: WorkshopSession,
                now: datetime) -> None:  # fmt: skip
        """A reminder ``reminder_before`` the start, unless that moment has passed."""
        due = utc(row.starts_at) - self.reminder_before
        if due > now:
            notices.schedule(session, booking_id, notices.REMINDER, due)

    def _retime(self, session: Session, row: WorkshopSession, now: datetime) -> None:
        """A session's new time: everyone booked or waiting is told it now (one notice, the
        latest time), and the seats' reminders follow the new start."""
        active = session.execute(
            select(Booking.id, Booking.status)
            .where(Booking.session_id == row.id, Booking.status.in_(ACTIVE))
        ).all()  # fmt: skip
        ids = [booking_id for booking_id, _ in active]
        _obsolete(session, ids, now, kinds=(notices.REMINDER, notices.RESCHEDULED))
        for booking_id, status in active:
            notices.schedule(session, booking_id, notices.RESCHEDULED, now)
            if status == BOOKED:
                self._remind(session, booking_id, row, now)

    def _promote_next(self, session: Session, row: WorkshopSession, now: datetime) -> int | None:
        """The first on the waitlist gets a free seat (if any): a ``promoted`` notice now,
        and her reminder. Her booking's id, or None."""
        if row.status != SCHEDULED or utc(row.starts_at) <= now:
            return None
        first = session.scalar(
            select(Booking.id)
            .where(Booking.session_id == row.id, Booking.status == WAITLISTED)
            .order_by(Booking.joined_at, Booking.id)
            .limit(1)
        )
        if first is None or not _take_seat(session, row.id):
            return None
        _set_status(session, first, WAITLISTED, status=BOOKED, updated_at=now)
        notices.schedule(session, first, notices.PROMOTED, now)
        self._remind(session, first, row, now)
        return int(first)

    def _cancel_all(self, session: Session, row: WorkshopSession, now: datetime) -> list[int]:
        """The session cancelled with its active bookings, each with a notice; their ids."""
        active = session.execute(
            select(Booking.id, Booking.status)
            .where(Booking.session_id == row.id, Booking.status.in_(ACTIVE))
            .order_by(Booking.joined_at, Booking.id)
        ).all()
        ids = [int(booking_id) for booking_id, _ in active]
        seats = sum(1 for _, status in active if status == BOOKED)
        if ids:
            result = session.execute(
                update(Booking)
                .where(Booking.id.in_(ids), Booking.status.in_(ACTIVE))
                .values(status=CANCELLED, cancelled_at=now, updated_at=now),
                execution_options={"synchronize_session": False},
            )
            if result.rowcount != len(ids):  # type: ignore[attr-defined]
                raise _Raced
        _free_seats(session, row.id, seats, status=CANCELLED, updated_at=now)
        session.expire(row)
        _obsolete(session, ids, now)
        for booking_id in ids:
            notices.schedule(session, booking_id, notices.SESSION_CANCELLED, now)
        return ids

    def _import(self, session: Session, schedule: Schedule, dry_run: bool) -> list[str]:
        now = self.now()
        if not dry_run:  # the sessions the file names, locked before they are compared
            codes = [spec.code for spec in schedule.sessions]
            _lock(session, *session.scalars(
                select(WorkshopSession.id).where(WorkshopSession.code.in_(codes))
            ).all())  # fmt: skip
        stored = _Stored.read(session, schedule)
        plan = _plan_import(schedule, stored, now)
        if not dry_run:
            self._write_import(session, plan, stored, now)
        return plan.lines

    def _write_import(
        self, session: Session, plan: _ImportPlan, stored: _Stored, now: datetime
    ) -> None:
        venue_ids = {code: v.id for code, v in stored.venues.items()}
        for venue in plan.venues:
            values = {"name": venue.name, "city": venue.city, "country": venue.country,
                      "timezone": venue.timezone, "updated_at": now}  # fmt: skip
            venue_ids[venue.code] = _upsert(session, Venue, stored.venues.get(venue.code),
                                            venue.code, values)  # fmt: skip
        workshop_ids = {code: w.id for code, w in stored.workshops.items()}
        for workshop in plan.workshops:
            values = {"topic": workshop.topic, "facilitator_role": workshop.facilitator_role,
                      "languages": ",".join(workshop.languages), "updated_at": now}  # fmt: skip
            workshop_ids[workshop.code] = _upsert(
                session, Workshop, stored.workshops.get(workshop.code), workshop.code, values
            )
        for change in plan.sessions:
            spec, row = change.spec, change.old
            values = {
                "workshop_id": workshop_ids[spec.workshop], "venue_id": venue_ids[spec.venue],
                "starts_at": change.starts_at, "duration_minutes": spec.duration_minutes,
                "capacity": spec.capacity, "language": spec.language, "updated_at": now,
            }  # fmt: skip
            if row is None:
                session.add(WorkshopSession(code=spec.code, status=spec.status, booked_count=0,
                                            **values))  # fmt: skip
                continue
            if change.cancel:  # first: a lower capacity may need the seats it frees
                self._cancel_all(session, row, now)
            if change.fields or change.reopen:
                if change.reopen:
                    values["status"] = SCHEDULED
                session.execute(
                    update(WorkshopSession).where(WorkshopSession.id == row.id).values(**values),
                    execution_options={"synchronize_session": False},
                )
                session.expire(row)
            if "starts_at" in change.fields and spec.status == SCHEDULED and not change.cancel:
                self._retime(session, row, now)
            for _ in range(change.promote):
                self._promote_next(session, row, now)
        session.flush()


@dataclass
class _Stored:
    """What an import is compared with: the rows the file's codes name, and the number of
    active bookings of each of those sessions by status."""

    venues: dict[str, Venue]
    workshops: dict[str, Workshop]
    sessions: dict[str, WorkshopSession]
    active: dict[tuple[int, str], int]

    @classmethod
    def read(cls, session: Session, schedule: Schedule) -> _Stored:
        venue_codes = {v.code for v in schedule.venues} | {s.venue for s in schedule.sessions}
        workshop_codes = {w.code for w in schedule.workshops} | {
            s.workshop for s in schedule.sessions
        }
        session_codes = [s.code for s in schedule.sessions]
        venues = session.scalars(select(Venue).where(Venue.code.in_(venue_codes)))
        workshops = session.scalars(select(Workshop).where(Workshop.code.in_(workshop_codes)))
        rows = {r.code: r for r in session.scalars(
            select(WorkshopSession).where(WorkshopSession.code.in_(session_codes)))}  # fmt: skip
        active = session.execute(
            select(Booking.session_id, Booking.status, func.count())
            .where(Booking.session_id.in_([r.id for r in rows.values()]),
                   Booking.status.in_(ACTIVE))
            .group_by(Booking.session_id, Booking.status)
        )  # fmt: skip
        return cls(
            venues={v.code: v for v in venues},
            workshops={w.code: w for w in workshops},
            sessions=rows,
            active={(session_id, status): int(n) for session_id, status, n in active},
        )


@dataclass
class _SessionPlan:
    """What an import does to one session of the file."""

    spec: SessionSpec
    starts_at: datetime
    old: WorkshopSession | None = None
    fields: list[str] = field(default_factory=list)
    cancel: bool = False
    reopen: bool = False
    promote: int = 0


@dataclass
class _ImportPlan:
    lines: list[str]
    venues: list[VenueSpec]  # to add or update
    workshops: list[WorkshopSpec]
    sessions: list[_SessionPlan]


def _plan_import(schedule: Schedule, stored: _Stored, now: datetime) -> _ImportPlan:
    """The change lines and what to write; a BookingError refuses the whole file."""
    plan = _ImportPlan([], [], [], [])
    for venue in schedule.venues:
        line = _plan_line("venue", stored.venues.get(venue.code), venue,
                          ("name", "city", "country", "timezone"))  # fmt: skip
        if line:
            plan.lines.append(line)
            plan.venues.append(venue)
    for workshop in schedule.workshops:
        line = _plan_line("workshop", stored.workshops.get(workshop.code), workshop,
                          ("topic", "facilitator_role", "languages"))  # fmt: skip
        if line:
            plan.lines.append(line)
            plan.workshops.append(workshop)
    for spec in schedule.sessions:
        change = _plan_session(spec, schedule, stored, now)
        plan.lines += _plan_lines(change)
        plan.sessions.append(change)
    return plan


def _plan_session(
    spec: SessionSpec, schedule: Schedule, stored: _Stored, now: datetime
) -> _SessionPlan:
    """One session of the file against its row (if any)."""
    where = f"session {spec.code}"
    zones = {c: v.timezone for c, v in stored.venues.items()} | {
        v.code: v.timezone for v in schedule.venues
    }
    spoken = {c: _value(w, "languages") for c, w in stored.workshops.items()} | {
        w.code: w.languages for w in schedule.workshops
    }
    if spec.venue not in zones:
        raise NotFound(f"{where}: unknown venue {spec.venue} (in neither file nor database)")
    if spec.workshop not in spoken:
        raise NotFound(f"{where}: unknown workshop {spec.workshop} (in neither file nor database)")
    if spec.language not in spoken[spec.workshop]:
        raise BookingError(
            f"{where}: workshop {spec.workshop} is given in {', '.join(spoken[spec.workshop])},"
            f" not {spec.language!r}"
        )
    try:
        starts_at = spec.start_utc(zones[spec.venue])
    except ValueError as error:
        raise BookingError(f"{where}: {error}") from None
    plan = _SessionPlan(spec, starts_at, stored.sessions.get(spec.code))
    old = plan.old
    if old is None:
        return plan
    booked = stored.active.get((old.id, BOOKED), 0)
    waiting = stored.active.get((old.id, WAITLISTED), 0)
    venue, workshop = stored.venues.get(spec.venue), stored.workshops.get(spec.workshop)
    changes = {
        "starts_at": utc(old.starts_at) != starts_at,
        "duration_minutes": old.duration_minutes != spec.duration_minutes,
        "capacity": old.capacity != spec.capacity,
        "language": old.language != spec.language,
        "workshop": workshop is None or workshop.id != old.workshop_id,
        "venue": venue is None or venue.id != old.venue_id,
    }
    plan.fields = [name for name, changed in changes.items() if changed]
    plan.cancel = old.status == SCHEDULED and spec.status == CANCELLED
    plan.reopen = old.status == CANCELLED and spec.status == SCHEDULED
    if (changes["venue"] or changes["workshop"]) and booked + waiting:
        raise BookingError(
            f"{where} has {booked + waiting} active booking(s): its venue and workshop "
            "cannot change (cancel it and add a new session)"
        )
    if plan.cancel and utc(old.starts_at) <= now:
        raise SessionClosed(f"{where} has already started: it cannot be cancelled")
    seats = old.booked_count - (booked if plan.cancel else 0)
    if spec.capacity < seats:
        raise BookingError(
            f"{where}: capacity {spec.capacity} is below the {seats} seat(s) already taken;"
            " cancel or move bookings first"
        )
    if spec.status == SCHEDULED and not plan.cancel and starts_at > now:
        plan.promote = min(max(spec.capacity - seats, 0), waiting)
    return plan


# Helpers


def _instant(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("a timezone-aware datetime is required")
    return at.astimezone(timezone.utc)


def _reference(key: str | int) -> str:
    """As typed: " k7q2m " is K7Q2M."""
    return str(key).strip().upper()


def _session_key(key: int | str) -> Any:
    if isinstance(key, int) and not isinstance(key, bool):
        return WorkshopSession.id == key
    return WorkshopSession.code == str(key).strip()


def _booking_key(key: int | str) -> Any:
    if isinstance(key, int) and not isinstance(key, bool):
        return Booking.id == key
    return Booking.reference == _reference(key)


def _session_id(session: Session, key: int | str) -> int:
    found = session.scalar(select(WorkshopSession.id).where(_session_key(key)))
    if found is None:
        raise NotFound(f"no session {key}")
    return int(found)


def _lock(session: Session, *session_ids: int) -> None:
    """Take the sessions' locks, in id order (two moves between the same sessions cannot
    deadlock). Objects read before are expired: after the lock, reads are fresh."""
    for session_id in sorted(set(session_ids)):
        session.execute(
            update(WorkshopSession)
            .where(WorkshopSession.id == session_id)
            .values(booked_count=WorkshopSession.booked_count),
            execution_options={"synchronize_session": False},
        )
    session.expire_all()


def _locked_session(session: Session, key: int | str) -> WorkshopSession:
    session_id = _session_id(session, key)
    _lock(session, session_id)
    return session.get(WorkshopSession, session_id)


def _locked_booking(
    session: Session, key: int | str, participant: str | None
) -> tuple[Booking, WorkshopSession]:
    """The booking and its session, locked. Another participant's booking is not found."""
    found = session.execute(
        select(Booking.id, Booking.session_id, Booking.participant).where(_booking_key(key))
    ).first()
    if found is None or (participant is not None and found.participant != participant):
        raise NotFound(f"no booking {_reference(key) if isinstance(key, str) else key}")
    _lock(session, found.session_id)
    booking = session.get(Booking, found.id)
    if booking.session_id != found.session_id:
        raise _Raced
    return booking, session.get(WorkshopSession, found.session_id)


def _check_open(row: WorkshopSession, now: datetime) -> None:
    if row.status != SCHEDULED:
        raise SessionClosed(f"session {row.code} is cancelled")
    if utc(row.starts_at) <= now:
        raise SessionClosed(f"session {row.code} has already started")


def _check_active(booking: Booking) -> None:
    if booking.status not in ACTIVE:
        raise BookingError(f"booking {booking.reference} is {_said(booking.status)}")


def _said(status: str) -> str:
    return {CANCELLED: "already cancelled", ATTENDED: "marked attended",
            NO_SHOW: "marked no-show"}.get(status, status)  # fmt: skip


def _take_seat(session: Session, session_id: int) -> bool:
    """The seat, if one is free: atomic on its own (a conditional update)."""
    result = session.execute(
        update(WorkshopSession)
        .where(WorkshopSession.id == session_id,
               WorkshopSession.booked_count < WorkshopSession.capacity,
               WorkshopSession.status == SCHEDULED)
        .values(booked_count=WorkshopSession.booked_count + 1),
        execution_options={"synchronize_session": False},
    )  # fmt: skip
    return result.rowcount == 1  # type: ignore[attr-defined]


def _free_seats(session: Session, session_id: int, seats: int, **values: object) -> None:
    result = session.execute(
        update(WorkshopSession)
        .where(WorkshopSession.id == session_id, WorkshopSession.booked_count >= seats)
        .values(booked_count=WorkshopSession.booked_count - seats, **values),
        execution_options={"synchronize_session": False},
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise RuntimeError(f"session {session_id}: fewer seats taken than bookings")


def _set_status(session: Session, booking_id: int, expected: str, **values: object) -> None:
    """A booking's change, if it is still ``expected`` (always so under the lock)."""
    result = session.execute(
        update(Booking).where(Booking.id == booking_id, Booking.status == expected)
        .values(**values),
        execution_options={"synchronize_session": False},
    )  # fmt: skip
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise _Raced


def _obsolete(
    session: Session, booking_ids: list[int], now: datetime,
    kinds: tuple[str, ...] = notices.KINDS,
) -> None:  # fmt: skip
    """Pending notices of these bookings will not be sent. Call it before scheduling new
    ones: the update flushes them first, and would mark them too."""
    if not booking_ids:
        return
    session.execute(
        update(BookingNotice)
        .where(BookingNotice.booking_id.in_(booking_ids), BookingNotice.sent_at.is_(None),
               BookingNotice.kind.in_(kinds))
        .values(sent_at=now, outcome="obsolete"),
        execution_options={"synchronize_session": False},
    )  # fmt: skip


def _new_reference(session: Session) -> str:
    """A reference no booking has (a race to the same one fails on the unique index, and
    the booking is tried again)."""
    while True:
        reference = "".join(secrets.choice(ALPHABET) for _ in range(REFERENCE_LENGTH))
        if session.scalar(select(Booking.id).where(Booking.reference == reference)) is None:
            return reference


def _plan_line(kind: str, old: Any, new: Any, names: tuple[str, ...]) -> str | None:
    """"add venue v-paris", "update venue v-paris: name", or None when nothing changed."""
    if old is None:
        return f"add {kind} {new.code}"
    fields = [n for n in names if _value(old, n) != getattr(new, n)]
    return f"update {kind} {new.code}: {', '.join(fields)}" if fields else None


def _value(row: Any, name: str) -> Any:
    """A stored field as the schedule file spells it (a workshop's languages: a tuple)."""
    value = getattr(row, name)
    return tuple(value.split(",")) if name == "languages" else value


def _upsert(session: Session, model: Any, old: Any, code: str, values: dict[str, Any]) -> int:
    if old is None:
        row = model(code=code, **values)
        session.add(row)
        session.flush()
        return int(row.id)
    session.execute(
        update(model).where(model.id == old.id).values(**values),
        execution_options={"synchronize_session": False},
    )
    return int(old.id)


def _plan_lines(plan: _SessionPlan) -> list[str]:
    code = plan.spec.code
    if plan.old is None:
        return [f"add session {code}" + (" (cancelled)" if plan.spec.status == CANCELLED else "")]
    lines = [f"update session {code}: {', '.join(plan.fields)}"] if plan.fields else []
    if plan.cancel:
        lines.append(f"cancel session {code} and its bookings")
    if plan.reopen:
        lines.append(f"reopen session {code}")
    if plan.promote:
        lines.append(f"promote {plan.promote} from the waitlist of {code}")
    return lines


def _session_query() -> Any:
    """Sessions with their workshop and venue, read fresh (not from the identity map: the
    counts change through updates)."""
    return (
        select(WorkshopSession, Workshop, Venue)
        .join(Workshop, Workshop.id == WorkshopSession.workshop_id)
        .join(Venue, Venue.id == WorkshopSession.venue_id)
        .execution_options(populate_existing=True)
    )


def _session_view(row: WorkshopSession, workshop: Workshop, venue: Venue) -> SessionView:
    open_ = row.status == SCHEDULED
    return SessionView(
        id=int(row.id), code=row.code, workshop_code=workshop.code, topic=workshop.topic,
        facilitator_role=workshop.facilitator_role, venue_code=venue.code,
        venue_name=venue.name, venue_city=venue.city, venue_country=venue.country,
        venue_timezone=venue.timezone, starts_at=utc(row.starts_at),
        duration_minutes=row.duration_minutes, capacity=row.capacity,
        seats_left=max(row.capacity - row.booked_count, 0) if open_ else 0,
        language=row.language, status=row.status,
    )  # fmt: skip


def _booking_view(session: Session, booking_id: int, *, already: bool = False) -> BookingView:
    booking = session.execute(
        select(Booking).where(Booking.id == booking_id)
        .execution_options(populate_existing=True)
    ).scalar_one()  # fmt: skip
    view = session.execute(_session_query().where(WorkshopSession.id == booking.session_id)).one()
    position = None
    if booking.status == WAITLISTED:
        ahead = session.scalar(
            select(func.count()).select_from(Booking).where(
                Booking.session_id == booking.session_id, Booking.status == WAITLISTED,
                or_(Booking.joined_at < booking.joined_at,
                    and_(Booking.joined_at == booking.joined_at, Booking.id < booking.id)),
            )
        )  # fmt: skip
        position = int(ahead or 0) + 1
    return BookingView(
        id=int(booking.id), reference=booking.reference, session=_session_view(*view),
        participant=booking.participant, status=booking.status,
        joined_at=utc(booking.joined_at), created_at=utc(booking.created_at),
        updated_at=utc(booking.updated_at),
        cancelled_at=utc(booking.cancelled_at) if booking.cancelled_at else None,
        waitlist_position=position, already=already,
    )  # fmt: skip
