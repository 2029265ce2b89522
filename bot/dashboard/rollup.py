"""The weekly figures, computed from the service's rows while those rows are whole.

A week's figures are recomputed (deleted and written again, in one transaction) while all
of its rows are still there: when the week starts after the retention cut-off, or when it was
never computed since it ended. Older weeks are frozen: the retention purge takes contacts
and texts, an erasure takes a person, but the counts of the weeks they were in stay. The
purge (:func:`bot.privacy.purge.purge`) calls :func:`refresh` first, so no week loses rows
before its last computation; the dashboard's process refreshes every few minutes too.

What is written holds no pseudonym, address or text: a user's cell is her contact's
channel, language and country at the time of computation, and only counts leave here.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from sqlalchemy import and_, delete, func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.booking.models import (
    ATTENDED,
    BOOKED,
    CANCELLED,
    NO_SHOW,
    WAITLISTED,
    Booking,
    Venue,
    Workshop,
    WorkshopSession,
)
from bot.booking.notices import REMINDER, BookingNotice
from bot.channels.contacts import Contact
from bot.channels.messages import InboundMessage, OutboundMessage
from bot.channels.rows import as_utc
from bot.dashboard.models import (
    FIGURES,
    UNKNOWN,
    CostFigure,
    HandoffFigure,
    ReachFigure,
    RolledWeek,
    SafetyFigure,
    TopicFigure,
    WorkshopFigure,
)
from bot.db.base import utcnow
from bot.db.transactions import session_factory
from bot.handoff.models import HandoffRow
from bot.handoff.registry import Registry
from bot.handoff.registry_file import Counsellor
from bot.privacy.tracker import EVENTS, RasaEvents
from bot.safety.models import SafetyAlert

logger = logging.getLogger(__name__)

WEEK = timedelta(days=7)
HEALTH_INTENTS = ("contraception", "pregnancy", "addiction")
NOT_COUNTED_KINDS = ("staff",)  # a counsellor's own messages are not a user's
NOT_COUNTED_STATUSES = ("console", "ignored")  # console commands, redeliveries set aside
BILLED = ("queued", "sent", "delivered", "undelivered")  # a provider took it: it costs
NUMBERS_WINDOW = timedelta(minutes=15)  # her message that raised an alert is this recent
_LOCK = 180_018  # PostgreSQL advisory lock: one refresh at a time across processes
_CHUNK = 500


def week_of(moment: datetime) -> date:
    """The Monday (UTC) of ``moment``'s ISO week."""
    day = as_utc(moment).date()
    return day - timedelta(days=day.weekday())


def week_start(week: date) -> datetime:
    return datetime.combine(week, time(), tzinfo=timezone.utc)


@dataclass(frozen=True)
class Cell:
    channel: str
    language: str
    country: str


class Cells:
    """Each conversation's cell, from its contact (or what the row itself knows)."""

    def __init__(self, session: Session) -> None:
        rows = session.execute(select(Contact.id, Contact.channel, Contact.language,
                                      Contact.country, Contact.created_at))  # fmt: skip
        self._cells: dict[str, Cell] = {}
        self.first_seen: dict[str, datetime] = {}
        for cid, channel, language, country, created in rows:
            self._cells[cid] = Cell(channel or UNKNOWN, language or UNKNOWN, country or UNKNOWN)
            self.first_seen[cid] = as_utc(created)

    def of(self, cid: str, channel: str | None = None, language: str | None = None,
           country: str | None = None) -> Cell:  # fmt: skip
        """Her contact's cell; what the row itself knew fills what the contact lacks (or
        all of it, once the contact is gone)."""
        known = self._cells.get(cid, Cell(UNKNOWN, UNKNOWN, UNKNOWN))

        def pick(mine: str, row: str | None) -> str:
            return mine if mine != UNKNOWN else (row or UNKNOWN)

        return Cell(pick(known.channel, channel), pick(known.language, language),
                    pick(known.country, country))


def weeks_to_roll(session: Session, cutoff: datetime, now: datetime) -> list[date]:
    """Weeks whose rows are whole now: those starting after ``cutoff``, and older ones never
    computed since they ended (a first run, a purge that ran without us)."""
    firsts = [session.scalar(select(func.min(column))) for column in (
        Contact.created_at, InboundMessage.received_at, OutboundMessage.created_at,
        HandoffRow.opened_at, SafetyAlert.created_at, WorkshopSession.starts_at)]  # fmt: skip
    last = session.scalar(select(func.max(WorkshopSession.starts_at)))
    known = [as_utc(f) for f in firsts if f is not None]
    if not known:
        return []
    first = week_of(min(known))
    final = max(week_of(now), week_of(as_utc(last)) if last is not None else first)
    rolled = {as_date(w): as_utc(at) for w, at in session.execute(
        select(RolledWeek.week, RolledWeek.rolled_at))}  # fmt: skip
    weeks = []
    week = first
    while week <= final:
        start = week_start(week)
        done = rolled.get(week)
        if start >= cutoff or done is None or done < start + WEEK:
            weeks.append(week)
        week += WEEK
    return weeks


def as_date(value: Any) -> date:
    """A Date column's value (SQLite may hand back text)."""
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def refresh(engine: Engine, events: RasaEvents | None, cutoff: datetime,
            now: datetime | None = None) -> list[date]:  # fmt: skip
    """Recompute every week whose rows are whole; the weeks written."""
    now = now or utcnow()
    with session_factory(engine).begin() as session:
        if engine.dialect.name == "postgresql":
            session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})
        weeks = weeks_to_roll(session, cutoff, now)
        if not weeks:
            return []
        chosen = set(weeks)
        start, end = week_start(weeks[0]), week_start(weeks[-1]) + WEEK
        cells = Cells(session)
        rows: list[tuple[type, dict[str, Any]]] = []
        rows += _reach(session, cells, start, end)
        rows += _topics(events, cells, start, end)
        rows += _safety(session, cells, start, end)
        rows += _handoffs(session, cells, start, end, Registry(engine).all())
        rows += _workshops(session, start, end)
        rows += _cost(session, cells, start, end)
        for table in FIGURES:
            for chunk in _chunks(sorted(chosen)):
                session.execute(delete(table).where(table.week.in_(chunk))
                                .execution_options(synchronize_session=False))  # fmt: skip
        by_table: dict[type, list[dict[str, Any]]] = defaultdict(list)
        for figure, values in rows:
            if values["week"] in chosen:
                by_table[figure].append(values)
        for figure, values_list in by_table.items():
            for chunk in _chunks(values_list, 2000):
                session.execute(figure.__table__.insert(), chunk)  # type: ignore[attr-defined]
        session.execute(delete(RolledWeek).where(RolledWeek.week.in_(sorted(chosen))))
        session.execute(RolledWeek.__table__.insert(),
                        [{"week": w, "rolled_at": now} for w in sorted(chosen)])  # fmt: skip
    logger.info("Dashboard figures computed for %d weeks", len(weeks))
    return weeks


def _chunks(items: list[Any], size: int = _CHUNK) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _cell_values(week: date, cell: Cell) -> dict[str, Any]:
    return {"week": week, "channel": cell.channel, "language": cell.language,
            "country": cell.country}  # fmt: skip


def _reach(session: Session, cells: Cells, start: datetime, end: datetime
           ) -> Iterable[tuple[type, dict[str, Any]]]:  # fmt: skip
    """Per week and cell: users who wrote for the first time, those who came back, and
    their messages."""
    statement = select(InboundMessage.conversation_id, InboundMessage.channel,
                       InboundMessage.received_at).where(
        InboundMessage.received_at >= start, InboundMessage.received_at < end,
        InboundMessage.kind.not_in(NOT_COUNTED_KINDS),
        InboundMessage.status.not_in(NOT_COUNTED_STATUSES))  # fmt: skip
    users: dict[tuple[date, str], Cell] = {}
    messages: Counter[tuple[date, Cell]] = Counter()
    for cid, channel, at in session.execute(statement):
        week = week_of(at)
        cell = cells.of(cid, channel)
        users[(week, cid)] = cell
        messages[(week, cell)] += 1
    new: Counter[tuple[date, Cell]] = Counter()
    back: Counter[tuple[date, Cell]] = Counter()
    for (week, cid), cell in users.items():
        first = cells.first_seen.get(cid)
        if first is not None and week_of(first) == week:
            new[(week, cell)] += 1
        else:
            back[(week, cell)] += 1
    for week, cell in messages:
        yield ReachFigure, {**_cell_values(week, cell), "new_users": new[(week, cell)],
                            "returning_users": back[(week, cell)],
                            "messages": messages[(week, cell)]}  # fmt: skip


def subtopic_of(intent: str, data: str | None) -> str:
    """A health question's sub-topic (``pill_how``) from the event's JSON, as the health
    action picks it: the best-ranked answer of that intent; ``""`` for other intents."""
    if intent not in HEALTH_INTENTS or not data:
        return ""
    try:
        parse = json.loads(data).get("parse_data") or {}
    except ValueError:
        return ""
    selectors = parse.get("response_selector") or {}
    selector = selectors.get(intent) or selectors.get("default") or {}
    for ranked in selector.get("ranking") or []:
        key = str(ranked.get("intent_response_key") or "")
        if key.startswith(f"{intent}/"):
            return key.split("/", 1)[1][:64]
    return ""


def _topics(events: RasaEvents | None, cells: Cells, start: datetime, end: datetime
            ) -> Iterable[tuple[type, dict[str, Any]]]:  # fmt: skip
    """Per week and cell: her messages by intent and health sub-topic (Rasa's tracker)."""
    if events is None or not events.present():
        return
    statement = select(EVENTS.c.sender_id, EVENTS.c.timestamp, EVENTS.c.intent_name,
                       EVENTS.c.data).where(
        EVENTS.c.type_name == "user", EVENTS.c.timestamp >= start.timestamp(),
        EVENTS.c.timestamp < end.timestamp())  # fmt: skip
    counts: Counter[tuple[date, Cell, str, str]] = Counter()
    with events.engine.connect() as connection:
        for sender, stamp, intent, data in connection.execute(statement):
            week = week_of(datetime.fromtimestamp(float(stamp), timezone.utc))
            name = (intent or UNKNOWN)[:64]
            counts[(week, cells.of(sender), name, subtopic_of(name, data))] += 1
    for (week, cell, intent, subtopic), n in counts.items():
        yield TopicFigure, {**_cell_values(week, cell), "intent": intent, "subtopic": subtopic,
                            "messages": n}  # fmt: skip


def _safety(session: Session, cells: Cells, start: datetime, end: datetime
            ) -> Iterable[tuple[type, dict[str, Any]]]:  # fmt: skip
    """One row per alert: its category and level, and the seconds from her message (the
    last one before the alert, if recent) to her numbers."""
    alerts = session.execute(select(
        SafetyAlert.conversation_id, SafetyAlert.category, SafetyAlert.level,
        SafetyAlert.language, SafetyAlert.country, SafetyAlert.created_at,
        SafetyAlert.numbers_at).where(SafetyAlert.created_at >= start,
                                      SafetyAlert.created_at < end)).all()  # fmt: skip
    arrivals: dict[str, list[datetime]] = defaultdict(list)
    for chunk in _chunks(sorted({a.conversation_id for a in alerts if a.numbers_at})):
        for cid, at in session.execute(select(
                InboundMessage.conversation_id, InboundMessage.received_at).where(
                InboundMessage.conversation_id.in_(chunk),
                InboundMessage.received_at >= start - NUMBERS_WINDOW,
                InboundMessage.received_at < end)):  # fmt: skip
            arrivals[cid].append(as_utc(at))
    for alert in alerts:
        created = as_utc(alert.created_at)
        seconds = None
        if alert.numbers_at is not None:
            before = [a for a in arrivals.get(alert.conversation_id, ())
                      if created - NUMBERS_WINDOW <= a <= created]  # fmt: skip
            asked = max(before, default=created)
            seconds = max(0, round((as_utc(alert.numbers_at) - asked).total_seconds()))
        cell = cells.of(alert.conversation_id, None, alert.language, alert.country)
        yield SafetyFigure, {**_cell_values(week_of(created), cell), "category": alert.category,
                             "level": alert.level, "numbers_seconds": seconds}  # fmt: skip


def after_hours(counsellors: list[Counsellor], language: str, at: datetime) -> bool:
    """Whether nobody active who speaks ``language`` was at work at ``at``."""
    return not any(c.active and language in c.languages and c.hours.is_open(at)
                   for c in counsellors)  # fmt: skip


def _handoffs(session: Session, cells: Cells, start: datetime, end: datetime,
              counsellors: list[Counsellor]) -> Iterable[tuple[type, dict[str, Any]]]:  # fmt: skip
    """One row per request for a person."""
    rows = session.execute(select(
        HandoffRow.conversation_id, HandoffRow.channel, HandoffRow.language, HandoffRow.reason,
        HandoffRow.priority, HandoffRow.opened_at, HandoffRow.claimed_at,
        HandoffRow.counsellor_id, HandoffRow.outcome).where(
        HandoffRow.opened_at >= start, HandoffRow.opened_at < end))  # fmt: skip
    for row in rows:
        opened = as_utc(row.opened_at)
        wait = None
        if row.claimed_at is not None:
            wait = max(0, round((as_utc(row.claimed_at) - opened).total_seconds()))
        cell = cells.of(row.conversation_id, row.channel, row.language)
        yield HandoffFigure, {
            **_cell_values(week_of(opened), cell), "reason": row.reason,
            "priority": bool(row.priority),
            "after_hours": after_hours(counsellors, row.language, opened),
            "counsellor_id": row.counsellor_id if row.claimed_at is not None else None,
            "wait_seconds": wait, "outcome": row.outcome or "open"}  # fmt: skip


def _workshops(session: Session, start: datetime, end: datetime
               ) -> Iterable[tuple[type, dict[str, Any]]]:  # fmt: skip
    """One row per session taking place in the weeks: places and what became of them."""
    sessions = session.execute(select(
        WorkshopSession.id, WorkshopSession.starts_at, WorkshopSession.capacity,
        WorkshopSession.language, WorkshopSession.status, Workshop.code, Workshop.topic,
        Venue.code.label("venue"), Venue.country).join(
        Workshop, Workshop.id == WorkshopSession.workshop_id).join(
        Venue, Venue.id == WorkshopSession.venue_id).where(
        WorkshopSession.starts_at >= start, WorkshopSession.starts_at < end)).all()  # fmt: skip
    statuses: Counter[tuple[int, str]] = Counter()
    reminders: Counter[int] = Counter()
    ids = [s.id for s in sessions]
    for chunk in _chunks(ids):
        for sid, status, n in session.execute(select(
                Booking.session_id, Booking.status, func.count()).where(
                Booking.session_id.in_(chunk)).group_by(Booking.session_id, Booking.status)):
            statuses[(sid, status)] = int(n)  # fmt: skip
        for sid, n in session.execute(select(Booking.session_id, func.count()).join(
                BookingNotice, BookingNotice.booking_id == Booking.id).where(
                Booking.session_id.in_(chunk), BookingNotice.kind == REMINDER,
                BookingNotice.outcome == "sent").group_by(Booking.session_id)):
            reminders[sid] = int(n)  # fmt: skip
    for s in sessions:
        seated = sum(statuses[(s.id, k)] for k in (BOOKED, ATTENDED, NO_SHOW))
        yield WorkshopFigure, {
            "week": week_of(s.starts_at), "workshop": s.code, "topic": s.topic,
            "venue": s.venue, "country": s.country, "language": s.language,
            "cancelled": s.status == CANCELLED, "seats": int(s.capacity), "booked": seated,
            "waitlisted": statuses[(s.id, WAITLISTED)],
            "cancellations": statuses[(s.id, CANCELLED)], "attended": statuses[(s.id, ATTENDED)],
            "no_shows": statuses[(s.id, NO_SHOW)], "reminders": reminders[s.id]}  # fmt: skip


def _cost(session: Session, cells: Cells, start: datetime, end: datetime
          ) -> Iterable[tuple[type, dict[str, Any]]]:  # fmt: skip
    """Per week and cell: messages a provider took, and their SMS segments."""
    statement = select(OutboundMessage.conversation_id, OutboundMessage.channel,
                       OutboundMessage.created_at, OutboundMessage.segments).where(
        and_(OutboundMessage.created_at >= start, OutboundMessage.created_at < end,
             OutboundMessage.status.in_(BILLED)))  # fmt: skip
    sent: Counter[tuple[date, Cell]] = Counter()
    segments: Counter[tuple[date, Cell]] = Counter()
    for cid, channel, at, parts in session.execute(statement):
        key = (week_of(at), cells.of(cid, channel))
        sent[key] += 1
        segments[key] += int(parts or 0) if channel == "sms" else 0
    for (week, cell), n in sent.items():
        yield CostFigure, {**_cell_values(week, cell), "messages": n,
                           "segments": segments[(week, cell)]}  # fmt: skip
