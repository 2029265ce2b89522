"""Everything held on one person, found, exported or erased.

"Forget me" (:mod:`bot.privacy.desk`) and staff's ``python -m bot privacy erase`` both end
here. Erasing leaves no row that names her address, her pseudonym or her words: her contact
goes, her messages, transcripts and tracker go or keep only their time and kind (the
programme's counts), her places in future workshops are cancelled (a seat freed goes to the
waitlist) and her bookings keep an anonymous line on the rosters; safety alerts keep their
category; the messages of hers that counsellors marked for the risk check's review go (found
by her pseudonym). A handoff still open is ended by the caller first (its counsellor must be
told).
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, delete, func, literal, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.booking.errors import BookingError
from bot.booking.models import Booking, Workshop, WorkshopSession
from bot.booking.notices import BookingNotice
from bot.booking.service import BookingService
from bot.channels.buttons import ButtonChoice
from bot.channels.contacts import Contact
from bot.channels.deliveries import StatusEvent
from bot.channels.leases import ConversationLease
from bot.channels.messages import InboundMessage, OutboundMessage
from bot.db.base import utcnow
from bot.db.transactions import session_factory
from bot.handoff.models import HandoffMessage, HandoffRow, HandoffTimer
from bot.handoff.ownership import ConversationOwner, OwnerChange
from bot.privacy.tracker import RasaEvents
from bot.safety.models import SafetyAlert
from bot.safety.review import SafetyReview

logger = logging.getLogger(__name__)

ERASED = "erased"  # what stands where her conversation id was (counts stay, she does not)
PREFIXES = ("sms-", "tg-", "loc-")


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


class Eraser:
    """Finds, exports and erases one person's data in our database and Rasa's tracker.

    Args:
        engine: our database.
        events: Rasa's tracker table (None: a database with no tracker beside it, tests).
    """

    def __init__(self, engine: Engine, events: RasaEvents | None) -> None:
        self.engine = engine
        self.events = events
        self._sessions = session_factory(engine)

    def find(self, key: str) -> str | None:
        """The conversation id behind a booking reference ("K7Q2M") or a pseudonym."""
        key = key.strip()
        with self._sessions.begin() as session:
            if key.lower().startswith(PREFIXES):
                tables = ((Contact.id, Contact.id), (InboundMessage.conversation_id,) * 2,
                          (Booking.participant,) * 2, (HandoffRow.conversation_id,) * 2)
                for column, where in tables:  # fmt: skip
                    found = session.scalar(select(column).where(where == key.lower()).limit(1))
                    if found:
                        return str(found)
                return None
            found = session.scalar(select(Booking.participant).where(
                Booking.reference == key.upper()))  # fmt: skip
            return str(found) if found and not str(found).startswith(ERASED) else None

    def topics(self, conversation_id: str) -> list[int]:
        """Her handoffs' forum topics in the staff group (deleted with her data)."""
        with self._sessions.begin() as session:
            return [int(t) for t in session.scalars(
                select(HandoffRow.topic_id).where(HandoffRow.conversation_id == conversation_id,
                                                  HandoffRow.topic_id.is_not(None)))]  # fmt: skip

    def erase(self, conversation_id: str) -> dict[str, int]:
        """Erase everything on her; what went, table by table (counts, never content)."""
        if not conversation_id or conversation_id == ERASED:
            raise ValueError("a conversation id is required")
        # The tracker first, our rows (her contact last of all) in one transaction after: an
        # erasure cut off anywhere is done again whole by the next attempt.
        counts = {"tracker_events": self.events.delete(conversation_id) if self.events else 0}
        counts["bookings_cancelled"] = self._cancel_bookings(conversation_id)
        with self._sessions.begin() as session:
            counts.update(self._erase_rows(session, conversation_id))
        logger.info("Erased a conversation: %s.", _summary(counts))
        return counts

    def forget_sends(self, conversation_id: str) -> None:
        """The goodbye sent after the erasure wrote a row under her id: anonymised too."""
        with self._sessions.begin() as session:
            session.execute(update(OutboundMessage).where(
                OutboundMessage.conversation_id == conversation_id).values(
                    conversation_id=ERASED, text="", provider_id=None))  # fmt: skip

    def _cancel_bookings(self, conversation_id: str) -> int:
        """Her places in sessions still to come: cancelled, so the seat goes to the next
        on the waitlist (who is told); a session already begun keeps its line."""
        service = BookingService(self.engine)
        cancelled = 0
        for booking in service.bookings_of(conversation_id):
            try:
                service.cancel(booking.id, conversation_id)
                cancelled += 1
            except BookingError as error:  # begun or changed meanwhile: anonymised below
                logger.info("A booking stays as it is (%s).", type(error).__name__)
        return cancelled

    @staticmethod
    def _erase_rows(session: Session, cid: str) -> dict[str, int]:
        def run(statement: Any) -> int:
            return int(session.execute(statement).rowcount or 0)

        now = utcnow()
        counts: dict[str, int] = {"staff_copies": _staff_copies(session, cid)}
        sids = select(OutboundMessage.provider_id).where(
            OutboundMessage.conversation_id == cid, OutboundMessage.provider_id.is_not(None))
        counts["delivery_reports"] = run(delete(StatusEvent).where(
            StatusEvent.provider_id.in_(sids)).execution_options(synchronize_session=False))
        counts["inbound_messages"] = run(
            update(InboundMessage).where(InboundMessage.conversation_id == cid).values(
                conversation_id=ERASED, text=None, details=None,
                provider_id=literal("erased:") + cast(InboundMessage.id, String)))
        # Messages of hers still waiting for a turn are not run for nobody.
        run(update(InboundMessage).where(InboundMessage.conversation_id == ERASED,
                                         InboundMessage.status == "received")
            .values(status="ignored"))
        counts["outbound_messages"] = run(
            update(OutboundMessage).where(OutboundMessage.conversation_id == cid)
            .values(conversation_id=ERASED, text="", provider_id=None))
        handoffs = select(HandoffRow.id).where(HandoffRow.conversation_id == cid)
        counts["handoff_messages"] = run(delete(HandoffMessage).where(
            HandoffMessage.handoff_id.in_(handoffs)).execution_options(synchronize_session=False))
        run(delete(HandoffTimer).where(HandoffTimer.handoff_id.in_(handoffs),
                                       HandoffTimer.done_at.is_(None))
            .execution_options(synchronize_session=False))
        counts["handoffs"] = run(update(HandoffRow).where(HandoffRow.conversation_id == cid)
                                 .values(conversation_id=ERASED, topic_id=None))
        run(delete(ConversationOwner).where(ConversationOwner.conversation_id == cid))
        run(update(OwnerChange).where(OwnerChange.conversation_id == cid)
            .values(conversation_id=ERASED))
        mine = list(session.scalars(select(Booking.id).where(Booking.participant == cid)))
        for booking_id in mine:  # one anonymous line each (active ones must stay distinct)
            session.execute(update(Booking).where(Booking.id == booking_id).values(
                participant=f"{ERASED}-{secrets.token_hex(6)}", updated_at=now))
        counts["bookings"] = len(mine)
        if mine:
            run(update(BookingNotice).where(BookingNotice.booking_id.in_(mine),
                                            BookingNotice.sent_at.is_(None))
                .values(sent_at=now, outcome="obsolete"))
        run(delete(ButtonChoice).where(ButtonChoice.conversation_id == cid))
        run(delete(ConversationLease).where(ConversationLease.conversation_id == cid))
        counts["safety_alerts"] = run(update(SafetyAlert).where(
            SafetyAlert.conversation_id == cid).values(conversation_id=ERASED))
        counts["safety_reviews"] = run(delete(SafetyReview).where(
            SafetyReview.conversation_id == cid).execution_options(synchronize_session=False))
        counts["contacts"] = run(delete(Contact).where(Contact.id == cid))
        return counts  # fmt: skip

    def export(self, conversation_id: str) -> dict[str, Any]:
        """Everything held on her, as plain JSON values (a subject access request)."""
        cid = conversation_id
        with self._sessions.begin() as session:
            contact = session.get(Contact, cid)
            held: dict[str, Any] = {"conversation_id": cid, "contact": None if contact is None
                                    else {"channel": contact.channel, "address": contact.address,
                                          "country": contact.country,
                                          "language": contact.language,
                                          "opted_out": bool(contact.opted_out),
                                          "created_at": _iso(contact.created_at),
                                          "last_seen_at": _iso(contact.last_seen_at)}}
            held["messages_received"] = [
                {"at": _iso(r.received_at), "kind": r.kind, "text": r.text, "status": r.status}
                for r in session.scalars(select(InboundMessage).where(
                    InboundMessage.conversation_id == cid).order_by(InboundMessage.id))]
            held["messages_sent"] = [
                {"at": _iso(r.created_at), "text": r.text, "status": r.status}
                for r in session.scalars(select(OutboundMessage).where(
                    OutboundMessage.conversation_id == cid).order_by(OutboundMessage.id))]
            handoffs = []
            for row in session.scalars(select(HandoffRow).where(
                    HandoffRow.conversation_id == cid).order_by(HandoffRow.id)):
                lines = session.scalars(select(HandoffMessage).where(
                    HandoffMessage.handoff_id == row.id).order_by(HandoffMessage.id))
                handoffs.append({"id": row.id, "reason": row.reason,
                                 "opened_at": _iso(row.opened_at),
                                 "closed_at": _iso(row.closed_at), "outcome": row.outcome,
                                 "transcript": [{"at": _iso(m.at), "from": m.direction,
                                                 "text": m.text} for m in lines]})
            held["handoffs"] = handoffs
            held["bookings"] = [
                {"reference": b.reference, "workshop": w, "starts_at": _iso(s), "status": b.status}
                for b, w, s in session.execute(
                    select(Booking, Workshop.code, WorkshopSession.starts_at)
                    .join(WorkshopSession, WorkshopSession.id == Booking.session_id)
                    .join(Workshop, Workshop.id == WorkshopSession.workshop_id)
                    .where(Booking.participant == cid).order_by(Booking.id))]
            held["safety_alerts"] = [
                {"at": _iso(a.created_at), "category": a.category}
                for a in session.scalars(select(SafetyAlert).where(
                    SafetyAlert.conversation_id == cid).order_by(SafetyAlert.id))]
            held["safety_reviews"] = [
                {"day": r.day.isoformat(), "kind": r.kind, "text": r.text, "status": r.status}
                for r in session.scalars(select(SafetyReview).where(
                    SafetyReview.conversation_id == cid).order_by(SafetyReview.id))]
        held["tracker_events"] = self.events.events(cid) if self.events else []
        return held  # fmt: skip


def _staff_copies(session: Session, cid: str) -> int:
    """Blank what the text consoles (SMS, terminal) were sent of her words: the relayed
    messages and the context of a request quote them under her request's number ("#12"),
    in counsellors' conversations. Only rows since her first message that name one of her
    requests and quote one of her messages; the counsellors' phones keep their own copy."""
    handoff_ids = list(session.scalars(select(HandoffRow.id).where(
        HandoffRow.conversation_id == cid)))  # fmt: skip
    if not handoff_ids:
        return 0
    texts = {t for t in session.scalars(select(InboundMessage.text).where(
        InboundMessage.conversation_id == cid, InboundMessage.text.is_not(None))) if t}
    texts |= {t for t in session.scalars(select(HandoffMessage.text).where(
        HandoffMessage.handoff_id.in_(handoff_ids), HandoffMessage.direction == "user")) if t}
    first = session.scalar(select(func.min(HandoffRow.opened_at)).where(
        HandoffRow.conversation_id == cid))
    marks = [f"#{h}" for h in handoff_ids]
    quoted = [t.strip()[:200] for t in texts if len(t.strip()) >= 2]
    blanked = 0
    rows = session.execute(select(OutboundMessage.id, OutboundMessage.text).where(
        OutboundMessage.conversation_id != cid, OutboundMessage.created_at >= first,
        OutboundMessage.text != ""))
    for row_id, text in rows.all():
        if any(m in text for m in marks) and any(q in text for q in quoted):
            session.execute(update(OutboundMessage).where(OutboundMessage.id == row_id)
                            .values(text=""))
            blanked += 1
    return blanked  # fmt: skip


def _summary(counts: dict[str, int]) -> str:
    return ", ".join(f"{table} {n}" for table, n in counts.items() if n) or "nothing"

