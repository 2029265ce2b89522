"""The dashboard's synthetic history (bot.dashboard.seed): it goes in on SQLite and on
PostgreSQL, twice the same, and every row is one the service itself could have written."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, func, select, text
from sqlalchemy.engine import Engine

from bot.booking.models import BOOKING_STATUSES, SEATED, Booking, WorkshopSession
from bot.booking.notices import KINDS as NOTICE_KINDS
from bot.booking.notices import BookingNotice
from bot.channels.contacts import Contact
from bot.channels.deliveries import OUTBOUND_STATUSES
from bot.channels.messages import INBOUND_STATUSES, KINDS, InboundMessage, OutboundMessage
from bot.dashboard.seed import SeedPlan, seed
from bot.db.crypto import Keyring, attach_keyring, is_encrypted, new_key
from bot.db.database import make_engine
from bot.handoff.models import HandoffRow
from bot.handoff.ownership import OUTCOMES, REASONS
from bot.handoff.registry import CounsellorRecord
from bot.privacy.tracker import EVENTS
from bot.safety import CATEGORIES, GENERAL
from bot.safety.models import SafetyAlert

END = datetime(2025, 3, 3, tzinfo=timezone.utc)  # a Monday
PLAN = SeedPlan(users=80, weeks=6, end=END)
UTC = timezone.utc


def utc(moment: datetime | None) -> datetime | None:
    """SQLite gives times back naive, PostgreSQL aware: both as aware UTC."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def rows(engine: Engine, table: Table) -> list[dict[str, Any]]:
    """A table's rows by id, times in aware UTC (the two databases compare equal)."""
    with engine.connect() as connection:
        found = [{k: utc(v) if isinstance(v, datetime) else v for k, v in row.items()}
                 for row in connection.execute(select(table)).mappings()]  # fmt: skip
    keys = [c.name for c in table.primary_key.columns]  # sorted here: collations differ
    return sorted(found, key=lambda row: [str(row[k]) for k in keys])


@pytest.fixture()
def seeded(isolated: Engine) -> tuple[Engine, dict[str, int]]:
    """``isolated`` (a schema of its own on PostgreSQL) with the plan's history, Rasa's
    events table in the same database."""
    return isolated, seed(isolated, isolated, PLAN)


def test_the_history_fills_every_table_it_counts(seeded: tuple[Engine, dict[str, int]]) -> None:
    engine, counts = seeded
    tables = {t.name: t for t in (
        Contact.__table__, InboundMessage.__table__, OutboundMessage.__table__, EVENTS,
        SafetyAlert.__table__, HandoffRow.__table__, CounsellorRecord.__table__,
        WorkshopSession.__table__, Booking.__table__, BookingNotice.__table__)}  # fmt: skip
    assert set(tables) <= set(counts)
    with engine.connect() as connection:
        for name, table in tables.items():
            stored = connection.scalar(select(func.count()).select_from(table))
            assert stored == counts[name] > 0, name
    assert counts["contacts"] == PLAN.users


def test_two_runs_write_the_same_rows(seeded: tuple[Engine, dict[str, int]], tmp_path: Path
                                      ) -> None:  # fmt: skip
    """Against a second run on a SQLite file of its own: also the same across databases."""
    engine, counts = seeded
    other = make_engine(f"sqlite:///{tmp_path / 'again.db'}")
    try:
        assert seed(other, other, PLAN) == counts
        for table in (Contact.__table__, InboundMessage.__table__, OutboundMessage.__table__,
                      EVENTS, SafetyAlert.__table__, HandoffRow.__table__,
                      Booking.__table__, BookingNotice.__table__, WorkshopSession.__table__):
            assert rows(other, table) == rows(engine, table), table.name
    finally:
        other.dispose()


def test_another_seed_gives_another_history(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        seed(engine, engine, SeedPlan(users=5, weeks=2, end=END, seed=7))
        ids = {r["id"] for r in rows(engine, Contact.__table__)}
        seed(engine, engine, SeedPlan(users=5, weeks=2, end=END, seed=8))  # no collision
        assert len(rows(engine, Contact.__table__)) == 10
        assert ids < {r["id"] for r in rows(engine, Contact.__table__)}
    finally:
        engine.dispose()


def test_contacts_and_messages_agree(seeded: tuple[Engine, dict[str, int]]) -> None:
    engine, _ = seeded
    start = END - timedelta(weeks=PLAN.weeks)
    contacts = {c["id"]: c for c in rows(engine, Contact.__table__)}
    inbound = rows(engine, InboundMessage.__table__)
    by_contact: dict[str, list[datetime]] = {}
    for message in inbound:
        assert message["kind"] in KINDS and message["status"] in INBOUND_STATUSES
        assert message["channel"] == contacts[message["conversation_id"]]["channel"]
        assert start <= message["received_at"] < END
        by_contact.setdefault(message["conversation_id"], []).append(message["received_at"])
    for contact_id, contact in contacts.items():
        assert contact["created_at"] == min(by_contact[contact_id])  # her first message
        assert contact["last_seen_at"] == max(by_contact[contact_id])
        assert contact["language"] in {"ML": {"fr", "bm"}, "PE": {"es"}, "FR": {"fr"},
                                       None: {"fr", "bm", "es"}}[contact["country"]]
        assert contact["country"] is not None or contact["channel"] == "telegram"
    for message in rows(engine, OutboundMessage.__table__):
        assert message["conversation_id"] in contacts and message["status"] in OUTBOUND_STATUSES
        if message["channel"] == "sms":  # one segment a part, as bot.channels.outbound sends
            assert (message["segments"], message["encoding"]) in {(1, "GSM-7"), (1, "UCS-2")}
        else:
            assert (message["segments"], message["encoding"], message["status"]) == (
                None, None, "sent")
    assert Counter(c["country"] for c in contacts.values()).most_common(1)[0][0] == "ML"


def test_rasa_events_are_her_turns(seeded: tuple[Engine, dict[str, int]]) -> None:
    """One ``user`` event per message that went through Rasa, as Rasa 3.6 stores it; health
    questions carry their sub-topic where the ResponseSelector puts it."""
    from rasa.shared.core.events import Event, UserUttered  # lazy: Rasa only for this check

    engine, _ = seeded
    turns = Counter(m["conversation_id"] for m in rows(engine, InboundMessage.__table__)
                    if m["status"] == "done")  # fmt: skip
    events = rows(engine, EVENTS)
    assert Counter(e["sender_id"] for e in events) == turns
    for event in events:
        data = json.loads(event["data"])
        parsed = Event.from_parameters(data)
        assert isinstance(parsed, UserUttered) and parsed.intent_name == event["intent_name"]
        assert data["timestamp"] == event["timestamp"] and event["type_name"] == "user"
        if event["intent_name"] in ("contraception", "pregnancy", "addiction"):
            key = data["parse_data"]["response_selector"]["default"]["response"]
            assert key["intent_response_key"].startswith(event["intent_name"] + "/")
        assert data["parse_data"]["safety_level"] in ("none", "possible", "clear")
    intents = Counter(e["intent_name"] for e in events)
    assert intents["contraception"] > intents["pregnancy"] > intents["addiction"] > 0


def test_alerts_and_handoffs_are_as_the_service_records_them(
    seeded: tuple[Engine, dict[str, int]],
) -> None:
    engine, _ = seeded
    contacts = {c["id"] for c in rows(engine, Contact.__table__)}
    counsellors = {c["id"] for c in rows(engine, CounsellorRecord.__table__)}
    for alert in rows(engine, SafetyAlert.__table__):
        assert alert["conversation_id"] in contacts
        if alert["level"] == "clear":
            assert alert["category"] in (*CATEGORIES, GENERAL) and alert["needs_handoff"]
            assert alert["numbers_at"] is None or alert["numbers_at"] > alert["created_at"]
        else:
            assert (alert["level"], alert["category"], alert["numbers_at"]) == (
                "possible", GENERAL, None)
    handoffs = rows(engine, HandoffRow.__table__)
    for handoff in handoffs:
        assert handoff["conversation_id"] in contacts and handoff["reason"] in REASONS
        assert handoff["priority"] == (handoff["reason"] == "emergency")
        assert handoff["outcome"] in OUTCOMES or (handoff["outcome"], handoff["closed_at"]) == (
            None, None)  # still open at the end
        if handoff["claimed_at"] is not None:
            assert handoff["counsellor_id"] in counsellors
            assert handoff["opened_at"] <= handoff["claimed_at"] <= (handoff["closed_at"] or END)
        else:
            assert handoff["counsellor_id"] is None
            assert handoff["outcome"] in ("unclaimed", None)


def test_bookings_fill_seats_as_the_booking_service_would(
    seeded: tuple[Engine, dict[str, int]],
) -> None:
    engine, _ = seeded
    contacts = {c["id"] for c in rows(engine, Contact.__table__)}
    bookings = rows(engine, Booking.__table__)
    assert len({b["reference"] for b in bookings}) == len(bookings)
    by_session: dict[int, list[dict[str, Any]]] = {}
    for booking in bookings:
        assert booking["status"] in BOOKING_STATUSES and booking["participant"] in contacts
        by_session.setdefault(booking["session_id"], []).append(booking)
    for session in rows(engine, WorkshopSession.__table__):
        mine = by_session.get(session["id"], [])
        seated = [b for b in mine if b["status"] in SEATED]
        assert session["booked_count"] == len(seated) <= session["capacity"]
        statuses = {b["status"] for b in mine}
        if session["status"] == "cancelled":
            assert statuses <= {"cancelled"}
        elif session["starts_at"] >= END:  # nobody marked yet
            assert statuses <= {"booked", "waitlisted", "cancelled"}
        elif session["starts_at"] < END - timedelta(days=2):  # marked by the facilitator
            assert statuses <= {"attended", "no_show", "waitlisted", "cancelled"}
    references = {b["id"]: b for b in bookings}
    for notice in rows(engine, BookingNotice.__table__):
        assert notice["kind"] in NOTICE_KINDS and notice["booking_id"] in references
        assert notice["outcome"] in ("sent", "obsolete", None)
        assert (notice["sent_at"] is None) == (notice["outcome"] is None)
        assert notice["outcome"] is not None or notice["due_at"] >= END


def test_addresses_are_encrypted_with_the_data_keys(tmp_path: Path) -> None:
    """With ``DATA_KEYS`` (a keyring on the engine) addresses are stored encrypted, like the
    service's own, and read back as the fictional numbers and chat ids."""
    engine = make_engine(f"sqlite:///{tmp_path / 'keys.db'}")
    attach_keyring(engine, Keyring([new_key().encode()]))
    try:
        seed(engine, engine, SeedPlan(users=20, weeks=2, end=END))
        with engine.connect() as connection:
            stored = connection.execute(text("SELECT address FROM contacts")).scalars().all()
            shown = connection.scalars(select(Contact.__table__.c.address)).all()
        assert stored and all(is_encrypted(a) for a in stored)
        assert all(a.startswith(("+2230", "+510", "+3363998")) or a.isdigit() for a in shown)
    finally:
        engine.dispose()


def test_a_plan_needs_an_aware_end(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'naive.db'}")
    try:
        with pytest.raises(ValueError, match="aware"):
            seed(engine, engine, SeedPlan(users=1, weeks=1, end=datetime(2025, 3, 3)))
    finally:
        engine.dispose()
