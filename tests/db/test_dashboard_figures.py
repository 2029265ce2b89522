"""The dashboard's figures equal what the rows say, on SQLite and PostgreSQL, and survive the
retention purge and an erasure.

A small world is written row by row (contacts, messages, Rasa's events, alerts, handoffs,
workshops, sends) over three weeks, with every expected figure worked out by hand in the
comments; the weekly figures are computed (:func:`bot.dashboard.rollup.refresh`) and each
page read back (:class:`bot.dashboard.figures.Figures`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import insert, select
from sqlalchemy.engine import Engine

from bot.booking.models import (
    ATTENDED,
    BOOKED,
    CANCELLED,
    NO_SHOW,
    SCHEDULED,
    WAITLISTED,
    Booking,
    Venue,
    Workshop,
    WorkshopSession,
)
from bot.booking.notices import REMINDER, BookingNotice
from bot.channels.contacts import Contact
from bot.channels.messages import InboundMessage, OutboundMessage
from bot.dashboard.figures import Figures, Filters, Page, Table, Value
from bot.dashboard.models import FIGURES, RolledWeek
from bot.dashboard.queue import queue
from bot.dashboard.rollup import refresh
from bot.db.transactions import session_factory
from bot.handoff.models import HandoffRow
from bot.handoff.registry import CounsellorRecord
from bot.privacy.erase import Eraser
from bot.privacy.purge import purge
from bot.privacy.tracker import EVENTS, RasaEvents
from bot.safety.models import SafetyAlert
from tests.support.dashboard import events_beside

UTC = timezone.utc
W1, W2, W3 = date(2026, 11, 9), date(2026, 11, 16), date(2026, 11, 23)  # Mondays
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
EVERY = Filters(W1, W3)


def at(week: date, day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime(week.year, week.month, week.day, hour, minute, second, tzinfo=UTC) + \
        timedelta(days=day)  # fmt: skip


@dataclass
class World:
    engine: Engine
    events: RasaEvents
    rows: int = 0

    def add(self, table: Any, **values: Any) -> None:
        with session_factory(self.engine).begin() as session:
            session.add(table(**values))

    def contact(self, cid: str, channel: str, country: str, language: str,
                created: datetime) -> None:  # fmt: skip
        self.add(Contact, id=cid, channel=channel, address=f"addr-{cid}", country=country,
                 language=language, created_at=created, last_seen_at=created)  # fmt: skip

    def says(self, cid: str, channel: str, when: datetime, kind: str = "text",
             status: str = "done") -> None:  # fmt: skip
        self.rows += 1
        self.add(InboundMessage, channel=channel, provider_id=f"p{self.rows}",
                 conversation_id=cid, kind=kind, text="…", received_at=when,
                 status=status)  # fmt: skip

    def sent(self, cid: str, channel: str, when: datetime, segments: int | None,
             status: str = "delivered") -> None:  # fmt: skip
        self.add(OutboundMessage, conversation_id=cid, channel=channel, text="…",
                 status=status, segments=segments, created_at=when, updated_at=when)

    def event(self, cid: str, when: datetime, intent: str, answer: str | None = None) -> None:
        """A ``user`` event as Rasa's SQL tracker store writes it."""
        parse: dict[str, Any] = {"intent": {"name": intent, "confidence": 0.9}, "text": "…",
                                 "entities": []}  # fmt: skip
        if answer:
            parse["response_selector"] = {"default": {"ranking": [
                {"intent_response_key": "about/bot", "confidence": 0.1},
                {"intent_response_key": answer, "confidence": 0.8}]}}  # fmt: skip
        data = {"event": "user", "timestamp": when.timestamp(), "text": "…",
                "parse_data": parse}  # fmt: skip
        with self.events.engine.begin() as connection:
            connection.execute(insert(EVENTS).values(
                sender_id=cid, type_name="user", timestamp=when.timestamp(),
                intent_name=intent, data=json.dumps(data)))  # fmt: skip
            connection.execute(insert(EVENTS).values(  # a bot event: not a message of hers
                sender_id=cid, type_name="bot", timestamp=when.timestamp(), data="{}"))


@pytest.fixture()
def world(isolated: Engine) -> Iterator[World]:
    w = World(isolated, RasaEvents(events_beside(isolated)))
    build(w)
    yield w


def build(w: World) -> None:
    # Contacts. Mali: 6 by SMS in Bambara; Peru: 3 on Telegram in Spanish; France: 1 by SMS.
    for i in range(1, 7):
        w.contact(f"ml{i}", "sms", "ML", "bm", at(W1, 0, 8, i))
    for i in range(1, 4):
        w.contact(f"pe{i}", "telegram", "PE", "es", at(W1, 1, 15, i))
    w.contact("fr1", "sms", "FR", "fr", at(W2, 0, 9))
    # Messages. W1: each Malian writes twice (Mon and Thu), each Peruvian once: 15 messages,
    # 9 new users. W2: ml1-ml5 once (5 returning), fr1 four times (1 new), "gone" (her
    # contact was erased) once: 10 messages, 6 returning + 1 new. W3: pe1 three times.
    for i in range(1, 7):
        w.says(f"ml{i}", "sms", at(W1, 0, 9, i))
        w.says(f"ml{i}", "sms", at(W1, 3, 10, i))
    for i in range(1, 4):
        w.says(f"pe{i}", "telegram", at(W1, 1, 16, i))
    for i in range(1, 6):
        w.says(f"ml{i}", "sms", at(W2, 1, 9, i))
    for minute in range(4):
        w.says("fr1", "sms", at(W2, 0, 9, minute))
    w.says("gone", "sms", at(W2, 2, 12))
    for minute in range(3):
        w.says("pe1", "telegram", at(W3, 0, 14, minute))
    w.says("ml1", "sms", at(W2, 2, 9), kind="staff")  # not counted: a counsellor's message
    w.says("ml1", "sms", at(W2, 2, 9, 1), status="console")  # not counted: a command
    # Rasa's events: W1 two contraception questions and one on pregnancy; W2 "more", one
    # not understood, a greeting and a question on alcohol.
    w.event("ml1", at(W1, 0, 9, 1), "contraception", "contraception/pill_how")
    w.event("ml2", at(W1, 0, 9, 2), "contraception", "contraception/implant")
    w.event("pe1", at(W1, 1, 16, 1), "pregnancy", "pregnancy/danger_signs")
    w.event("ml1", at(W2, 1, 9, 1), "more")
    w.event("ml2", at(W2, 1, 9, 2), "nlu_fallback")
    w.event("fr1", at(W2, 0, 9, 0), "greet")
    w.event("gone", at(W2, 2, 12), "addiction", "addiction/alcohol")
    # Alerts. W1: six emergencies, numbers 7, 3, 5, 8, 13, 21 s after her message (ml1
    # suicide, ml2-ml6 overdose) and one for pe1 (violence) with no numbers; W2: a check-in.
    seconds = {1: 7, 2: 3, 3: 5, 4: 8, 5: 13, 6: 21}
    for i, s in seconds.items():
        asked = at(W1, 3, 10, i)  # her Thursday message
        w.add(SafetyAlert, conversation_id=f"ml{i}", category="suicide" if i == 1 else "overdose",
              language="bm", country="ML", created_at=asked + timedelta(seconds=1),
              numbers_at=asked + timedelta(seconds=s), level="clear")  # fmt: skip
    w.add(SafetyAlert, conversation_id="pe1", category="violence", language="es", country="PE",
          created_at=at(W1, 1, 16, 2), level="clear")  # fmt: skip
    w.add(SafetyAlert, conversation_id="ml2", category="general", language="bm", country="ML",
          created_at=at(W2, 1, 9, 3), level="possible", needs_handoff=False)  # fmt: skip
    # Counsellors: Awa (fr, bm) in Bamako on weekdays 08-18, Lucía (es) in Lima 09-17.
    w.add(CounsellorRecord, id="awa", name="Awa", languages="fr,bm", channel="sms",
          address="+22370000001", timezone="Africa/Bamako", hours="mon-fri 08:00-18:00",
          active=True, updated_at=NOW)  # fmt: skip
    w.add(CounsellorRecord, id="lucia", name="Lucía", languages="es", channel="telegram",
          address="5001", timezone="America/Lima", hours="mon-fri 09:00-17:00", active=True,
          updated_at=NOW)  # fmt: skip
    # Handoffs. W1: five Malians Mon-Fri at 10:00 (Bamako is UTC), taken after 60, 120, 300,
    # 30, 600 s by Awa (p50 120 s, p90 600 s); pe1 on Saturday 03:00, nobody. W2: fr1 at
    # 20:00 on Monday, after hours, still waiting.
    outcomes = {1: "resolved", 2: "resolved", 3: "referred", 4: "resolved", 5: "no_answer"}
    for i, wait in {1: 60, 2: 120, 3: 300, 4: 30, 5: 600}.items():
        opened = at(W1, i - 1, 10)
        w.add(HandoffRow, conversation_id=f"ml{i}", language="bm", channel="sms",
              reason="asked", priority=i == 1, opened_at=opened,
              claimed_at=opened + timedelta(seconds=wait), counsellor_id="awa",
              closed_at=opened + timedelta(hours=1), outcome=outcomes[i],
              last_activity_at=opened)  # fmt: skip
    w.add(HandoffRow, conversation_id="pe1", language="es", channel="telegram",
          reason="emergency", priority=True, opened_at=at(W1, 5, 3),
          closed_at=at(W1, 5, 3, 20), outcome="unclaimed", last_activity_at=at(W1, 5, 3))
    w.add(HandoffRow, conversation_id="fr1", language="fr", channel="sms", reason="asked",
          priority=False, opened_at=at(W2, 0, 20), last_activity_at=at(W2, 0, 20))
    # Workshops in Paris: breastfeeding on Wednesday of W2 (8 seats: 5 came, 1 did not,
    # 1 cancelled, 2 on the waiting list; 4 reminders sent, 1 unreachable) and of W3
    # (10 seats, 3 booked).
    w.add(Venue, code="paris-cm", name="Centre maternel", city="Paris", country="FR",
          timezone="Europe/Paris", updated_at=NOW)  # fmt: skip
    w.add(Workshop, code="allaitement", topic="breastfeeding", facilitator_role="midwife",
          languages="fr", updated_at=NOW)  # fmt: skip
    with session_factory(w.engine).begin() as session:
        venue = session.scalar(select(Venue.id))
        workshop = session.scalar(select(Workshop.id))
    statuses = {at(W2, 2, 13): ([ATTENDED] * 5 + [NO_SHOW, CANCELLED] + [WAITLISTED] * 2, 8),
                at(W3, 2, 13): ([BOOKED] * 3, 10)}  # fmt: skip
    reference = 0
    for starts, (kinds, capacity) in statuses.items():
        seated = sum(k in (BOOKED, ATTENDED, NO_SHOW) for k in kinds)
        w.add(WorkshopSession, code=f"s-{starts.date()}", workshop_id=workshop, venue_id=venue,
              starts_at=starts, duration_minutes=120, capacity=capacity, booked_count=seated,
              language="fr", status=SCHEDULED, updated_at=NOW)  # fmt: skip
        with session_factory(w.engine).begin() as session:
            sid = session.scalar(select(WorkshopSession.id).where(
                WorkshopSession.starts_at == starts))  # fmt: skip
        for n, kind in enumerate(kinds):
            reference += 1
            w.add(Booking, session_id=sid, participant=f"fr-mother-{reference}", status=kind,
                  reference=f"R{reference:04d}", joined_at=starts - timedelta(days=3),
                  created_at=starts - timedelta(days=3), updated_at=starts)  # fmt: skip
            if starts.date() < W3 and n < 5:
                with session_factory(w.engine).begin() as session:
                    bid = session.scalar(select(Booking.id).where(
                        Booking.reference == f"R{reference:04d}"))  # fmt: skip
                w.add(BookingNotice, booking_id=bid, kind=REMINDER,
                      due_at=starts - timedelta(days=1), sent_at=starts - timedelta(days=1),
                      outcome="sent" if n < 4 else "unreachable")  # fmt: skip
    # Sends. W1: ml1 three SMS of 1, 2 and 1 segments (a fourth failed), pe1 two Telegram
    # messages; W2: fr1 one SMS of 3 segments (and one still pending).
    for segments in (1, 2, 1):
        w.sent("ml1", "sms", at(W1, 0, 9, 5), segments)
    w.sent("ml1", "sms", at(W1, 0, 9, 6), 1, status="failed")
    for _ in range(2):
        w.sent("pe1", "telegram", at(W1, 1, 16, 5), None, status="sent")
    w.sent("fr1", "sms", at(W2, 0, 9, 5), 3, status="sent")
    w.sent("fr1", "sms", at(W2, 0, 9, 6), 1, status="pending")


def numbers(table: Table) -> list[list[float | str | None]]:
    """A table's cells as values: numbers where counted, text where labels."""
    return [[v.text if v.kind == "text" else v.number for v in row] for row in table.rows]


def table(page: Page, title: str) -> Table:
    return next(t for t in page.tables if t.title == title)


def rolled(w: World) -> Figures:
    refresh(w.engine, w.events, NOW - timedelta(days=90), NOW)
    return Figures(w.engine)


def test_reach_counts_new_and_returning_users_and_their_messages(world: World) -> None:
    page = rolled(world).reach(EVERY)
    weekly = numbers(table(page, "dashboard.reach.weekly"))
    # week, new, returning, active, messages, messages per active user
    assert weekly == [["2026-11-09", 9, 0, 9, 15, 15 / 9], ["2026-11-16", 1, 6, 7, 10, 10 / 7],
                      ["2026-11-23", 0, 1, 1, 3, 3.0]]  # fmt: skip
    by_country = numbers(table(page, "dashboard.by_country"))
    # group, new users, weekly active (mean over 3 weeks), messages
    assert by_country == [["dashboard.unknown", 0, 0, 1], ["dashboard.value.FR", 1, 0, 4],
                          ["dashboard.value.ML", 6, 4, 17], ["dashboard.value.PE", 3, 1, 6]]
    mali = numbers(table(rolled(world).reach(Filters(W1, W3, country="ML")),
                         "dashboard.reach.weekly"))  # fmt: skip
    assert [row[1:5] for row in mali] == [[6, 0, 6, 12], [0, 5, 5, 5], [0, 0, 0, 0]]
    telegram = numbers(table(rolled(world).reach(Filters(W1, W3, channel="telegram")),
                             "dashboard.reach.weekly"))  # fmt: skip
    assert [row[4] for row in telegram] == [3, 0, 3]


def test_topics_count_intents_sub_topics_fallbacks_and_more(world: World) -> None:
    page = rolled(world).topics(EVERY)
    weekly = numbers(table(page, "dashboard.topics.weekly"))
    # week, contraception, pregnancy, addiction, more, fallback, other, total, rates
    assert weekly[0] == ["2026-11-09", 2, 1, 0, 0, 0, 0, 3, 0.0, 0.0]
    assert weekly[1] == ["2026-11-16", 0, 0, 1, 1, 1, 1, 4, 0.25, 1.0]
    subtopics = numbers(table(page, "dashboard.topics.subtopics"))
    assert sorted(subtopics) == sorted([
        ["dashboard.topic.contraception", "implant", 1],
        ["dashboard.topic.contraception", "pill_how", 1],
        ["dashboard.topic.pregnancy", "danger_signs", 1],
        ["dashboard.topic.addiction", "alcohol", 1]])  # fmt: skip
    by_week = table(page, "dashboard.topics.subtopics_weekly")
    assert list(by_week.columns[1:]) == ["alcohol", "implant", "pill_how", "danger_signs"]
    assert numbers(by_week)[:2] == [["2026-11-09", 0, 1, 1, 1], ["2026-11-16", 1, 0, 0, 0]]
    intents = dict((r[0], r[1]) for r in numbers(table(page, "dashboard.topics.intents")))
    assert intents["dashboard.topic.contraception"] == 2
    assert intents["dashboard.intent.nlu_fallback"] == 1
    assert sum(v for v in intents.values() if isinstance(v, (int, float))) == 7


def test_safety_counts_levels_categories_and_time_to_numbers(world: World) -> None:
    page = rolled(world).safety(EVERY)
    weekly = numbers(table(page, "dashboard.safety.weekly"))
    # week, overdose, suicide, violence, possible, p50, p90 (of the numbers' delays)
    assert weekly[0] == ["2026-11-09", 5, 1, 1, 0, 7.0, 21.0]
    assert weekly[1][:5] == ["2026-11-16", 0, 0, 0, 1]
    assert numbers(table(page, "dashboard.safety.numbers")) == [[6, 7.0, 21.0]]
    levels = numbers(table(page, "dashboard.safety.levels"))
    assert ["dashboard.level.possible", "dashboard.category.possible", 1] in levels
    assert ["dashboard.level.clear", "dashboard.category.overdose", 5] in levels


def test_handoffs_count_waits_outcomes_after_hours_and_load(world: World) -> None:
    page = rolled(world).handoffs(EVERY)
    weekly = numbers(table(page, "dashboard.handoffs.weekly"))
    # week, requests, priority, claimed, unclaimed, after hours, wait p50, wait p90
    assert weekly[0] == ["2026-11-09", 6, 2, 5, 1, 1, 120.0, 600.0]
    assert weekly[1][:6] == ["2026-11-16", 1, 0, 0, 1, 1]
    outcomes = dict((r[0], r[1]) for r in numbers(table(page, "dashboard.handoffs.outcomes")))
    assert outcomes == {"dashboard.outcome.no_answer": 1, "dashboard.outcome.open": 1,
                        "dashboard.outcome.referred": 1, "dashboard.outcome.resolved": 3,
                        "dashboard.outcome.unclaimed": 1}  # fmt: skip
    assert numbers(table(page, "dashboard.handoffs.load")) == [["awa", 5, 120.0]]
    live = queue(world.engine, EVERY, NOW)
    rows = numbers(table(live, "dashboard.queue.table"))
    assert len(rows) == 1 and rows[0][2] == "dashboard.queue.waiting"
    assert rows[0][-1] == round((NOW - at(W2, 0, 20)).total_seconds() / 60)
    assert not numbers(table(queue(world.engine, Filters(W1, W3, country="ML"), NOW),
                             "dashboard.queue.table"))  # fmt: skip


def test_workshops_count_places_waiting_list_attendance_and_reminders(world: World) -> None:
    page = rolled(world).workshops(EVERY)
    rows = numbers(table(page, "dashboard.workshops.table"))
    # workshop, topic, venue, country, sessions, called off, seats, booked, fill,
    # waitlisted, cancellations, attended, no-shows, attendance, reminders
    assert rows == [["allaitement", "dashboard.workshop_topic.breastfeeding", "paris-cm", "FR",
                     2, 0, 18, 9, 0.5, 2, 1, 5, 1, 5 / 6, 4]]  # fmt: skip
    assert numbers(table(rolled(world).workshops(Filters(W1, W3, country="ML")),
                         "dashboard.workshops.table")) == []  # fmt: skip


def test_cost_counts_billed_sms_segments_per_country(world: World) -> None:
    page = rolled(world).cost(EVERY)
    weekly = numbers(table(page, "dashboard.cost.weekly"))
    # week, FR, ML, segments, SMS sent, Telegram messages
    assert weekly == [["2026-11-09", 0, 4, 4, 3, 2], ["2026-11-16", 3, 0, 3, 1, 0],
                      ["2026-11-23", 0, 0, 0, 0, 0]]  # fmt: skip


def test_small_cells_are_hidden_and_small_bases_give_no_rate() -> None:
    assert Value(3).hidden and Value(0).hidden is False and Value(5).hidden is False
    assert Value(0.5, "rate", 4).hidden and not Value(0.5, "rate", 5).hidden
    assert Value(7.0, "seconds", 1).hidden and Value(3, "plain").hidden is False
    assert Value(3).plotted() == 0.0 and Value(12).plotted() == 12.0


def test_the_figures_survive_the_purge_and_an_erasure(world: World) -> None:
    figures = rolled(world)
    pages = ("reach", "topics", "safety", "handoffs", "workshops", "cost")
    before = {name: [numbers(t) for t in getattr(figures, name)(EVERY).tables] for name in pages}
    later = NOW + timedelta(days=120)
    cutoff = later - timedelta(days=90)  # every week of the world is now before the cut-off
    counts = purge(world.engine, world.events, cutoff)
    assert counts["contacts"] == 9 and counts["inbound_messages"] == 30  # fr1 waits still
    Eraser(world.engine, world.events).erase("ml1")
    with session_factory(world.engine).begin() as session:
        assert session.scalar(select(Contact.id).where(Contact.id == "ml2")) is None
        assert session.scalar(select(HandoffRow.id).where(HandoffRow.conversation_id == "ml1")
                              ) is None  # fmt: skip
    written = refresh(world.engine, world.events, cutoff, later)
    assert not {W1, W2, W3} & set(written)  # frozen: computed after they ended, before the purge
    after = {name: [numbers(t) for t in getattr(figures, name)(EVERY).tables] for name in pages}
    assert after == before


def test_a_week_is_recomputed_while_its_rows_are_whole_and_then_frozen(world: World) -> None:
    figures = rolled(world)
    world.says("pe2", "telegram", at(W3, 1, 9))  # a late message: W3 is recomputed
    refresh(world.engine, world.events, NOW - timedelta(days=90), NOW + timedelta(hours=1))
    assert numbers(table(figures.reach(EVERY), "dashboard.reach.weekly"))[2][4] == 4
    with session_factory(world.engine).begin() as session:
        weeks = {w for (w,) in session.execute(select(RolledWeek.week))}
    assert {W1, W2, W3} <= {date.fromisoformat(str(w)[:10]) for w in weeks}
    # Frozen: a week that started before the cut-off and was computed after it ended.
    world.says("pe3", "telegram", at(W1, 2, 9))
    refresh(world.engine, world.events, at(W2, 0, 0), NOW + timedelta(days=30))
    assert numbers(table(figures.reach(EVERY), "dashboard.reach.weekly"))[0][4] == 15


def test_no_figure_table_holds_a_pseudonym_or_an_address(world: World) -> None:
    rolled(world)
    people = {f"ml{i}" for i in range(1, 7)} | {"pe1", "pe2", "pe3", "fr1", "gone"}
    with world.engine.connect() as connection:
        for figure in FIGURES:
            for row in connection.execute(select(figure.__table__)):
                values = {str(v) for v in row}
                assert not values & people, figure.__tablename__
                assert not any("addr-" in v or "+223" in v for v in values)


def test_the_purge_erases_on_time_even_when_the_figures_fail(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> list[date]:
        raise RuntimeError("the figures' tables are locked")

    monkeypatch.setattr("bot.privacy.purge.refresh", broken)
    counts = purge(world.engine, world.events, NOW + timedelta(days=30))
    assert counts["inbound_messages"] == 30
