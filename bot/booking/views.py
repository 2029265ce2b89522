"""What the booking service hands out: plain, frozen views of sessions and bookings (never
ORM rows, which would outlive their transaction), and how a row is found by what staff or a
participant types (an id, a code, a reference).

Below :mod:`bot.booking.service` and :mod:`bot.booking.schedule_import`: it imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select
from sqlalchemy.sql.elements import ColumnElement

from bot.booking.errors import NotFound
from bot.booking.models import (
    ACTIVE,
    SCHEDULED,
    WAITLISTED,
    Booking,
    Venue,
    Workshop,
    WorkshopSession,
    utc,
)


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


# Finding rows by what is typed


def normal_reference(key: str | int) -> str:
    """As typed: " k7q2m " is K7Q2M."""
    return str(key).strip().upper()


def session_key(key: int | str) -> ColumnElement[bool]:
    """A session by id (an int) or by code (as typed)."""
    if isinstance(key, int) and not isinstance(key, bool):
        return WorkshopSession.id == key
    return WorkshopSession.code == str(key).strip()


def booking_key(key: int | str) -> ColumnElement[bool]:
    """A booking by id (an int) or by reference (as typed)."""
    if isinstance(key, int) and not isinstance(key, bool):
        return Booking.id == key
    return Booking.reference == normal_reference(key)


def session_id_of(session: Session, key: int | str) -> int:
    """The id of the session ``key`` names, or NotFound."""
    found = session.scalar(select(WorkshopSession.id).where(session_key(key)))
    if found is None:
        raise NotFound(f"no session {key}")
    return int(found)


# Building the views


def session_query() -> Select:
    """Sessions with their workshop and venue, read fresh (not from the identity map: the
    counts change through updates)."""
    return (
        select(WorkshopSession, Workshop, Venue)
        .join(Workshop, Workshop.id == WorkshopSession.workshop_id)
        .join(Venue, Venue.id == WorkshopSession.venue_id)
        .execution_options(populate_existing=True)
    )


def session_view(row: WorkshopSession, workshop: Workshop, venue: Venue) -> SessionView:
    """A row of :func:`session_query` as a view; a cancelled session has no seat left."""
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


def booking_view(session: Session, booking_id: int, *, already: bool = False) -> BookingView:
    """The booking as it is now in this transaction, with its place on the waitlist."""
    booking = session.execute(
        select(Booking).where(Booking.id == booking_id)
        .execution_options(populate_existing=True)
    ).scalar_one()  # fmt: skip
    view = session.execute(session_query().where(WorkshopSession.id == booking.session_id)).one()
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
        id=int(booking.id), reference=booking.reference, session=session_view(*view),
        participant=booking.participant, status=booking.status,
        joined_at=utc(booking.joined_at), created_at=utc(booking.created_at),
        updated_at=utc(booking.updated_at),
        cancelled_at=utc(booking.cancelled_at) if booking.cancelled_at else None,
        waitlist_position=position, already=already,
    )  # fmt: skip
