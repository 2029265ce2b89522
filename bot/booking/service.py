"""Bookings of workshop sessions, with a waitlist: the one entry for reading and changing
them (the conversation's actions, the notice sender and the staff command line all go
through :class:`BookingService`).

Each change is one unit of work: it locks the session's row, checks, and writes the seats,
the bookings and their notices together (the steps and why they are safe:
:mod:`bot.booking.seats`). What it hands back are plain views (:mod:`bot.booking.views`);
the schedule file's import is :mod:`bot.booking.schedule_import`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.booking import notices
from bot.booking.errors import BookingError, NotFound, Raced, SessionClosed
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
    WorkshopSession,
    utc,
)
from bot.booking.schedule_file import load_schedule
from bot.booking.schedule_import import import_into
from bot.booking.seats import (
    cancel_all,
    check_active,
    check_open,
    free_seats,
    lock,
    locked_booking,
    locked_session,
    obsolete,
    promote_next,
    remind,
    said,
    set_status,
    take_seat,
)
from bot.booking.views import (
    BookingView,
    RosterRow,
    SessionView,
    booking_key,
    booking_view,
    normal_reference,
    session_id_of,
    session_key,
    session_query,
    session_view,
)
from bot.db.base import utcnow
from bot.db.transactions import Transactional
from bot.settings import BookingSettings

logger = logging.getLogger(__name__)

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O nor 1/I: read aloud, typed on keypads
REFERENCE_LENGTH = 5  # 32^5: 33 million references
ATTENDANCE_OPENS = timedelta(hours=1)  # before the start: the roll call begins at the door
_ATTEMPTS = 4  # a change that lost a race (of either kind) this many times in a row gives up
T = TypeVar("T")


class BookingService(Transactional):
    """Books, cancels, moves, and imports the schedule. Its tables come from the migrations,
    which every engine runs (:func:`bot.db.database.make_engine`)."""

    def __init__(
        self,
        engine: Engine,
        clock: Callable[[], datetime] = utcnow,
        reminder_before: timedelta = timedelta(hours=24),
    ) -> None:
        super().__init__(engine)
        self._clock = clock
        self.reminder_before = reminder_before

    @classmethod
    def from_settings(cls, engine: Engine, settings: BookingSettings) -> BookingService:
        """With the reminder delay of the settings (``BOOKING_REMINDER_HOURS``)."""
        return cls(engine, reminder_before=settings.reminder_before)

    def now(self) -> datetime:
        """The service's clock (a test's manual one, else the real), in UTC."""
        return _instant(self._clock())

    def _run(
        self,
        work: Callable[[Session], T],
        retry_on: tuple[type[BaseException], ...] = (IntegrityError, Raced),
        attempts: int = _ATTEMPTS,
    ) -> T:
        """The base's retried unit of work, for the races no lock covers: a reference drawn
        twice, two imports adding the same code (IntegrityError), a booking moved between
        its reading and its lock (:class:`Raced`, which staff see as a BookingError)."""
        try:
            return super()._run(work, retry_on, attempts)
        except Raced:
            raise BookingError("the booking changed meanwhile: try again") from None

    # Reading

    def upcoming(
        self, language: str | None = None, at: datetime | None = None, limit: int = 9
    ) -> list[SessionView]:
        """Sessions still to come and not cancelled, soonest first; full ones too (they
        have a waitlist)."""
        at = self.now() if at is None else _instant(at)
        statement = session_query().where(
            WorkshopSession.status == SCHEDULED, WorkshopSession.starts_at > at
        )
        if language is not None:
            statement = statement.where(WorkshopSession.language == language)
        statement = statement.order_by(WorkshopSession.starts_at, WorkshopSession.id).limit(limit)
        with self._transaction() as session:
            return [session_view(*row) for row in session.execute(statement)]

    def session(self, key: int | str) -> SessionView | None:
        """A session by id or code, whatever its status."""
        with self._transaction() as session:
            row = session.execute(session_query().where(session_key(key))).first()
            return None if row is None else session_view(*row)

    def sessions(self, ids: list[int]) -> list[SessionView]:
        """The sessions of a list shown to her, in its order (missing ones left out)."""
        found = [self.session(i) for i in ids]
        return [view for view in found if view is not None]

    def booking(self, key: int | str) -> BookingView | None:
        """A booking by id or reference, whatever its status."""
        with self._transaction() as session:
            booking_id = session.scalar(select(Booking.id).where(booking_key(key)))
            return None if booking_id is None else booking_view(session, booking_id)

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
            return [booking_view(session, i) for i in session.scalars(statement).all()]

    def roster(self, session_code: int | str) -> list[RosterRow]:
        """Who comes: seats first (booked, attended, no-show), then the waitlist in its
        order. Cancelled bookings are left out."""
        with self._transaction() as session:
            session_id = session_id_of(session, session_code)
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
            row = locked_session(session, session_id)
            now = self.now()  # after the lock: the waitlist's order is the locks' order
            check_open(row, now)
            mine = session.scalar(
                select(Booking.id).where(Booking.session_id == row.id,
                                         Booking.participant == participant,
                                         Booking.status.in_(ACTIVE))
            )  # fmt: skip
            if mine is not None:
                return booking_view(session, mine, already=True)
            seated = take_seat(session, row.id)
            booking = Booking(
                session_id=row.id, participant=participant,
                status=BOOKED if seated else WAITLISTED, reference=_new_reference(session),
                joined_at=now, created_at=now, updated_at=now,
            )  # fmt: skip
            session.add(booking)
            session.flush()
            if seated:
                remind(session, booking.id, row, now, self.reminder_before)
            logger.info("Booking %s: %s in session %s.", booking.reference, booking.status,
                        row.code)  # fmt: skip
            return booking_view(session, booking.id)

        return self._run(work)

    def cancel(
        self, reference_or_id: str | int, participant: str | None = None
    ) -> tuple[BookingView, BookingView | None]:
        """Cancel a booked or waitlisted place (only her own when ``participant`` is given).
        A freed seat goes to the first on the waitlist, who gets a ``promoted`` notice now.
        The cancelled booking and the promoted one (or None)."""

        def work(session: Session) -> tuple[BookingView, BookingView | None]:
            booking, row = locked_booking(session, reference_or_id, participant)
            now = self.now()
            check_active(booking)
            check_open(row, now)
            was = booking.status
            set_status(session, booking.id, was, status=CANCELLED, cancelled_at=now,
                        updated_at=now)  # fmt: skip
            obsolete(session, [booking.id], now)
            promoted = None
            if was == BOOKED:
                free_seats(session, row.id, 1)
                promoted = promote_next(session, row, now, self.reminder_before)
            logger.info("Booking %s cancelled%s.", booking.reference,
                        " (a seat went to the waitlist)" if promoted else "")  # fmt: skip
            return (
                booking_view(session, booking.id),
                None if promoted is None else booking_view(session, promoted),
            )

        return self._run(work)

    def cancel_session(self, session_code_or_id: str | int) -> list[BookingView]:
        """The session will not take place: every booked and waitlisted place is cancelled
        and each participant gets a ``session_cancelled`` notice now. The bookings cancelled."""

        def work(session: Session) -> list[BookingView]:
            row = locked_session(session, session_code_or_id)
            now = self.now()
            if row.status == CANCELLED:
                raise BookingError(f"session {row.code} is already cancelled")
            check_open(row, now)
            cancelled = cancel_all(session, row, now)
            logger.info("Session %s cancelled (%d bookings).", row.code, len(cancelled))
            return [booking_view(session, i) for i in cancelled]

        return self._run(work)

    def move(self, reference: str, to_session: str | int) -> BookingView:
        """Move a booked or waitlisted place to another session (same reference): a seat
        there if one is free, else its waitlist. The old seat goes to that session's waitlist."""

        def work(session: Session) -> BookingView:
            found = session.execute(
                select(Booking.id, Booking.session_id).where(booking_key(reference))
            ).first()
            if found is None:
                raise NotFound(f"no booking {normal_reference(reference)}")
            target_id = session_id_of(session, to_session)
            lock(session, found.session_id, target_id)  # in id order: no deadlock
            booking = session.get(Booking, found.id)
            if booking.session_id != found.session_id:
                raise Raced
            old = session.get(WorkshopSession, found.session_id)
            new = session.get(WorkshopSession, target_id)
            now = self.now()
            if old.id == new.id:
                raise BookingError(f"booking {booking.reference} is already in session {new.code}")
            check_active(booking)
            check_open(old, now)
            check_open(new, now)
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
                free_seats(session, old.id, 1)
            seated = take_seat(session, new.id)
            obsolete(session, [booking.id], now)
            set_status(session, booking.id, was, session_id=new.id,
                        status=BOOKED if seated else WAITLISTED, joined_at=now,
                        updated_at=now)  # fmt: skip
            if seated:
                remind(session, booking.id, new, now, self.reminder_before)
            notices.schedule(session, booking.id, notices.MOVED, now)  # she is told at once
            if was == BOOKED:
                promote_next(session, old, now, self.reminder_before)
            logger.info("Booking %s moved from %s to %s.", booking.reference, old.code, new.code)
            return booking_view(session, booking.id)

        return self._run(work)

    def mark_attendance(
        self, session_code: str | int, reference: str, attended: bool = True
    ) -> BookingView:
        """Attended or no-show, for a seat of the session (a mistake can be corrected)."""

        def work(session: Session) -> BookingView:
            row = locked_session(session, session_code)
            now = self.now()
            booking = session.scalars(select(Booking).where(booking_key(reference))).first()
            if booking is None or booking.session_id != row.id:
                raise NotFound(f"no booking {normal_reference(reference)} in session {row.code}")
            if row.status == CANCELLED:
                raise SessionClosed(f"session {row.code} was cancelled")
            if now < utc(row.starts_at) - ATTENDANCE_OPENS:
                raise BookingError(
                    f"session {row.code} has not begun: attendance opens an hour before it"
                )
            if booking.status not in SEATED:
                raise BookingError(
                    f"booking {booking.reference} is {said(booking.status)}: only a seat can "
                    "be marked attended or no-show"
                )
            set_status(session, booking.id, booking.status,
                        status=ATTENDED if attended else NO_SHOW, updated_at=now)  # fmt: skip
            return booking_view(session, booking.id)

        return self._run(work)

    def import_schedule(self, path: str | Path, dry_run: bool = False) -> list[str]:
        """Add and update venues, workshops and sessions from a YAML or CSV file (never
        delete). The change lines, written or (``dry_run``) not. The file is checked whole
        and planned before anything is written; one transaction writes it all. A session
        cancelled by the file cancels its bookings (with notices); a time change moves the
        reminders; seats added go to the waitlist. A capacity below the seats already taken
        is refused."""
        schedule = load_schedule(path)

        def work(session: Session) -> list[str]:
            return import_into(session, schedule, now=self.now(), dry_run=dry_run,
                               reminder_before=self.reminder_before)  # fmt: skip

        try:
            lines = self._run(work)
        except BookingError as error:
            raise type(error)(f"{path}: {error}") from None
        if lines and not dry_run:
            logger.info("Schedule %s: %s.", path, "; ".join(lines))
        return lines


def _instant(at: datetime) -> datetime:
    """An aware time in UTC; a naive one is refused (whose clock would it be on?)."""
    if at.tzinfo is None:
        raise ValueError("a timezone-aware datetime is required")
    return at.astimezone(timezone.utc)


def _new_reference(session: Session) -> str:
    """A reference no booking has (a race to the same one fails on the unique index, and
    the booking is tried again)."""
    while True:
        reference = "".join(secrets.choice(ALPHABET) for _ in range(REFERENCE_LENGTH))
        if session.scalar(select(Booking.id).where(Booking.reference == reference)) is None:
            return reference
