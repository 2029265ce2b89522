"""What becomes of a message we send: its outbound row, the provider's answer, then its
delivery reports.

Twilio sends several reports per message, in any order, sometimes before its API call has
returned the message's id; every report is kept as received (``delivery_status_events``), and
the message's status only moves forward: a late "sent" never undoes "delivered", failures
are final.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, Integer, String, func, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement

from bot.channels.messages import OutboundMessage
from bot.channels.rows import ChannelRows, write
from bot.db.base import Base, utcnow

# Delivery only moves forward: a late "sent" never undoes "delivered"; failures are final.
_RANK = {
    "pending": 0,
    "queued": 1,
    "sent": 2,
    "delivered": 3,
    "undelivered": 4,
    "failed": 4,
    "blocked": 4,
}
OUTBOUND_STATUSES = frozenset(_RANK)
# A provider's report in our words (Twilio's statuses; Telegram reports nothing after "sent").
_REPORTED = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}


class StatusEvent(Base):
    """Every delivery report as received (Twilio sends several per message, in any order)."""

    __tablename__ = "delivery_status_events"
    __table_args__ = (Index("ix_status_events_channel_provider", "channel", "provider_id"),)

    id = Column(Integer, primary_key=True)
    channel = Column(String(16), nullable=False)
    provider_id = Column(String(64), nullable=False)
    status = Column(String(16), nullable=False)  # the provider's word
    error_code = Column(String(16))
    at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class Deliveries(ChannelRows):
    """The outbound rows from "pending" to their last status, and the reports that move them."""

    def record_outbound(
        self,
        conversation_id: str,
        channel: str,
        text: str,
        *,
        segments: int | None = None,
        encoding: str | None = None,
    ) -> int:
        """A message about to be sent, as a "pending" row: a failed send stays visible."""
        now = self._now()
        row = OutboundMessage(
            conversation_id=conversation_id,
            channel=channel,
            text=text,
            status="pending",
            segments=segments,
            encoding=encoding,
            created_at=now,
            updated_at=now,
        )
        with self._transaction() as session:
            session.add(row)
            session.flush()
            return int(row.id)

    def mark_outbound(
        self,
        outbound_id: int,
        status: str,
        *,
        provider_id: str | None = None,
        error_code: str | None = None,
    ) -> None:
        """What the provider's API answered. Reports that came before its id was known (a fast
        Twilio callback) are applied now, so the row ends at its furthest status."""
        if status not in OUTBOUND_STATUSES:
            raise ValueError(f"unknown outbound status {status!r}")
        values: dict[str, object] = {"status": status, "updated_at": self._now()}
        if provider_id is not None:
            values["provider_id"] = str(provider_id)
        if error_code is not None:
            values["error_code"] = str(error_code)[:16]
        with self._transaction() as session:
            write(
                session,
                update(OutboundMessage).where(OutboundMessage.id == outbound_id).values(**values),
            )
            channel = session.scalar(
                select(OutboundMessage.channel).where(OutboundMessage.id == outbound_id)
            )
        if provider_id is None or channel is None:
            return
        # A second transaction: a report committed after the first one is applied by
        # record_status itself (it now finds the provider id), one committed before it is seen
        # here; either way none is lost.
        with self._transaction() as session:
            events = session.execute(
                select(StatusEvent.status, StatusEvent.error_code)
                .where(StatusEvent.channel == channel, StatusEvent.provider_id == str(provider_id))
                .order_by(StatusEvent.id)
            ).all()
            for reported, code in events:
                self._advance(
                    session, OutboundMessage.id == outbound_id, _REPORTED.get(reported), code
                )

    def record_status(
        self, channel: str, provider_id: str, status: str, error_code: str | None = None
    ) -> bool:
        """Keep a delivery report and move the message forward; False for an unknown message."""
        code = str(error_code)[:16] if error_code else None
        # The report is committed on its own first (see mark_outbound).
        with self._transaction() as session:
            session.add(
                StatusEvent(
                    channel=channel,
                    provider_id=str(provider_id),
                    status=status[:16],
                    error_code=code,
                    at=self._now(),
                )
            )
        match = (OutboundMessage.channel == channel) & (
            OutboundMessage.provider_id == str(provider_id)
        )
        with self._transaction() as session:
            self._advance(session, match, _REPORTED.get(status), code)
            found = session.scalar(select(func.count(OutboundMessage.id)).where(match))
        return bool(found)

    def _advance(
        self, session: Session, match: ColumnElement, status: str | None, error_code: str | None
    ) -> None:
        """Move matching rows to ``status`` only from an earlier one, in one UPDATE (so two
        reports handled at once by two instances cannot move a row backwards)."""
        if status is None:
            return
        earlier = [s for s, rank in _RANK.items() if rank < _RANK[status]]
        values: dict[str, object] = {"status": status, "updated_at": self._now()}
        if error_code:
            values["error_code"] = error_code
        write(
            session,
            update(OutboundMessage)
            .where(match, OutboundMessage.status.in_(earlier))
            .values(**values),
        )

    def outbound_conversation(self, channel: str, provider_id: str) -> str | None:
        """The conversation a sent message belongs to (a Twilio report names only the SID)."""
        statement = (
            select(OutboundMessage.conversation_id)
            .where(
                OutboundMessage.channel == channel,
                OutboundMessage.provider_id == str(provider_id),
            )
            .limit(1)
        )
        with self._transaction() as session:
            return session.scalar(statement)
