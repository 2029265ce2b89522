"""The figures every instance shares, read from the database when ``/metrics`` is scraped.

Counts and ages only: no label, no value carries a pseudonym, an address or a text. Each
instance reports the same figures; a dashboard takes their maximum, not their sum.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bot import metrics
from bot.booking.notices import BookingNotice
from bot.channels.messages import InboundMessage, OutboundMessage
from bot.channels.rows import as_utc
from bot.db.base import utcnow
from bot.db.database import database_url, engine_from_env
from bot.handoff.models import HandoffRow
from bot.settings import Settings

FAILED = ("failed", "undelivered", "blocked")


class SharedFigures:
    """Sets the database gauges of :mod:`bot.metrics` (queue, outbox, handoffs, notices)."""

    def __init__(self, settings: Settings, engine: Engine | None = None) -> None:
        self.settings = settings
        self._engine = engine

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = engine_from_env(database_url(self.settings))
        return self._engine

    def refresh(self) -> None:
        now = utcnow()
        with self.engine.connect() as db:
            queue = db.scalar(select(func.count(InboundMessage.id))
                              .where(InboundMessage.status.in_(("received", "processing"))))
            backlog = db.scalar(select(func.count(OutboundMessage.id))
                                .where(OutboundMessage.status == "pending"))
            failed = db.scalar(select(func.count(OutboundMessage.id))
                               .where(OutboundMessage.status.in_(FAILED),
                                      OutboundMessage.updated_at >= now - timedelta(days=1)))
            waiting = (HandoffRow.claimed_at.is_(None), HandoffRow.closed_at.is_(None))
            handoffs = db.scalar(select(func.count(HandoffRow.id)).where(*waiting))
            oldest = db.scalar(select(func.min(HandoffRow.opened_at)).where(*waiting))
            due = db.scalar(select(func.count(BookingNotice.id))
                            .where(BookingNotice.sent_at.is_(None), BookingNotice.due_at <= now))
        metrics.INBOUND_QUEUE.set(queue or 0)
        metrics.OUTBOX_BACKLOG.set(backlog or 0)
        metrics.OUTBOX_FAILED.set(failed or 0)
        metrics.HANDOFFS_WAITING.set(handoffs or 0)
        age = (now - as_utc(oldest)).total_seconds() if oldest is not None else 0.0
        metrics.HANDOFF_OLDEST_WAIT.set(max(age, 0.0))
        metrics.NOTICES_DUE.set(due or 0)

