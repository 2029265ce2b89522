"""The live queue, for supervisors: the requests for a person open now, with their ages.

Read from the handoffs themselves (not from the weekly figures): it is the present, shown
to the people who answer for it. A request is its number (#12, as the counsellors' console
names it), its language, channel, country, reason and state: never a pseudonym or a text.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.channels.contacts import Contact
from bot.channels.rows import as_utc
from bot.dashboard.figures import Chart, Filters, Page, Table, Value, label, plain
from bot.dashboard.labels import S_, group_key, reason_key
from bot.dashboard.models import UNKNOWN
from bot.handoff.models import HandoffRow

AGES = (  # (upper bound in minutes, label key)
    (5, S_("dashboard.queue.age_5")), (15, S_("dashboard.queue.age_15")),
    (60, S_("dashboard.queue.age_60")), (None, S_("dashboard.queue.age_more")),
)  # fmt: skip


def minutes(value: float) -> Value:
    return Value(round(value), "plain")


def queue(engine: Engine, f: Filters, now: datetime) -> Page:
    """Open requests, oldest first, filtered by country, language and channel."""
    statement = select(HandoffRow.id, HandoffRow.language, HandoffRow.channel,
                       HandoffRow.reason, HandoffRow.priority, HandoffRow.opened_at,
                       HandoffRow.claimed_at, HandoffRow.counsellor_id, Contact.country).join(
        Contact, Contact.id == HandoffRow.conversation_id, isouter=True).where(
        HandoffRow.closed_at.is_(None)).order_by(HandoffRow.opened_at)  # fmt: skip
    with engine.connect() as connection:
        rows = list(connection.execute(statement))
    rows = [r for r in rows
            if (not f.country or (r.country or UNKNOWN) == f.country)
            and (not f.language or r.language == f.language)
            and (not f.channel or r.channel == f.channel)]  # fmt: skip
    waiting = [0] * len(AGES)
    taken = [0] * len(AGES)
    table = []
    for r in rows:
        age = (now - as_utc(r.opened_at)).total_seconds() / 60
        bucket = next(i for i, (bound, _) in enumerate(AGES) if bound is None or age < bound)
        (taken if r.claimed_at else waiting)[bucket] += 1
        state = S_("dashboard.queue.with") if r.claimed_at else S_("dashboard.queue.waiting")
        table.append([label(f"#{r.id}"),
                      label(S_("dashboard.yes") if r.priority else S_("dashboard.no")),
                      label(state), label(r.counsellor_id or ""), label(group_key(r.language)),
                      label(group_key(r.channel)), label(group_key(r.country or UNKNOWN)),
                      label(reason_key(r.reason)), minutes(age)])  # fmt: skip
    page = Page("queue")
    page.charts.append(Chart(S_("dashboard.queue.chart"), [key for _, key in AGES], [
        (S_("dashboard.queue.waiting"), [plain(n) for n in waiting]),
        (S_("dashboard.queue.with"), [plain(n) for n in taken])]))  # fmt: skip
    page.tables.append(Table(S_("dashboard.queue.table"), (
        S_("dashboard.queue.request"), S_("dashboard.handoffs.priority"),
        S_("dashboard.queue.state"), S_("dashboard.handoffs.counsellor"),
        S_("dashboard.value.language"), S_("dashboard.value.channel"), S_("dashboard.country"),
        S_("dashboard.queue.reason"), S_("dashboard.queue.age")), table))  # fmt: skip
    page.tables.append(Table(S_("dashboard.queue.totals"), (
        S_("dashboard.queue.waiting"), S_("dashboard.queue.with")),
        [[plain(sum(waiting)), plain(sum(taken))]]))  # fmt: skip
    page.notes.append(S_("dashboard.queue.note"))
    return page

