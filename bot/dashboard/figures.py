"""What each page shows, read from the weekly figures only (never from a person's rows).

A page is charts and tables of :class:`Value` cells; a value knows whether it counts people
or events about them, so that 1 to 4 is shown as "<5" (in the page, its charts and its CSV)
and a rate or a median over fewer than 5 is not shown at all. Labels are catalog keys
(``S_``: the dashboard's catalog), rendered by the page in the reader's language.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, case, func, select
from sqlalchemy.engine import Engine
from sqlalchemy.sql.expression import ColumnElement

from bot.dashboard.labels import (
    S_,
    category_key,
    group_key,
    intent_key,
    level_key,
    outcome_key,
    topic_group_key,
    topic_key,
)
from bot.dashboard.models import (
    UNKNOWN,
    CostFigure,
    HandoffFigure,
    ReachFigure,
    RolledWeek,
    SafetyFigure,
    TopicFigure,
    WorkshopFigure,
)
from bot.dashboard.rollup import HEALTH_INTENTS, WEEK, as_date, week_of

SMALL = 5  # fewer people than this in a cell is shown as "<5"
DEFAULT_WEEKS = 12
MAX_WEEKS = 156
TOP_SUBTOPICS = 8  # the sub-topics followed week by week
COUNTRIES = ("ML", "PE", "FR")
LANGUAGES = ("fr", "es", "bm")
CHANNELS = ("sms", "telegram", "local")


@dataclass(frozen=True)
class Value:
    """One cell. ``kind``: ``count`` (people or their events: small ones hidden), ``plain``
    (seats, sessions: shown as they are), ``rate`` (a share of ``base``, in %), ``ratio``
    (an average over ``base`` people), ``seconds`` (a median over ``base`` events), ``text``
    (a label key or a code)."""

    number: float | None
    kind: str = "count"
    base: int = 0
    text: str = ""

    @property
    def hidden(self) -> bool:
        if self.kind == "count":
            return self.number is not None and 0 < self.number < SMALL
        if self.kind in ("rate", "ratio", "seconds"):
            return self.base < SMALL
        return False

    def plotted(self) -> float:
        """The height a chart may draw: nothing for a hidden cell."""
        return 0.0 if self.hidden or self.number is None else float(self.number)


def count(n: int | float | None) -> Value:
    return Value(int(n or 0))


def plain(n: int | float | None) -> Value:
    return Value(int(n or 0), "plain")


def rate(part: int | float | None, whole: int | float | None) -> Value:
    whole = int(whole or 0)
    return Value((part or 0) / whole if whole else None, "rate", whole)


def ratio(part: int | float | None, whole: int | float | None) -> Value:
    whole = int(whole or 0)
    return Value((part or 0) / whole if whole else None, "ratio", whole)


def label(key: str) -> Value:
    return Value(None, "text", text=key)


@dataclass(frozen=True)
class Table:
    title: str
    columns: Sequence[str]
    rows: list[list[Value]]


@dataclass(frozen=True)
class Chart:
    title: str
    weeks: Sequence[date | str]  # x labels: weeks, or label keys
    series: list[tuple[str, list[Value]]]  # (label key, one value per x)
    stacked: bool = True


@dataclass
class Page:
    name: str
    charts: list[Chart] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Filters:
    """A page's range (whole weeks, Monday to Monday) and its country, language, channel."""

    first: date
    last: date  # the Monday of the last week shown
    country: str = ""
    language: str = ""
    channel: str = ""

    @classmethod
    def parse(cls, args: Mapping[str, str], today: date) -> Filters:
        """From the query string; what is missing or wrong falls back to the last 12 weeks
        and no filter (a page never fails on a hand-edited address)."""
        last = week_of(datetime.combine(_day(args.get("to")) or today, datetime.min.time()))
        asked = _day(args.get("from"))
        default = last - (DEFAULT_WEEKS - 1) * WEEK
        first = asked - timedelta(days=asked.weekday()) if asked else default
        if first > last:
            first, last = last, first
        first = max(first, last - (MAX_WEEKS - 1) * WEEK)
        return cls(first, last,
                   _one_of(args.get("country"), (*COUNTRIES, UNKNOWN)),
                   _one_of(args.get("language"), (*LANGUAGES, UNKNOWN)),
                   _one_of(args.get("channel"), CHANNELS))  # fmt: skip

    @property
    def weeks(self) -> list[date]:
        return [self.first + i * WEEK for i in range((self.last - self.first) // WEEK + 1)]

    def where(self, table: Any, *, channel: bool = True) -> ColumnElement[bool]:
        """The rows of the range and filters in ``table``."""
        clauses = [table.week >= self.first, table.week <= self.last]
        for name in ("country", "language", *(("channel",) if channel else ())):
            if getattr(self, name):
                clauses.append(getattr(table, name) == getattr(self, name))
        return and_(*clauses)

    def query(self) -> dict[str, str]:
        """The filters as a query string's values (the CSV link, the form)."""
        values = {"from": self.first.isoformat(), "to": (self.last + 6 * timedelta(days=1))
                  .isoformat()}  # fmt: skip
        values.update({k: getattr(self, k) for k in ("country", "language", "channel")
                       if getattr(self, k)})  # fmt: skip
        return values


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat((text or "").strip()[:10])
    except ValueError:
        return None


def _one_of(value: str | None, allowed: Iterable[str]) -> str:
    return value if value in set(allowed) else ""


def percentile(values: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile by the nearest-rank method (the figure a person can check by
    sorting: the value at rank ceil(q*n))."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-int(q * 100) * len(ordered) // 100))
    return float(ordered[rank - 1])


def seconds(values: Sequence[int], q: float) -> Value:
    return Value(percentile(values, q), "seconds", len(values))


class Figures:
    """The pages, read from the ``stats_*`` tables of ``engine``."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _rows(self, statement: Any) -> list[Any]:
        with self.engine.connect() as connection:
            return list(connection.execute(statement))

    def rolled_at(self) -> datetime | None:
        """When the figures were last computed."""
        found = self._rows(select(func.max(RolledWeek.rolled_at)))
        return found[0][0] if found and found[0][0] is not None else None

    def _weekly(self, f: Filters, table: Any, columns: Sequence[Any], *,
                channel: bool = True) -> dict[date, list[float]]:  # fmt: skip
        """Sums of ``columns`` per week of the range (weeks without rows: zeros)."""
        found = {f.first + i * WEEK: [0.0] * len(columns) for i in range(len(f.weeks))}
        statement = select(table.week, *[func.sum(c) for c in columns]).where(
            f.where(table, channel=channel)).group_by(table.week)  # fmt: skip
        for week, *sums in self._rows(statement):
            found[as_date(week)] = [float(s or 0) for s in sums]
        return found

    def _by(self, f: Filters, table: Any, key: Any, columns: Sequence[Any]
            ) -> list[tuple[str, list[float]]]:  # fmt: skip
        statement = select(key, *[func.sum(c) for c in columns]).where(
            f.where(table)).group_by(key).order_by(key)  # fmt: skip
        return [(str(k), [float(s or 0) for s in sums]) for k, *sums in self._rows(statement)]

    # -- Reach ----------------------------------------------------------------------------

    def reach(self, f: Filters) -> Page:
        r = ReachFigure
        weekly = self._weekly(f, r, (r.new_users, r.returning_users, r.messages))
        rows = []
        for week, (new, back, messages) in weekly.items():
            rows.append([label(week.isoformat()), count(new), count(back), count(new + back),
                         count(messages), ratio(messages, new + back)])  # fmt: skip
        page = Page("reach")
        page.charts.append(Chart(S_("dashboard.reach.chart"), list(weekly), [
            (S_("dashboard.reach.new"), [count(v[0]) for v in weekly.values()]),
            (S_("dashboard.reach.returning"), [count(v[1]) for v in weekly.values()])]))
        page.tables.append(Table(S_("dashboard.reach.weekly"), (
            S_("dashboard.week"), S_("dashboard.reach.new"), S_("dashboard.reach.returning"),
            S_("dashboard.reach.active"), S_("dashboard.reach.messages"),
            S_("dashboard.reach.per_user")), rows))  # fmt: skip
        weeks = len(f.weeks)
        for key, title in ((r.channel, S_("dashboard.by_channel")),
                           (r.language, S_("dashboard.by_language")),
                           (r.country, S_("dashboard.by_country"))):  # fmt: skip
            found = self._by(f, r, key, (r.new_users, r.returning_users, r.messages))
            page.tables.append(Table(title, (
                S_("dashboard.group"), S_("dashboard.reach.new"),
                S_("dashboard.reach.weekly_active"), S_("dashboard.reach.messages")),
                [[label(group_key(name)), count(new), count(round((new + back) / weeks)),
                  count(messages)] for name, (new, back, messages) in found]))  # fmt: skip
        page.notes.append(S_("dashboard.reach.note"))
        return page

    # -- Topics ---------------------------------------------------------------------------

    def topics(self, f: Filters) -> Page:
        t = TopicFigure
        groups = {**{i: i for i in HEALTH_INTENTS}, "more": "more",
                  "nlu_fallback": "fallback", "out_of_scope": "fallback"}  # fmt: skip
        order = [*HEALTH_INTENTS, "more", "fallback", "other"]
        weekly: dict[date, dict[str, float]] = {w: defaultdict(float) for w in f.weeks}
        totals: dict[str, float] = defaultdict(float)
        statement = select(t.week, t.intent, func.sum(t.messages)).where(f.where(t)).group_by(
            t.week, t.intent)  # fmt: skip
        for week, intent, n in self._rows(statement):
            weekly[as_date(week)][groups.get(intent, "other")] += float(n or 0)
            totals[intent] += float(n or 0)
        page = Page("topics")
        page.charts.append(Chart(S_("dashboard.topics.chart"), f.weeks, [
            (topic_group_key(g), [count(weekly[w][g]) for w in f.weeks])
            for g in (*HEALTH_INTENTS, "other")]))  # fmt: skip
        rows = []
        for week in f.weeks:
            got = weekly[week]
            total = sum(got.values())
            health = sum(got[i] for i in HEALTH_INTENTS)
            rows.append([label(week.isoformat()), *[count(got[g]) for g in order],
                         count(total), rate(got["fallback"], total), rate(got["more"], health)])
        page.tables.append(Table(S_("dashboard.topics.weekly"), (
            S_("dashboard.week"), *[topic_group_key(g) for g in order],
            S_("dashboard.topics.total"), S_("dashboard.topics.fallback_rate"),
            S_("dashboard.topics.more_rate")), rows))  # fmt: skip
        all_messages = sum(totals.values())
        page.tables.append(Table(S_("dashboard.topics.intents"), (
            S_("dashboard.topics.intent"), S_("dashboard.topics.messages"),
            S_("dashboard.topics.share")),
            [[label(intent_key(i)), count(n), rate(n, all_messages)]
             for i, n in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))]))  # fmt: skip
        sub = select(t.intent, t.subtopic, func.sum(t.messages).label("n")).where(
            f.where(t), t.subtopic != "").group_by(t.intent, t.subtopic)  # fmt: skip
        found = sorted(self._rows(sub), key=lambda r: (-(r[2] or 0), r[0], r[1]))
        page.tables.append(Table(S_("dashboard.topics.subtopics"), (
            S_("dashboard.topics.intent"), S_("dashboard.topics.subtopic"),
            S_("dashboard.topics.messages")),
            [[label(intent_key(i)), label(s), count(n)] for i, s, n in found]))  # fmt: skip
        top = [(i, s) for i, s, _ in found[:TOP_SUBTOPICS]]
        per_week = select(t.week, t.intent, t.subtopic, func.sum(t.messages)).where(
            f.where(t), t.subtopic != "").group_by(t.week, t.intent, t.subtopic)  # fmt: skip
        cells: dict[tuple[date, str, str], float] = defaultdict(float)
        for week, i, sub_topic, n in self._rows(per_week):
            cells[(as_date(week), i, sub_topic)] = float(n or 0)
        page.tables.append(Table(S_("dashboard.topics.subtopics_weekly"), (
            S_("dashboard.week"), *[s for _, s in top]),
            [[label(w.isoformat()), *[count(cells[(w, i, s)]) for i, s in top]]
             for w in f.weeks]))  # fmt: skip
        return page

    # -- Safety ---------------------------------------------------------------------------

    def safety(self, f: Filters) -> Page:
        s = SafetyFigure
        rows = self._rows(select(s.week, s.category, s.level, s.numbers_seconds).where(f.where(s)))
        categories = sorted({r.category for r in rows if r.level == "clear"})
        weekly: dict[date, dict[str, int]] = {w: defaultdict(int) for w in f.weeks}
        cells: dict[tuple[str, str], int] = defaultdict(int)
        waits: dict[date, list[int]] = defaultdict(list)
        for r in rows:
            key = r.category if r.level == "clear" else "possible"
            weekly[as_date(r.week)][key] += 1
            cells[(r.level, key)] += 1  # a check-in has no category: "possible"
            if r.numbers_seconds is not None:
                waits[as_date(r.week)].append(int(r.numbers_seconds))
        columns = [*categories, "possible"]
        page = Page("safety")
        page.charts.append(Chart(S_("dashboard.safety.chart"), f.weeks, [
            (category_key(c), [count(weekly[w][c]) for w in f.weeks]) for c in columns]))
        page.tables.append(Table(S_("dashboard.safety.weekly"), (
            S_("dashboard.week"), *[category_key(c) for c in columns],
            S_("dashboard.safety.numbers_p50"), S_("dashboard.safety.numbers_p90")),
            [[label(w.isoformat()), *[count(weekly[w][c]) for c in columns],
              seconds(waits[w], 0.5), seconds(waits[w], 0.9)] for w in f.weeks]))  # fmt: skip
        page.tables.append(Table(S_("dashboard.safety.levels"), (
            S_("dashboard.safety.level"), S_("dashboard.safety.category"),
            S_("dashboard.safety.count")),
            [[label(level_key(lv)), label(category_key(c)), count(n)]
             for (lv, c), n in sorted(cells.items())]))  # fmt: skip
        every = [int(r.numbers_seconds) for r in rows if r.numbers_seconds is not None]
        page.tables.append(Table(S_("dashboard.safety.numbers"), (
            S_("dashboard.safety.given"), S_("dashboard.safety.numbers_p50"),
            S_("dashboard.safety.numbers_p90")),
            [[count(len(every)), seconds(every, 0.5), seconds(every, 0.9)]]))  # fmt: skip
        page.notes.append(S_("dashboard.safety.note"))
        return page

    # -- Handoffs -------------------------------------------------------------------------

    def handoffs(self, f: Filters) -> Page:
        h = HandoffFigure
        rows = self._rows(select(h.week, h.after_hours, h.counsellor_id, h.wait_seconds,
                                 h.outcome, h.priority).where(f.where(h)))  # fmt: skip
        weekly: dict[date, list[Any]] = {w: [] for w in f.weeks}
        for r in rows:
            weekly[as_date(r.week)].append(r)
        page = Page("handoffs")
        page.charts.append(Chart(S_("dashboard.handoffs.chart"), f.weeks, [
            (S_("dashboard.handoffs.claimed"),
             [count(sum(r.wait_seconds is not None for r in weekly[w])) for w in f.weeks]),
            (S_("dashboard.handoffs.unclaimed"),
             [count(sum(r.wait_seconds is None for r in weekly[w])) for w in f.weeks])]))
        table = []
        for week in f.weeks:
            got = weekly[week]
            waits = [r.wait_seconds for r in got if r.wait_seconds is not None]
            late = sum(bool(r.after_hours) for r in got)
            table.append([label(week.isoformat()), count(len(got)),
                          count(sum(bool(r.priority) for r in got)), count(len(waits)),
                          count(len(got) - len(waits)), count(late),
                          seconds(waits, 0.5), seconds(waits, 0.9)])  # fmt: skip
        page.tables.append(Table(S_("dashboard.handoffs.weekly"), (
            S_("dashboard.week"), S_("dashboard.handoffs.requests"),
            S_("dashboard.handoffs.priority"), S_("dashboard.handoffs.claimed"),
            S_("dashboard.handoffs.unclaimed"), S_("dashboard.handoffs.after_hours"),
            S_("dashboard.handoffs.wait_p50"), S_("dashboard.handoffs.wait_p90")), table))
        outcomes: dict[str, int] = defaultdict(int)
        load: dict[str, list[int]] = defaultdict(list)
        for r in rows:
            outcomes[r.outcome] += 1
            if r.counsellor_id:
                load[r.counsellor_id].append(int(r.wait_seconds or 0))
        page.tables.append(Table(S_("dashboard.handoffs.outcomes"), (
            S_("dashboard.handoffs.outcome"), S_("dashboard.handoffs.requests")),
            [[label(outcome_key(o)), count(n)] for o, n in sorted(outcomes.items())]))
        page.tables.append(Table(S_("dashboard.handoffs.load"), (
            S_("dashboard.handoffs.counsellor"), S_("dashboard.handoffs.taken"),
            S_("dashboard.handoffs.wait_p50")),
            [[label(c), count(len(w)), seconds(w, 0.5)] for c, w in sorted(load.items())]))
        every = [int(r.wait_seconds) for r in rows if r.wait_seconds is not None]
        page.tables.append(Table(S_("dashboard.handoffs.range"), (
            S_("dashboard.handoffs.requests"), S_("dashboard.handoffs.claimed"),
            S_("dashboard.handoffs.wait_p50"), S_("dashboard.handoffs.wait_p90")),
            [[count(len(rows)), count(len(every)), seconds(every, 0.5),
              seconds(every, 0.9)]]))  # fmt: skip
        page.notes.append(S_("dashboard.handoffs.note"))
        return page

    # -- Workshops ------------------------------------------------------------------------

    def workshops(self, f: Filters) -> Page:
        w = WorkshopFigure
        sums = (w.seats, w.booked, w.waitlisted, w.cancellations, w.attended, w.no_shows,
                w.reminders)  # fmt: skip
        where = f.where(w, channel=False)
        statement = select(w.workshop, w.topic, w.venue, w.country, func.count(),
                           func.sum(case((w.cancelled, 1), else_=0).cast(Integer)),
                           *[func.sum(c) for c in sums]).where(where).group_by(
            w.workshop, w.topic, w.venue, w.country).order_by(w.country, w.venue, w.workshop)
        table = []
        for code, topic, venue, country, sessions, off, *n in self._rows(statement):
            seats, booked, waiting, cancelled, came, missed, reminded = (int(x or 0) for x in n)
            table.append([label(code), label(topic_key(topic)), label(venue), label(country),
                          plain(sessions), plain(off), plain(seats), count(booked),
                          rate(booked, seats), count(waiting), count(cancelled), count(came),
                          count(missed), rate(came, came + missed), count(reminded)])
        weekly = self._weekly(f, w, (w.seats, w.booked, w.waitlisted), channel=False)
        page = Page("workshops")
        page.charts.append(Chart(S_("dashboard.workshops.chart"), list(weekly), [
            (S_("dashboard.workshops.seats"), [plain(v[0]) for v in weekly.values()]),
            (S_("dashboard.workshops.booked"), [count(v[1]) for v in weekly.values()]),
            (S_("dashboard.workshops.waitlisted"), [count(v[2]) for v in weekly.values()])],
            stacked=False))  # fmt: skip
        page.tables.append(Table(S_("dashboard.workshops.table"), (
            S_("dashboard.workshops.workshop"), S_("dashboard.workshops.topic"),
            S_("dashboard.workshops.venue"), S_("dashboard.country"),
            S_("dashboard.workshops.sessions"), S_("dashboard.workshops.called_off"),
            S_("dashboard.workshops.seats"), S_("dashboard.workshops.booked"),
            S_("dashboard.workshops.fill"), S_("dashboard.workshops.waitlisted"),
            S_("dashboard.workshops.cancellations"), S_("dashboard.workshops.attended"),
            S_("dashboard.workshops.no_shows"), S_("dashboard.workshops.attendance"),
            S_("dashboard.workshops.reminders")), table))  # fmt: skip
        page.notes.append(S_("dashboard.workshops.note"))
        return page

    # -- Cost -----------------------------------------------------------------------------

    def cost(self, f: Filters) -> Page:
        c = CostFigure
        sms = replace(f, channel="sms") if f.channel in ("", "sms") else f
        statement = select(c.week, c.country, func.sum(c.segments), func.sum(c.messages)).where(
            sms.where(c), c.channel == "sms").group_by(c.week, c.country)  # fmt: skip
        segments: dict[date, dict[str, int]] = {w: defaultdict(int) for w in f.weeks}
        sent: dict[date, int] = defaultdict(int)
        countries: set[str] = set()
        for week, country, n, m in self._rows(statement):
            segments[as_date(week)][country] += int(n or 0)
            sent[as_date(week)] += int(m or 0)
            countries.add(country)
        order = sorted(countries)
        telegram = self._weekly(replace(f, channel="telegram"), c, (c.messages,))
        page = Page("cost")
        page.charts.append(Chart(S_("dashboard.cost.chart"), f.weeks, [
            (group_key(k), [plain(segments[w][k]) for w in f.weeks]) for k in order]))
        page.tables.append(Table(S_("dashboard.cost.weekly"), (
            S_("dashboard.week"), *[group_key(k) for k in order], S_("dashboard.cost.segments"),
            S_("dashboard.cost.sms"), S_("dashboard.cost.telegram")),
            [[label(w.isoformat()), *[plain(segments[w][k]) for k in order],
              plain(sum(segments[w].values())), plain(sent[w]),
              plain(telegram[w][0] if f.channel in ("", "telegram") else 0)]
             for w in f.weeks]))  # fmt: skip
        page.notes.append(S_("dashboard.cost.note"))
        return page
