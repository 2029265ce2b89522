"""The channels' store on SQLite and PostgreSQL: pseudonyms, de-duplication that survives a
restart, races between server instances, delivery reports, buttons, opt-out."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import TypeVar

import pytest
from sqlalchemy import delete, func, or_, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.channels.buttons import ButtonChoice
from bot.channels.contacts import Contact, pseudonym
from bot.channels.deliveries import StatusEvent
from bot.channels.messages import InboundMessage, OutboundMessage
from bot.channels.store import ChannelStore
from bot.db.database import make_engine

KEY = b"test-key-0123456789abcdef0123456"
T = TypeVar("T")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def prefix(engine: Engine) -> Iterator[str]:
    """Prefixes every address, provider id and made-up conversation id of one test; the rows
    carrying it are deleted afterwards (PostgreSQL is shared with other tests)."""
    mark = f"t{uuid.uuid4().hex[:10]}-"
    yield mark
    like = f"{mark}%"
    bulk = {"synchronize_session": False}
    with Session(engine, future=True) as session, session.begin():
        ids = set(session.scalars(select(Contact.id).where(Contact.address.like(like))))
        mine = or_(Contact.id.in_(ids), Contact.id.like(like))
        session.execute(delete(Contact).where(mine), execution_options=bulk)
        for model in (InboundMessage, OutboundMessage, ButtonChoice):
            session.execute(
                delete(model).where(
                    or_(model.conversation_id.in_(ids), model.conversation_id.like(like))
                ),
                execution_options=bulk,
            )
        session.execute(
            delete(InboundMessage).where(InboundMessage.provider_id.like(like)),
            execution_options=bulk,
        )
        session.execute(
            delete(StatusEvent).where(StatusEvent.provider_id.like(like)), execution_options=bulk
        )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(engine: Engine, clock: Clock) -> ChannelStore:
    return ChannelStore(engine, KEY, clock=clock)


def at_once(count: int, call: Callable[[], T]) -> list[T]:
    """``call`` from ``count`` threads released together, as several instances would."""
    barrier = threading.Barrier(count)

    def run() -> T:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(count) as pool:
        return [f.result() for f in [pool.submit(run) for _ in range(count)]]


def count(engine: Engine, statement: object) -> int:
    with Session(engine, future=True) as session:
        return int(session.scalar(statement) or 0)


# Pseudonyms (no database)


def test_pseudonym_is_stable_keyed_and_hides_the_address() -> None:
    phone = "+22370123456"
    first = pseudonym(KEY, "sms", phone)
    assert first == pseudonym(KEY, "sms", phone)
    assert first.startswith("sms-") and len(first) == len("sms-") + 26
    assert first[4:].isalnum() and first == first.lower()
    assert pseudonym(b"another key", "sms", phone) != first
    assert pseudonym(KEY, "sms", "+22370123457") != first
    tg = pseudonym(KEY, "telegram", phone)
    assert tg.startswith("tg-") and tg[3:] != first[4:]
    for conversation in (first, tg):
        assert phone not in conversation and "70123456" not in conversation


def test_pseudonym_needs_a_key_and_a_known_channel() -> None:
    with pytest.raises(ValueError):
        pseudonym(b"", "sms", "+22370123456")
    with pytest.raises(ValueError):
        pseudonym(KEY, "whatsapp", "+22370123456")


# Contacts


def test_contact_is_created_once_and_detached(store: ChannelStore, prefix: str) -> None:
    address = f"{prefix}+22370000001"
    contact = store.contact("sms", address, country="ml")
    assert contact.id == store.pseudonym("sms", address)
    assert (contact.channel, contact.address, contact.country) == ("sms", address, "ML")
    assert not contact.opted_out and contact.language is None
    assert address not in repr(contact)
    # A later country does not overwrite the first; set_country does.
    assert store.contact("sms", address, country="PE") == contact
    store.set_country(contact.id, "fr")
    store.set_language(contact.id, "bm")
    again = store.contact_by_id(contact.id)
    assert again is not None and (again.country, again.language) == ("FR", "bm")
    assert store.contact_by_id(f"{prefix}unknown") is None


def test_concurrent_first_contact_makes_one_row(
    store: ChannelStore, engine: Engine, prefix: str
) -> None:
    address = f"{prefix}+51987654321"
    contacts = at_once(10, lambda: store.contact("sms", address, country="PE"))
    assert len({c.id for c in contacts}) == 1
    assert count(engine, select(func.count()).where(Contact.address == address)) == 1


def test_opt_out_is_persisted(store: ChannelStore, engine: Engine, prefix: str) -> None:
    contact = store.contact("telegram", f"{prefix}123456789")
    store.set_opted_out(contact.id, True)
    restarted = ChannelStore(engine, KEY)
    found = restarted.contact_by_id(contact.id)
    assert found is not None and found.opted_out
    assert restarted.contact("telegram", contact.address).opted_out
    store.set_opted_out(contact.id, False)
    found = restarted.contact_by_id(contact.id)
    assert found is not None and not found.opted_out


# Inbound messages


def test_duplicate_inbound_is_recognised_after_a_restart(
    store: ChannelStore, engine: Engine, prefix: str
) -> None:
    contact = store.contact("sms", f"{prefix}+33600000000")
    sid = f"{prefix}SM0001"
    row = store.record_inbound("sms", sid, contact.id, "text", "bonjour")
    assert isinstance(row, int)
    assert store.record_inbound("sms", sid, contact.id, "text", "bonjour") is None
    restarted = ChannelStore(make_engine(str(engine.url)), KEY)
    assert restarted.record_inbound("sms", sid, contact.id, "text", "bonjour") is None
    # The same id on the other channel is another message.
    assert restarted.record_inbound("telegram", sid, contact.id, "text", "hola") is not None


def test_concurrent_redeliveries_store_one_message(store: ChannelStore, prefix: str) -> None:
    contact = store.contact("telegram", f"{prefix}42")
    rows = at_once(
        10, lambda: store.record_inbound("telegram", f"{prefix}7", contact.id, "text", "x")
    )
    assert len([r for r in rows if r is not None]) == 1


def test_inbound_counts_and_statuses(store: ChannelStore, clock: Clock, prefix: str) -> None:
    contact = store.contact("sms", f"{prefix}+22370000002")
    start = clock.now
    rows = []
    for n in range(4):
        rows.append(store.record_inbound("sms", f"{prefix}{n}", contact.id, "text", str(n)))
        clock.now += timedelta(minutes=1)
    assert all(isinstance(r, int) for r in rows)
    store.set_inbound_status(rows[0], "done")
    store.set_inbound_status(rows[1], "failed", "KeyError")
    store.set_inbound_status(rows[2], "ignored")
    assert store.inbound_count_since(contact.id, start) == 3
    assert store.inbound_count_since(contact.id, start + timedelta(seconds=90)) == 1
    # Another time zone means the same instant.
    paris = timezone(timedelta(hours=2))
    assert store.inbound_count_since(contact.id, start.astimezone(paris)) == 3
    store.set_inbound_status(rows[3], "processing")
    with pytest.raises(ValueError):
        store.set_inbound_status(rows[0], "lost")
    # The database may hold other tests' rows: look only at ours.
    assert contact.id not in store.interrupt_pending("sms", start)  # nothing older
    assert contact.id not in store.interrupt_pending("telegram", clock.now)  # other channel
    assert contact.id in store.interrupt_pending("sms", clock.now)
    with Session(store.engine, future=True) as session:
        found = dict(session.execute(
            select(InboundMessage.id, InboundMessage.status).where(InboundMessage.id.in_(rows))
        ).all())  # fmt: skip
    assert [found[r] for r in rows] == ["done", "failed", "ignored", "interrupted"]
    assert contact.id not in store.interrupt_pending("sms", clock.now)  # told once


def test_rate_notice_is_claimed_once_per_window(
    store: ChannelStore, clock: Clock, prefix: str
) -> None:
    contact = store.contact("sms", f"{prefix}+22370000003")
    window = timedelta(minutes=10)
    claims = at_once(10, lambda: store.claim_rate_notice(contact.id, window))
    assert claims.count(True) == 1
    clock.now += timedelta(minutes=5)
    assert not store.claim_rate_notice(contact.id, window)
    clock.now += timedelta(minutes=6)
    assert at_once(10, lambda: store.claim_rate_notice(contact.id, window)).count(True) == 1
    assert not store.claim_rate_notice(f"{prefix}nobody", window)


# Outbound messages and delivery reports


def outbound(engine: Engine, row: int) -> OutboundMessage:
    with Session(engine, future=True) as session:
        return session.get(OutboundMessage, row)


def test_delivery_reports_only_move_forward(
    store: ChannelStore, engine: Engine, prefix: str
) -> None:
    contact = store.contact("sms", f"{prefix}+22370000004")
    row = store.record_outbound(contact.id, "sms", "Bonjour", segments=1, encoding="GSM-7")
    assert outbound(engine, row).status == "pending"
    sid = f"{prefix}SMout1"
    store.mark_outbound(row, "queued", provider_id=sid)
    assert store.outbound_conversation("sms", sid) == contact.id
    assert store.record_status("sms", sid, "sent")
    assert store.record_status("sms", sid, "delivered")
    assert store.record_status("sms", sid, "sent")  # late: kept as an event only
    message = outbound(engine, row)
    assert (message.status, message.segments, message.encoding) == ("delivered", 1, "GSM-7")
    events = select(func.count()).where(StatusEvent.provider_id == sid)
    assert count(engine, events) == 3
    assert not store.record_status("sms", f"{prefix}unknown", "delivered")


def test_failures_are_final(store: ChannelStore, engine: Engine, prefix: str) -> None:
    contact = store.contact("sms", f"{prefix}+22370000005")
    row = store.record_outbound(contact.id, "sms", "Bonjour")
    sid = f"{prefix}SMout2"
    store.mark_outbound(row, "queued", provider_id=sid)
    assert store.record_status("sms", sid, "undelivered", "30003")
    assert store.record_status("sms", sid, "sent")
    assert store.record_status("sms", sid, "delivered")
    message = outbound(engine, row)
    assert (message.status, message.error_code) == ("undelivered", "30003")


def test_a_report_before_the_provider_id_is_applied_later(
    store: ChannelStore, engine: Engine, prefix: str
) -> None:
    contact = store.contact("sms", f"{prefix}+22370000006")
    row = store.record_outbound(contact.id, "sms", "Bonjour")
    sid = f"{prefix}SMfast"
    assert not store.record_status("sms", sid, "delivered")  # faster than our own write
    store.mark_outbound(row, "queued", provider_id=sid)
    assert outbound(engine, row).status == "delivered"


# Buttons


def test_buttons_are_replaced_and_cleared(store: ChannelStore, prefix: str) -> None:
    conversation = store.contact("telegram", f"{prefix}99").id
    store.set_buttons(conversation, [("Santé", "/health"), ("Ateliers", "/workshops")])
    assert store.button_payload(conversation, 1) == "/health"
    assert store.button_payload(conversation, 2) == "/workshops"
    store.set_buttons(conversation, [("Français", '/language{"language": "fr"}')])
    assert store.button_payload(conversation, 1) == '/language{"language": "fr"}'
    assert store.button_payload(conversation, 2) is None
    assert store.button_payload(conversation, 0) is None
    store.clear_buttons(conversation)
    assert store.button_payload(conversation, 1) is None


def test_concurrent_button_replacements_leave_one_set(store: ChannelStore, prefix: str) -> None:
    conversation = f"{prefix}conversation"
    at_once(10, lambda: store.set_buttons(conversation, [("a", "/a"), ("b", "/b")]))
    assert [store.button_payload(conversation, n) for n in (1, 2, 3)] == ["/a", "/b", None]
