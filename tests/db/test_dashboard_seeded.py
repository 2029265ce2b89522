"""On a seeded history (weeks of a few hundred users, :mod:`bot.dashboard.seed`), on SQLite and
PostgreSQL, each page's totals equal what a plain reading of the rows gives: messages, new
users, questions by intent, alerts, handoffs and their waits, places and SMS segments."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.booking.models import SEATED, Booking, WorkshopSession
from bot.channels.contacts import Contact
from bot.channels.messages import InboundMessage, OutboundMessage
from bot.dashboard.figures import Figures, Filters, Page, Table, percentile
from bot.dashboard.rollup import BILLED, NOT_COUNTED_KINDS, refresh, week_of
from bot.dashboard.seed import SeedPlan, seed
from bot.handoff.models import HandoffRow
from bot.privacy.tracker import EVENTS, RasaEvents
from bot.safety.models import SafetyAlert
from tests.support.dashboard import events_beside

END = datetime(2026, 11, 30, 6, 0, tzinfo=timezone.utc)  # a Monday morning
WEEKS = 6


@pytest.fixture()
def seeded(isolated: Engine) -> Iterator[tuple[Engine, RasaEvents, Filters]]:
    tracker = events_beside(isolated)
    seed(isolated, tracker, SeedPlan(users=400, weeks=WEEKS, end=END))
    events = RasaEvents(tracker)
    refresh(isolated, events, END - timedelta(days=90), END)
    first = week_of(END - timedelta(weeks=WEEKS))
    yield isolated, events, Filters(first, week_of(END) + timedelta(weeks=3))


def rows(engine: Engine, *columns: object) -> list[tuple[object, ...]]:
    with engine.connect() as connection:
        return [tuple(r) for r in connection.execute(select(*columns))]


def column(page: Page, title: str, index: int) -> dict[str, float]:
    table: Table = next(t for t in page.tables if t.title == title)
    return {str(r[0].text): float(r[index].number or 0) for r in table.rows}


def weekly(moments: list[datetime]) -> Counter[str]:
    return Counter(week_of(m).isoformat() for m in moments)


def nonzero(counts: dict[str, float]) -> dict[str, float]:
    return {k: v for k, v in counts.items() if v}


def test_reach_equals_the_messages_and_contacts(seeded: tuple[Engine, RasaEvents, Filters]
                                                ) -> None:  # fmt: skip
    engine, _, f = seeded
    page = Figures(engine).reach(f)
    messages = [at for at, kind, status in rows(engine, InboundMessage.received_at,
                InboundMessage.kind, InboundMessage.status)
                if kind not in NOT_COUNTED_KINDS and status not in ("console", "ignored")]
    assert nonzero(column(page, "dashboard.reach.weekly", 4)) == weekly(messages)
    created = [at for (at,) in rows(engine, Contact.created_at)]
    assert nonzero(column(page, "dashboard.reach.weekly", 1)) == weekly(created)


def test_topics_equal_her_events_in_the_tracker(seeded: tuple[Engine, RasaEvents, Filters]
                                                ) -> None:  # fmt: skip
    engine, events, f = seeded
    with events.engine.connect() as connection:
        found = Counter(
            json.loads(data)["parse_data"]["intent"]["name"]
            for (data,) in connection.execute(select(EVENTS.c.data).where(
                EVENTS.c.type_name == "user")))  # fmt: skip
    page = Figures(engine).topics(f)
    intents = column(page, "dashboard.topics.intents", 1)
    assert intents["dashboard.topic.contraception"] == found["contraception"]
    assert intents["dashboard.intent.nlu_fallback"] == found["nlu_fallback"]
    assert sum(intents.values()) == sum(found.values())


def test_safety_equals_the_alerts(seeded: tuple[Engine, RasaEvents, Filters]) -> None:
    engine, _, f = seeded
    alerts = rows(engine, SafetyAlert.level, SafetyAlert.category)
    levels = {(r[0], r[1] if r[0] == "clear" else "possible"): 0 for r in alerts}
    for level, category in alerts:
        levels[(level, category if level == "clear" else "possible")] += 1
    page = Figures(engine).safety(f)
    table = next(t for t in page.tables if t.title == "dashboard.safety.levels")
    shown = {(r[0].text.rsplit(".", 1)[1], r[1].text.rsplit(".", 1)[1]): r[2].number
             for r in table.rows}  # fmt: skip
    assert shown == levels


def test_handoffs_equal_the_requests_and_their_waits(seeded: tuple[Engine, RasaEvents, Filters]
                                                     ) -> None:  # fmt: skip
    engine, _, f = seeded
    found = rows(engine, HandoffRow.opened_at, HandoffRow.claimed_at)
    page = Figures(engine).handoffs(f)
    assert nonzero(column(page, "dashboard.handoffs.weekly", 1)) == weekly(
        [o for o, _ in found])
    waits = [round((c - o).total_seconds()) for o, c in found if c is not None]
    summary = next(t for t in page.tables if t.title == "dashboard.handoffs.range").rows[0]
    assert summary[0].number == len(found) and summary[1].number == len(waits)
    assert summary[2].number == percentile(waits, 0.5)
    assert summary[3].number == percentile(waits, 0.9)


def test_workshops_and_cost_equal_the_places_and_the_sms(
    seeded: tuple[Engine, RasaEvents, Filters],
) -> None:
    engine, _, f = seeded
    seated = [s for (s,) in rows(engine, Booking.status) if s in SEATED]
    seats = sum(int(c) for (c,) in rows(engine, WorkshopSession.capacity))
    table = Figures(engine).workshops(f).tables[0]
    assert sum(r[7].number or 0 for r in table.rows) == len(seated)
    assert sum(r[6].number or 0 for r in table.rows) == seats
    sms = [(at, n) for at, channel, status, n in rows(
        engine, OutboundMessage.created_at, OutboundMessage.channel, OutboundMessage.status,
        OutboundMessage.segments) if channel == "sms" and status in BILLED]  # fmt: skip
    cost = Figures(engine).cost(f)
    segments = column(cost, "dashboard.cost.weekly", -3)
    expected: Counter[str] = Counter()
    for at, n in sms:
        expected[week_of(at).isoformat()] += int(n or 0)
    assert nonzero(segments) == expected
    assert date.fromisoformat(min(expected)) >= f.first
