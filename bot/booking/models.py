"""The booking tables: venues, workshops, their sessions (dated, with seats), and bookings.

Every time is stored as UTC (SQLite gives it back naive: :func:`utc` puts the zone back).
A session's ``booked_count`` is the number of its seats taken (bookings booked, attended or
no-show); it only changes through conditional updates in :mod:`bot.booking.seats`, and a
check constraint keeps it within the capacity whatever happens.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import (
    CheckConstraint,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    text,
)

from bot.db.base import Base

TOPICS = ("childbirth", "breastfeeding", "motherhood", "sexuality", "nutrition", "addiction")
# Closed, so that a typo in a schedule file is caught and the bot can name the role in each
# language.
ROLES = (
    "midwife", "socio_beautician", "psychologist", "social_worker", "nurse", "doctor",
    "nutritionist", "addiction_counsellor", "educator",
)  # fmt: skip

# Session statuses.
SCHEDULED, CANCELLED = "scheduled", "cancelled"
SESSION_STATUSES = (SCHEDULED, CANCELLED)
# Booking statuses (CANCELLED too).
BOOKED, WAITLISTED, ATTENDED, NO_SHOW = "booked", "waitlisted", "attended", "no_show"
BOOKING_STATUSES = (BOOKED, WAITLISTED, CANCELLED, ATTENDED, NO_SHOW)
ACTIVE = (BOOKED, WAITLISTED)  # what the participant can still cancel or be moved with
SEATED = (BOOKED, ATTENDED, NO_SHOW)  # the bookings ``booked_count`` counts


def utc(moment: datetime) -> datetime:
    """SQLite gives back naive times: every stored time is UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Venue(Base):
    """Where sessions happen: a maternal centre, a shelter, a parenthood-support service."""

    __tablename__ = "venues"

    id = Column(Integer, primary_key=True)
    code = Column(String(40), nullable=False, unique=True)  # the schedule file's key
    name = Column(String(120), nullable=False)
    city = Column(String(80), nullable=False)
    country = Column(String(2), nullable=False)  # ML, PE, FR
    timezone = Column(String(64), nullable=False)  # IANA: the schedule's local times are in it
    updated_at = Column(DateTime(timezone=True), nullable=False)


class Workshop(Base):
    """A kind of group workshop, given many times (each time a session)."""

    __tablename__ = "workshops"

    id = Column(Integer, primary_key=True)
    code = Column(String(40), nullable=False, unique=True)
    topic = Column(String(20), nullable=False)  # TOPICS
    facilitator_role = Column(String(40), nullable=False)  # ROLES
    languages = Column(String(20), nullable=False)  # comma-separated: fr,bm
    updated_at = Column(DateTime(timezone=True), nullable=False)


class WorkshopSession(Base):
    """One dated session of a workshop at a venue, with its seats."""

    __tablename__ = "sessions"
    __table_args__ = (
        CheckConstraint("booked_count >= 0 AND booked_count <= capacity", name="ck_sessions_seats"),
        CheckConstraint(_one_of("status", SESSION_STATUSES), name="ck_sessions_status"),
        Index("ix_sessions_status_starts", "status", "starts_at"),
    )

    id = Column(Integer, primary_key=True)
    code = Column(String(60), nullable=False, unique=True)  # the schedule's own key
    workshop_id = Column(Integer, ForeignKey("workshops.id"), nullable=False)
    venue_id = Column(Integer, ForeignKey("venues.id"), nullable=False)
    starts_at = Column(DateTime(timezone=True), nullable=False)
    duration_minutes = Column(Integer, nullable=False)
    capacity = Column(Integer, nullable=False)
    booked_count = Column(Integer, nullable=False, default=0)  # seats taken: SEATED bookings
    language = Column(String(8), nullable=False)  # fr, es, bm
    status = Column(String(12), nullable=False, default=SCHEDULED)
    updated_at = Column(DateTime(timezone=True), nullable=False)


class Booking(Base):
    """A participant's place in a session, or on its waitlist. Rows are never deleted: a
    cancelled booking keeps its reference, so a late "cancel ABCDE" gets a clear answer."""

    __tablename__ = "bookings"
    __table_args__ = (
        # One active booking per participant and session, even when two requests race (a
        # double-tapped SMS): partial unique indexes work on SQLite and PostgreSQL alike.
        Index(
            "uq_bookings_active", "session_id", "participant", unique=True,
            sqlite_where=text(_one_of("status", ACTIVE)),
            postgresql_where=text(_one_of("status", ACTIVE)),
        ),
        CheckConstraint(_one_of("status", BOOKING_STATUSES), name="ck_bookings_status"),
        Index("ix_bookings_session_status", "session_id", "status", "joined_at"),
        Index("ix_bookings_participant", "participant", "status"),
    )

    id = Column(Integer, primary_key=True)
    session_id = Column(Integer, ForeignKey("sessions.id"), nullable=False)
    participant = Column(String(128), nullable=False)  # the conversation id (a pseudonym)
    status = Column(String(12), nullable=False)  # BOOKING_STATUSES
    reference = Column(String(8), nullable=False, unique=True)  # e.g. K7Q2M: said, typed
    # When it joined its session (booked, waitlisted, or moved there): the waitlist's order.
    joined_at = Column(DateTime(timezone=True), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False)
    updated_at = Column(DateTime(timezone=True), nullable=False)
    cancelled_at = Column(DateTime(timezone=True))


TABLES = (Venue.__table__, Workshop.__table__, WorkshopSession.__table__, Booking.__table__)
