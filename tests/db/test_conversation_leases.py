"""Several instances on one database: each message of a conversation answered once, in the
order it came, whichever instance stored it; a dead instance's conversations taken over
only once its lease has run out, a live one's never.

Two turn runners with different holders stand for two server processes (the stack test
``tests/stack/test_instances.py`` runs two real ones); SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from rasa.core.channels.channel import UserMessage
from sqlalchemy import select
from sqlalchemy.engine import Engine

from bot.channels.contacts import ContactView
from bot.channels.inbound import ContactOutput, Inbound, TurnRunner
from bot.channels.leases import Leases
from bot.channels.messages import InboundMessage
from bot.channels.outbound import Button, Outbox
from bot.channels.store import ChannelStore
from bot.db.base import utcnow
from bot.i18n import Translator
from bot.settings import ChannelSettings
from tests.support.clock import ManualClock

SETTINGS = ChannelSettings(pseudonym_key=b"k" * 32, rate_limit=100)
TTL = timedelta(seconds=30)


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, contact: ContactView, text: str, buttons: Sequence[Button]) -> bool:
        self.sent.append((contact.address, text))
        return True


def instance(engine: Engine, name: str, sender: RecordingSender, clock: Any = utcnow
             ) -> TurnRunner:  # fmt: skip
    store = ChannelStore(engine, SETTINGS.pseudonym_key)
    outbox = Outbox(store, {"sms": sender})
    return TurnRunner("sms", SETTINGS, store, outbox, lambda: ContactOutput("sms", outbox),
                      leases=Leases(engine, name, TTL, clock))  # fmt: skip


def sms(sid: str, text: str, phone: str) -> Inbound:
    return Inbound("sms", sid, phone, "text", text=text, country="PE")


def statuses(engine: Engine, conversation: str) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(
            select(InboundMessage.status)
            .where(InboundMessage.conversation_id == conversation).order_by(InboundMessage.id)
        ))  # fmt: skip


def test_a_lease_is_one_holders_until_it_runs_out(isolated: Engine) -> None:
    clock = ManualClock()
    a, b = Leases(isolated, "host:5005", TTL, clock), Leases(isolated, "host:5006", TTL, clock)
    assert a.acquire("sms-1") and a.acquire("sms-1")  # taken, and kept by its holder
    assert not b.acquire("sms-1")
    clock.advance(seconds=20)
    assert a.renew() == 1
    clock.advance(seconds=20)
    assert not b.acquire("sms-1")  # renewed: still a's
    assert a.holds("sms-1")
    clock.advance(seconds=31)  # a stopped renewing (a long pause)...
    assert a.holds("sms-1")  # ...nobody took it meanwhile: still a's
    clock.advance(seconds=31)  # a stopped renewing (it died)
    assert b.acquire("sms-1")
    assert not a.holds("sms-1")  # a, back from a pause, sees it lost the conversation
    b.release("sms-1")
    assert a.acquire("sms-1")
    assert a.release_all() == 1 and b.acquire("sms-1")


def test_messages_sent_to_either_instance_are_answered_once_each_in_order(
    isolated: Engine,
) -> None:
    """Ten conversations, eight messages each, every message to a random instance, turns of
    random length: each message has one turn, in its conversation's order."""
    sender = RecordingSender()
    a, b = instance(isolated, "host:5005", sender), instance(isolated, "host:5006", sender)
    turns: list[tuple[str, str]] = []
    rng = random.Random(7)

    async def handler(message: UserMessage) -> None:
        await asyncio.sleep(rng.uniform(0, 0.01))
        turns.append((message.sender_id, message.text or ""))

    async def go() -> None:
        for n in range(8):
            for user in range(10):
                runner = rng.choice((a, b))
                await runner.accept(sms(f"SM{user}-{n}", f"m{n}", f"+5190000{user:04d}"), handler)
            await asyncio.sleep(rng.uniform(0, 0.005))
        for _ in range(50):  # what one stored while the other held the lease
            await a.drain()
            await b.drain()
            if len(turns) == 80:
                break
            await asyncio.sleep(0.02)

    asyncio.run(go())
    assert len(turns) == 80
    by_user: dict[str, list[str]] = {}
    for conversation, text in turns:
        by_user.setdefault(conversation, []).append(text)
    assert len(by_user) == 10
    assert all(texts == [f"m{n}" for n in range(8)] for texts in by_user.values())
    for conversation in by_user:
        assert statuses(isolated, conversation) == ["done"] * 8


def test_a_dead_instances_conversation_waits_for_its_lease_then_goes_on_elsewhere(
    isolated: Engine,
) -> None:
    """Instance A took a conversation, began a turn and died (SIGKILL) with a second
    message stored. B leaves it while A's lease runs; then the interrupted one gets the
    apology (her turn may or may not have answered), the one never begun its turn."""
    clock = ManualClock()
    sender = RecordingSender()
    b = instance(isolated, "host:5006", sender, clock)
    store = b.store
    contact = store.contact("sms", "+51900000001", country="PE")
    dead = Leases(isolated, "host:5005", TTL, clock)
    assert dead.acquire(contact.id)
    begun = store.record_inbound("sms", "SMa", contact.id, "text", "hola")
    store.set_inbound_status(begun, "processing")
    store.record_inbound("sms", "SMb", contact.id, "text", "que es el implante")
    seen: list[str] = []

    async def handler(message: UserMessage) -> None:
        seen.append(message.text or "")

    async def recover() -> int:
        b.bind(handler)
        told = await b.recover(utcnow() + timedelta(seconds=1))
        await b.drain()
        return told

    assert asyncio.run(recover()) == 0  # A's lease is live: not B's to take
    assert seen == [] and statuses(isolated, contact.id) == ["processing", "received"]
    clock.advance(seconds=31)
    assert asyncio.run(recover()) == 1
    assert sender.sent == [("+51900000001", Translator("es")("channel.apology"))]
    assert seen == ["que es el implante"]
    assert statuses(isolated, contact.id) == ["interrupted", "done"]
    assert asyncio.run(recover()) == 0  # nothing left, nobody told twice


def test_a_live_instances_conversation_is_never_taken(isolated: Engine) -> None:
    """A running a long turn keeps renewing: B's recovery passes the conversation by."""
    sender = RecordingSender()
    a, b = instance(isolated, "host:5005", sender), instance(isolated, "host:5006", sender)
    release = threading.Event()  # turns run on their own loop, in another thread
    seen: list[tuple[str, str]] = []

    def handler(name: str) -> Any:
        async def handle(message: UserMessage) -> None:
            while message.text == "slow" and not release.is_set():
                await asyncio.sleep(0.01)
            seen.append((name, message.text or ""))

        return handle

    async def go() -> None:
        b.bind(handler("b"))
        await a.accept(sms("SM1", "slow", "+51900000002"), handler("a"))
        await asyncio.sleep(0.05)
        await a.accept(sms("SM2", "next", "+51900000002"), handler("a"))
        assert await b.recover(utcnow() + timedelta(seconds=10)) == 0
        release.set()
        await a.drain()

    asyncio.run(go())
    assert seen == [("a", "slow"), ("a", "next")]


@pytest.mark.parametrize("received", ["received", "processing"])
def test_a_restarted_instance_takes_back_its_own_conversations_at_once(
    isolated: Engine, received: str
) -> None:
    """The same instance id after a restart: its own leases are given back without waiting
    for them to run out, and its unanswered messages are run (or, begun, apologised for)."""
    sender = RecordingSender()
    before = Leases(isolated, "host:5005", TTL)
    after = instance(isolated, "host:5005", sender)
    contact = after.store.contact("sms", "+51900000003", country="PE")
    assert before.acquire(contact.id)
    row = after.store.record_inbound("sms", "SMr", contact.id, "text", "hola")
    after.store.set_inbound_status(row, received)
    seen: list[str] = []

    async def handler(message: UserMessage) -> None:
        seen.append(message.text or "")

    async def restart() -> None:
        after.bind(handler)
        assert await asyncio.to_thread(after._leases.release_all) == 1
        await after.recover(utcnow() + timedelta(seconds=1))
        await after.drain()

    asyncio.run(restart())
    if received == "received":
        assert seen == ["hola"] and sender.sent == []
    else:
        assert seen == [] and sender.sent == [("+51900000003",
                                               Translator("es")("channel.apology"))]
