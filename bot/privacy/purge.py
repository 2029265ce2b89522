"""Retention: message texts older than ``RETENTION_DAYS`` are erased everywhere they sit.

Our tables keep their rows (when, which channel, what kind, how many SMS segments: the
programme's counts) without the words; the risk check's review queue (the masked messages
counsellors marked, :mod:`bot.safety.review`) goes after the same time; contacts nobody
heard from for that long go, unless a workshop place or a handoff still needs to reach them;
Rasa's tracker keeps its events with their words blanked (:mod:`bot.privacy.tracker`). The
dashboard's weekly figures are computed first (:func:`bot.dashboard.rollup.refresh`), so the
weeks about to lose rows keep their counts. Run
once across instances by :mod:`bot.privacy.worker`, or by hand: ``python -m bot privacy purge
[--dry-run]``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.sql.expression import ColumnElement

from bot.booking.models import ACTIVE, Booking
from bot.channels.buttons import ButtonChoice
from bot.channels.contacts import Contact
from bot.channels.messages import InboundMessage, OutboundMessage
from bot.dashboard.rollup import refresh
from bot.db.base import utcnow
from bot.db.transactions import session_factory
from bot.handoff.models import HandoffMessage, HandoffRow
from bot.privacy.tracker import RasaEvents
from bot.safety.review import SafetyReview

logger = logging.getLogger(__name__)


def cutoff_for(days: int, now: datetime | None = None) -> datetime:
    """The moment before which texts are erased."""
    if days < 1:
        raise ValueError("RETENTION_DAYS must be at least 1")
    return (now or utcnow()) - timedelta(days=days)


def _targets(cutoff: datetime) -> list[tuple[str, Any, ColumnElement[bool], dict[str, Any]]]:
    """(name, table, which rows, new values) of every text column of ours."""
    return [
        ("inbound_messages", InboundMessage,
         and_(InboundMessage.received_at < cutoff,
              or_(InboundMessage.text.is_not(None), InboundMessage.details.is_not(None))),
         {"text": None, "details": None}),
        ("outbound_messages", OutboundMessage,
         and_(OutboundMessage.created_at < cutoff, OutboundMessage.text != ""), {"text": ""}),
        ("handoff_messages", HandoffMessage,
         and_(HandoffMessage.at < cutoff, HandoffMessage.text != "",
              HandoffMessage.to_relay.is_(False)), {"text": ""}),
    ]  # fmt: skip


def _idle_contacts(cutoff: datetime) -> ColumnElement[bool]:
    """Contacts silent since ``cutoff`` that nothing still has to reach (an active workshop
    place, an open handoff)."""
    booked = exists().where(Booking.participant == Contact.id, Booking.status.in_(ACTIVE))
    handed = exists().where(HandoffRow.conversation_id == Contact.id,
                            HandoffRow.closed_at.is_(None))  # fmt: skip
    return and_(Contact.last_seen_at < cutoff, ~booked, ~handed)


def purge(
    engine: Engine, events: RasaEvents | None, cutoff: datetime, *, dry_run: bool = False
) -> dict[str, int]:
    """Erase every text older than ``cutoff``; what was (or, with ``dry_run``, would be)
    erased, table by table."""
    counts: dict[str, int] = {}
    if not dry_run:  # the weeks about to lose rows keep their counts (the dashboard's)
        try:
            refresh(engine, events, cutoff)
        except Exception as error:  # her words go on time even if the counts cannot be kept
            logger.error("Dashboard figures not computed before the purge (%s).",
                         type(error).__name__)
    with session_factory(engine).begin() as session:
        for name, table, which, values in _targets(cutoff):
            if dry_run:
                counts[name] = int(session.scalar(select(func.count()).where(which)) or 0)
            else:
                result = session.execute(update(table).where(which).values(**values)
                                         .execution_options(synchronize_session=False))
                counts[name] = int(result.rowcount or 0)  # fmt: skip
        old_buttons = ButtonChoice.created_at < cutoff
        old_reviews = SafetyReview.day < cutoff.date()  # a review keeps its day, not its time
        idle = _idle_contacts(cutoff)
        if dry_run:
            counts["button_choices"] = int(session.scalar(
                select(func.count()).select_from(ButtonChoice).where(old_buttons)) or 0)
            counts["safety_reviews"] = int(session.scalar(
                select(func.count()).select_from(SafetyReview).where(old_reviews)) or 0)
            counts["contacts"] = int(session.scalar(
                select(func.count()).select_from(Contact).where(idle)) or 0)  # fmt: skip
        else:
            counts["button_choices"] = int(session.execute(
                delete(ButtonChoice).where(old_buttons)).rowcount or 0)
            counts["safety_reviews"] = int(session.execute(
                delete(SafetyReview).where(old_reviews)
                .execution_options(synchronize_session=False)).rowcount or 0)
            counts["contacts"] = int(session.execute(
                delete(Contact).where(idle).execution_options(synchronize_session=False)
            ).rowcount or 0)  # fmt: skip
    counts["tracker_events"] = events.scrub_before(cutoff, dry_run=dry_run) if events else 0
    if not dry_run and any(counts.values()):
        logger.info("Retention purge: %s.",
                    ", ".join(f"{t} {n}" for t, n in counts.items() if n))  # fmt: skip
    return counts


def closed_topics(engine: Engine, cutoff: datetime) -> list[tuple[int, int]]:
    """(handoff, forum topic) of handoffs closed before ``cutoff`` whose staff-group topic
    still exists: the purge deletes them (their messages are her words)."""
    statement = select(HandoffRow.id, HandoffRow.topic_id).where(
        HandoffRow.closed_at < cutoff, HandoffRow.topic_id.is_not(None))
    with session_factory(engine).begin() as session:
        return [(int(h), int(t)) for h, t in session.execute(statement)]


def forget_topic(engine: Engine, handoff_id: int) -> None:
    """The handoff's topic was deleted from the staff group."""
    with session_factory(engine).begin() as session:
        session.execute(update(HandoffRow).where(HandoffRow.id == handoff_id)
                        .values(topic_id=None))  # fmt: skip
