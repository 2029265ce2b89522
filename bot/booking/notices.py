"""Messages to a participant outside any conversation: a reminder before her session, a seat
freed for her from the waitlist, a session cancelled, her place moved by staff, a new time.
Each is a row with a due time, written in the same transaction as the change that causes it,
and sent by the Rasa server's worker through the channels' outbox: none is lost if the server
is down when it falls due, and an instance sends one only after taking its lease, so it goes
out once across instances.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Column, DateTime, Index, Integer, String, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.booking.models import Booking
from bot.db.base import Base

REMINDER, PROMOTED, SESSION_CANCELLED = "reminder", "promoted", "session_cancelled"
MOVED, RESCHEDULED = "moved", "rescheduled"
KINDS = (REMINDER, PROMOTED, SESSION_CANCELLED, MOVED, RESCHEDULED)
# The notices that end with "can't come? write CANCEL": her answer means their booking.
CANCELLABLE = (REMINDER, PROMOTED, MOVED, RESCHEDULED)
LEASE = timedelta(seconds=60)


class BookingNotice(Base):
    """One message to send about one booking."""

    __tablename__ = "booking_notices"
    __table_args__ = (Index("ix_booking_notices_due", "sent_at", "due_at"),)

    id = Column(Integer, primary_key=True)
    booking_id = Column(Integer, nullable=False, index=True)
    kind = Column(String(20), nullable=False)
    due_at = Column(DateTime(timezone=True), nullable=False)
    lease_until = Column(DateTime(timezone=True))
    sent_at = Column(DateTime(timezone=True))  # or given up: see ``outcome``
    outcome = Column(String(20))  # sent, unreachable, obsolete


def schedule(session: Session, booking_id: int, kind: str, due_at: datetime) -> None:
    """Add a notice inside the caller's transaction (the booking change and its notice
    commit together)."""
    if kind not in KINDS:
        raise ValueError(f"unknown notice kind {kind!r}")
    session.add(BookingNotice(booking_id=booking_id, kind=kind, due_at=due_at))


def last_reminded(engine: Engine, participant: str, since: datetime) -> int | None:
    """The booking of the last notice she can answer "ANNULER" to (a reminder, a freed seat, a
    move, a new time; since ``since``): her "ANNULER" means that one, even when she has
    several."""
    statement = (
        select(BookingNotice.booking_id)
        .join(Booking, Booking.id == BookingNotice.booking_id)
        .where(Booking.participant == participant, BookingNotice.kind.in_(CANCELLABLE),
               BookingNotice.outcome == "sent", BookingNotice.sent_at >= since)
        .order_by(BookingNotice.sent_at.desc())
        .limit(1)
    )  # fmt: skip
    with engine.connect() as connection:
        found = connection.scalar(statement)
    return int(found) if found is not None else None
