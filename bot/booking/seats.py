"""The steps every change of seats and bookings is made of, inside its transaction: the
service's changes and the schedule import share them, so both keep the same rules.

Every change to a session's seats or bookings first locks the session's row (a no-op update,
:func:`lock`): on PostgreSQL that is the row lock, held to commit; on SQLite the database's
write lock, since pysqlite opens the transaction at the first write. Changes to one session
thus happen one after the other, and what a change reads after its lock is what it writes on
(a cancellation always sees the waitlist entry of a booking that raced it). The seat itself is
taken by a conditional update (``booked_count < capacity``) and a check constraint bounds
``booked_count``: over-booking would need both to fail.

Notices (a reminder, a freed seat, a cancelled session) are rows of ``booking_notices``
written in the same transaction as their change (:func:`bot.booking.notices.schedule`); the
ones a change makes pointless are marked ``obsolete`` (:func:`obsolete`), so they are never
sent. A step that finds the rows changed under it raises :class:`~bot.booking.errors.Raced`:
the whole change is run again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select, update
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
    WAITLISTED,
    Booking,
    WorkshopSession,
    utc,
)
from bot.booking.notices import BookingNotice
from bot.booking.views import booking_key, normal_reference, session_id_of

# Locks


def lock(session: Session, *session_ids: int) -> None:
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


def locked_session(session: Session, key: int | str) -> WorkshopSession:
    """The session ``key`` names, locked."""
    session_id = session_id_of(session, key)
    lock(session, session_id)
    return session.get(WorkshopSession, session_id)


def locked_booking(
    session: Session, key: int | str, participant: str | None
) -> tuple[Booking, WorkshopSession]:
    """The booking and its session, locked. Another participant's booking is not found."""
    found = session.execute(
        select(Booking.id, Booking.session_id, Booking.participant).where(booking_key(key))
    ).first()
    if found is None or (participant is not None and found.participant != participant):
        raise NotFound(f"no booking {normal_reference(key) if isinstance(key, str) else key}")
    lock(session, found.session_id)
    booking = session.get(Booking, found.id)
    if booking.session_id != found.session_id:
        raise Raced
    return booking, session.get(WorkshopSession, found.session_id)


# Checks


def check_open(row: WorkshopSession, now: datetime) -> None:
    """Bookings of a cancelled or started session no longer change."""
    if row.status != SCHEDULED:
        raise SessionClosed(f"session {row.code} is cancelled")
    if utc(row.starts_at) <= now:
        raise SessionClosed(f"session {row.code} has already started")


def check_active(booking: Booking) -> None:
    """Only a booked or waitlisted place can be cancelled or moved."""
    if booking.status not in ACTIVE:
        raise BookingError(f"booking {booking.reference} is {said(booking.status)}")


def said(status: str) -> str:
    """A booking's status as an error message says it."""
    return {CANCELLED: "already cancelled", ATTENDED: "marked attended",
            NO_SHOW: "marked no-show"}.get(status, status)  # fmt: skip


# Single-row changes


def take_seat(session: Session, session_id: int) -> bool:
    """The seat, if one is free: atomic on its own (a conditional update)."""
    result = session.execute(
        update(WorkshopSession)
        .where(WorkshopSession.id == session_id,
               WorkshopSession.booked_count < WorkshopSession.capacity,
               WorkshopSession.status == SCHEDULED)
        .values(booked_count=WorkshopSession.booked_count + 1),
        execution_options={"synchronize_session": False},
    )  # fmt: skip
    return result.rowcount == 1


def free_seats(session: Session, session_id: int, seats: int, **values: object) -> None:
    """Give ``seats`` back (with other changes to the session's row, in the same update);
    fewer seats taken than freed is a broken count, not a race."""
    result = session.execute(
        update(WorkshopSession)
        .where(WorkshopSession.id == session_id, WorkshopSession.booked_count >= seats)
        .values(booked_count=WorkshopSession.booked_count - seats, **values),
        execution_options={"synchronize_session": False},
    )
    if result.rowcount != 1:
        raise RuntimeError(f"session {session_id}: fewer seats taken than bookings")


def set_status(session: Session, booking_id: int, expected: str, **values: object) -> None:
    """A booking's change, if it is still ``expected`` (always so under the lock)."""
    result = session.execute(
        update(Booking).where(Booking.id == booking_id, Booking.status == expected)
        .values(**values),
        execution_options={"synchronize_session": False},
    )  # fmt: skip
    if result.rowcount != 1:
        raise Raced


def obsolete(
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


# Changes to a session's bookings, under its lock


def remind(
    session: Session, booking_id: int, row: WorkshopSession, now: datetime,
    before: timedelta,
) -> None:  # fmt: skip
    """A reminder ``before`` the start, unless that moment has passed."""
    due = utc(row.starts_at) - before
    if due > now:
        notices.schedule(session, booking_id, notices.REMINDER, due)


def retime(
    session: Session, row: WorkshopSession, now: datetime, reminder_before: timedelta
) -> None:
    """A session's new time: everyone booked or waiting is told it now (one notice, the
    latest time), and the seats' reminders follow the new start."""
    active = session.execute(
        select(Booking.id, Booking.status)
        .where(Booking.session_id == row.id, Booking.status.in_(ACTIVE))
    ).all()  # fmt: skip
    ids = [booking_id for booking_id, _ in active]
    obsolete(session, ids, now, kinds=(notices.REMINDER, notices.RESCHEDULED))
    for booking_id, status in active:
        notices.schedule(session, booking_id, notices.RESCHEDULED, now)
        if status == BOOKED:
            remind(session, booking_id, row, now, reminder_before)


def promote_next(
    session: Session, row: WorkshopSession, now: datetime, reminder_before: timedelta
) -> int | None:
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
    if first is None or not take_seat(session, row.id):
        return None
    set_status(session, first, WAITLISTED, status=BOOKED, updated_at=now)
    notices.schedule(session, first, notices.PROMOTED, now)
    remind(session, first, row, now, reminder_before)
    return int(first)


def cancel_all(session: Session, row: WorkshopSession, now: datetime) -> list[int]:
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
        if result.rowcount != len(ids):
            raise Raced
    free_seats(session, row.id, seats, status=CANCELLED, updated_at=now)
    session.expire(row)
    obsolete(session, ids, now)
    for booking_id in ids:
        notices.schedule(session, booking_id, notices.SESSION_CANCELLED, now)
    return ids
