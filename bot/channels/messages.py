"""The message log: every message a provider delivered to us and every message we send.

An inbound row is written before its turn runs, so a redelivery is recognised (also after a
restart) and a message a stopped process left unfinished is found again. Outbound rows are
written here too; their delivery reports are :mod:`bot.channels.deliveries`. Texts and details
are encrypted at rest (:class:`~bot.db.crypto.EncryptedText`): they are compared with None or
"" only, never with a value. Nothing here logs a message text.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import (
    Column,
    DateTime,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from bot.channels.rows import ChannelRows, as_utc, write
from bot.db.base import Base, utcnow
from bot.db.crypto import EncryptedText

logger = logging.getLogger(__name__)

KINDS = frozenset(
    {"text", "media", "voice", "location", "sticker", "empty", "callback", "command", "other",
     "staff"}
)  # fmt: skip
INBOUND_STATUSES = frozenset(
    {"received", "processing", "done", "failed", "rate_limited", "opted_out", "ignored",
     "interrupted", "relayed", "relay_pending", "held", "console", "emergency", "privacy",
     "erased"}
)  # fmt: skip


class InboundMessage(Base):
    """A message as the provider delivered it; (channel, provider_id) recognises redeliveries,
    also after a restart."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("channel", "provider_id", name="uq_inbound_channel_provider"),
        Index("ix_inbound_conversation_received", "conversation_id", "received_at"),
        # Unanswered messages are few: found by status (recovery, the queue gauge).
        Index("ix_inbound_status", "status"),
    )

    id = Column(Integer, primary_key=True)
    channel = Column(String(16), nullable=False)
    provider_id = Column(String(64), nullable=False)  # Twilio MessageSid, Telegram update_id
    conversation_id = Column(String(40), nullable=False)  # indexed with received_at
    kind = Column(String(16), nullable=False)
    text = Column(EncryptedText)
    received_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    status = Column(String(16), nullable=False, default="received")
    error = Column(String(200))  # an exception class name, never its message
    # What the turn needs besides the text, as JSON (a resolved payload, a button position,
    # a forum topic): any instance may run the turn, not only the one that received it.
    details = Column(EncryptedText)  # a payload or a caption may carry her words


class OutboundMessage(Base):
    """A message we send: a row first, then the provider call, then delivery reports."""

    __tablename__ = "outbound_messages"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(40), nullable=False, index=True)
    channel = Column(String(16), nullable=False)
    provider_id = Column(String(64), index=True)
    text = Column(EncryptedText, nullable=False)
    status = Column(String(16), nullable=False, default="pending")
    error_code = Column(String(16))
    segments = Column(Integer)
    encoding = Column(String(8))
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class MessageLog(ChannelRows):
    """The inbound rows (redeliveries, where each turn got to, the rate limit's counts,
    recovery after a restart) and what a conversation said and was sent."""

    def record_inbound(
        self,
        channel: str,
        provider_id: str,
        conversation_id: str,
        kind: str,
        text: str | None,
        details: Mapping[str, object] | None = None,
    ) -> int | None:
        """The new row's id, or None when the provider already delivered this message."""
        if kind not in KINDS:
            raise ValueError(f"unknown message kind {kind!r}")
        row = InboundMessage(
            channel=channel,
            provider_id=str(provider_id),
            conversation_id=conversation_id,
            kind=kind,
            text=text,
            received_at=self._now(),
            status="received",
            details=json.dumps(details, sort_keys=True) if details else None,
        )
        try:
            with self._transaction() as session:
                session.add(row)
                session.flush()
                return int(row.id)
        except IntegrityError:
            logger.debug("Duplicate %s message %s.", channel, provider_id)
            return None

    def set_inbound_status(self, inbound_id: int, status: str, error: str | None = None) -> None:
        """Where a message's turn got to; ``error`` is an exception class name, never text."""
        if status not in INBOUND_STATUSES:
            raise ValueError(f"unknown inbound status {status!r}")
        with self._transaction() as session:
            write(
                session,
                update(InboundMessage)
                .where(InboundMessage.id == inbound_id)
                .values(status=status, error=error[:200] if error else None),
            )

    def inbound_count_since(
        self, conversation_id: str, since: datetime, *, up_to: int | None = None
    ) -> int:
        """Messages from a conversation since ``since`` (the rate limit), ignored ones aside;
        with ``up_to``, only those stored before and including that row: a burst is judged
        in arrival order, whatever order the turns run in."""
        statement = select(func.count(InboundMessage.id)).where(
            InboundMessage.conversation_id == conversation_id,
            InboundMessage.received_at >= as_utc(since),
            InboundMessage.status != "ignored",
        )
        if up_to is not None:
            statement = statement.where(InboundMessage.id <= up_to)
        with self._transaction() as session:
            return int(session.scalar(statement) or 0)

    def pending(
        self, channel: str, older_than: datetime
    ) -> list[tuple[int, str, str, str | None, str]]:
        """Messages a stopped process accepted but never finished: (row, conversation, kind,
        text, provider id), in arrival order. A handoff relays them after a restart."""
        statement = (
            select(InboundMessage.id, InboundMessage.conversation_id, InboundMessage.kind,
                   InboundMessage.text, InboundMessage.provider_id)
            .where(InboundMessage.channel == channel,
                   InboundMessage.status.in_(("received", "processing")),
                   InboundMessage.received_at < as_utc(older_than))
            .order_by(InboundMessage.id)
        )  # fmt: skip
        with self._transaction() as session:
            return [(int(i), c, k, t, p) for i, c, k, t, p in session.execute(statement).all()]

    def interrupt_pending(self, channel: str, older_than: datetime) -> list[str]:
        """Mark what a stopped process left unfinished on ``channel`` as "interrupted" (kept,
        never replayed out of context); the conversations concerned, each once."""
        pending = (
            InboundMessage.channel == channel,
            InboundMessage.status.in_(("received", "processing")),
            InboundMessage.received_at < as_utc(older_than),
        )
        with self._transaction() as session:
            which = select(InboundMessage.conversation_id).where(*pending).distinct()
            ids = sorted(session.scalars(which))
            write(session, update(InboundMessage).where(*pending).values(status="interrupted"))
        return ids

    def recent_texts(
        self, conversation_id: str, limit: int, direction: str | None = None,
        before: datetime | None = None,
    ) -> list[tuple[str, str]]:  # fmt: skip
        """The last ``limit`` texts of a conversation, oldest first, as ("user" | "bot",
        text): the context a counsellor gets with a request (texts only, no address);
        ``before``: only those until then (a request's context, read after it)."""
        found: list[tuple[datetime, int, str, str]] = []
        until = as_utc(before) if before is not None else None
        with self._transaction() as session:
            if direction in (None, "user"):
                received = [InboundMessage.received_at <= until] if until is not None else []
                rows = session.execute(
                    select(InboundMessage.received_at, InboundMessage.id, InboundMessage.text)
                    .where(InboundMessage.conversation_id == conversation_id,
                           InboundMessage.text.is_not(None), InboundMessage.text != "",
                           *received)
                    .order_by(InboundMessage.id.desc()).limit(limit)
                ).all()  # fmt: skip
                found += [(as_utc(at), i, "user", text) for at, i, text in rows]
            if direction in (None, "bot"):
                sent = [OutboundMessage.created_at <= until] if until is not None else []
                rows = session.execute(
                    select(OutboundMessage.created_at, OutboundMessage.id, OutboundMessage.text)
                    .where(OutboundMessage.conversation_id == conversation_id, *sent)
                    .order_by(OutboundMessage.id.desc()).limit(limit)
                ).all()  # fmt: skip
                found += [(as_utc(at), i, "bot", text) for at, i, text in rows]
        found.sort()
        return [(who, text) for _, _, who, text in found[-limit:]]

    def outbound_after(self, conversation_id: str, after_id: int) -> list[tuple[int, str]]:
        """What was sent to a conversation after row ``after_id`` (the local channel's
        terminal reads its messages this way)."""
        statement = (
            select(OutboundMessage.id, OutboundMessage.text)
            .where(OutboundMessage.conversation_id == conversation_id,
                   OutboundMessage.id > after_id)
            .order_by(OutboundMessage.id)
        )  # fmt: skip
        with self._transaction() as session:
            return [(int(i), text) for i, text in session.execute(statement).all()]
