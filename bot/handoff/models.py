"""The handoff's tables and the plain values read from them.

A handoff is a numbered request (#12) with a transcript and persistent timers; the service
(:mod:`bot.handoff.service`) is the one place that changes these rows. Times are stored in
UTC; SQLite gives them back naive, so every reader goes through :func:`utc`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Boolean, Column, DateTime, Index, Integer, String, false

from bot.db.base import Base
from bot.db.crypto import EncryptedText


class HandoffRow(Base):
    """One request for a person, from the ask to the hand-back. ``id`` is the short number
    counsellors use (#12); they never see the conversation id or the address."""

    __tablename__ = "handoffs"
    __table_args__ = (Index("ix_handoffs_conversation_open", "conversation_id", "closed_at"),)

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(40), nullable=False)
    language = Column(String(8), nullable=False)
    channel = Column(String(16), nullable=False)  # the user's channel
    reason = Column(String(20), nullable=False)
    priority = Column(Boolean, nullable=False, default=False)
    opened_at = Column(DateTime(timezone=True), nullable=False)
    claimed_at = Column(DateTime(timezone=True))
    closed_at = Column(DateTime(timezone=True))
    counsellor_id = Column(String(40))
    outcome = Column(String(20))
    topic_id = Column(Integer)  # the Telegram forum topic (message_thread_id)
    last_activity_at = Column(DateTime(timezone=True), nullable=False)
    waiting_notice_at = Column(DateTime(timezone=True))
    # Who sends her waiting messages now (a token per sender), and until when.
    relay_holder = Column(String(32))
    relay_lease_until = Column(DateTime(timezone=True))
    # Her first message since her counsellor last wrote (the SILENT timer counts from it).
    user_waiting_since = Column(DateTime(timezone=True))
    # The relay's budget towards the counsellor (a token bucket): sends left, counted at.
    relay_tokens_at = Column(DateTime(timezone=True))
    relay_tokens = Column(Integer, nullable=False, server_default="0")
    slow_notice_at = Column(DateTime(timezone=True))  # "your messages arrive, wait": rationed
    # An emergency during the handoff whose numbers wait for her country: its category.
    country_question = Column(String(20))
    country_asks = Column(Integer, nullable=False, server_default="0")
    checkin_at = Column(DateTime(timezone=True))  # queued, asked "are you safe right now?"


class HandoffMessage(Base):
    """Every message relayed, both ways, in order: the handoff's transcript."""

    __tablename__ = "handoff_messages"
    __table_args__ = (
        Index("ix_handoff_messages_handoff", "handoff_id", "id"),
        Index("ix_handoff_messages_to_relay", "to_relay", "handoff_id"),
    )

    id = Column(Integer, primary_key=True)
    handoff_id = Column(Integer, nullable=False)
    direction = Column(String(12), nullable=False)  # user, counsellor, note
    counsellor_id = Column(String(40))
    text = Column(EncryptedText, nullable=False)  # encrypted at rest (bot.db.crypto)
    at = Column(DateTime(timezone=True), nullable=False)
    # Not yet delivered (hers to the console, the counsellor's to her): sent in order, per
    # direction, by the relay lease's holder; attempts so far; given up at failed_at.
    to_relay = Column(Boolean, nullable=False, default=False, server_default=false())
    attempts = Column(Integer, nullable=False, server_default="0")
    failed_at = Column(DateTime(timezone=True))


class HandoffTimer(Base):
    """A deadline of a handoff, run once by whichever instance takes its lease."""

    __tablename__ = "handoff_timers"
    __table_args__ = (Index("ix_handoff_timers_due", "done_at", "due_at"),)

    id = Column(Integer, primary_key=True)
    handoff_id = Column(Integer, nullable=False)
    kind = Column(String(12), nullable=False)
    due_at = Column(DateTime(timezone=True), nullable=False)
    lease_until = Column(DateTime(timezone=True))
    done_at = Column(DateTime(timezone=True))
    detail = Column(String(60))  # RETURNED: why; ASSIGNED: from whom; CLOSED: outcome


@dataclass(frozen=True)
class Handoff:
    """A handoff as every caller uses it, after its session is closed."""

    id: int
    conversation_id: str
    language: str
    channel: str
    reason: str
    priority: bool
    opened_at: datetime
    counsellor_id: str | None
    closed_at: datetime | None
    outcome: str | None
    topic_id: int | None
    last_activity_at: datetime
    user_waiting_since: datetime | None = None
    country_question: str | None = None
    country_asks: int = 0
    checkin_at: datetime | None = None

    @property
    def open(self) -> bool:
        """Not closed yet: moves, relays and timers apply only to an open handoff."""
        return self.closed_at is None


@dataclass(frozen=True)
class Line:
    """One message of a transcript."""

    direction: str
    text: str
    at: datetime
    counsellor_id: str | None = None


@dataclass(frozen=True)
class Pending:
    """A message not yet delivered: to the counsellor (``user``) or to her (``counsellor``)."""

    id: int
    direction: str
    text: str
    attempts: int
    counsellor_id: str | None


@dataclass(frozen=True)
class Timer:
    """A due timer this instance holds the lease of (:meth:`HandoffService.take_due`)."""

    id: int
    handoff_id: int
    kind: str
    due_at: datetime
    detail: str | None = None


def utc(moment: datetime) -> datetime:
    """SQLite gives back naive times: every stored time is UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def handoff_of(row: HandoffRow) -> Handoff:
    """The row as a plain value, its times in UTC (SQLite gives them back naive)."""
    return Handoff(
        id=int(row.id), conversation_id=row.conversation_id, language=row.language,
        channel=row.channel, reason=row.reason, priority=bool(row.priority),
        opened_at=utc(row.opened_at), counsellor_id=row.counsellor_id,
        closed_at=utc(row.closed_at) if row.closed_at else None, outcome=row.outcome,
        topic_id=row.topic_id, last_activity_at=utc(row.last_activity_at),
        user_waiting_since=utc(row.user_waiting_since) if row.user_waiting_since else None,
        country_question=row.country_question, country_asks=int(row.country_asks or 0),
        checkin_at=utc(row.checkin_at) if row.checkin_at else None,
    )  # fmt: skip
