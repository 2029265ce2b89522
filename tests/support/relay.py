"""The counsellor relay without Rasa: its parts on the real database, with the real Twilio and
Telegram clients talking to the stand-ins and a manual clock driving the timers, and what the
relay tests do with them (a user, her request, the due timers, a console line, her words)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from bot import PROJECT_ROOT
from bot.channels.clients import close_twilio_client
from bot.channels.contacts import ContactView
from bot.channels.inbound import ContactOutput, Inbound, TurnRunner
from bot.channels.outbound import Outbox, SmsSender, TelegramSender
from bot.channels.store import ChannelStore
from bot.handoff.console import TelegramConsole
from bot.handoff.registry import Registry
from bot.handoff.relay import Relay
from bot.handoff.service import HandoffService
from bot.settings import ChannelSettings, HandoffSettings
from tests.support.clock import ManualClock
from tests.support.env import CHANNEL_ENV, STAFF_CHAT
from tests.support.standins import StandIns

COUNSELLORS = PROJECT_ROOT / "bot" / "handoff" / "counsellors.sandbox.yml"
phones = itertools.count(1)  # numbers of test users, unique in a run


@dataclass
class Parts:
    relay: Relay
    service: HandoffService
    store: ChannelStore
    clock: ManualClock
    standins: StandIns
    loop: asyncio.AbstractEventLoop

    def run(self, work: Any) -> Any:
        """One event loop per test: the provider clients keep sessions bound to it."""
        return self.loop.run_until_complete(work)


def build(engine: Engine, standins: StandIns, clock: ManualClock) -> Parts:
    settings = standins.settings()
    store = ChannelStore(engine, settings.pseudonym_key, clock)
    telegram = TelegramSender(settings, store)
    outbox = Outbox(store, {"sms": SmsSender(settings, store), "telegram": telegram})
    handoff = HandoffSettings(staff_chat_id=STAFF_CHAT, staff_per_minute=100000)
    service = HandoffService(engine, handoff, clock)
    registry = Registry(engine, clock)
    registry.import_file(COUNSELLORS)
    console = TelegramConsole(telegram.bot, STAFF_CHAT, "fr", per_minute=100000)
    relay = Relay(service, registry, store, outbox, console)
    return Parts(relay, service, store, clock, standins, asyncio.new_event_loop())


def relay_parts(tmp_path: Path, standins: StandIns) -> Iterator[Parts]:
    """The parts on a fresh SQLite file and a manual clock (the handoff test modules'
    ``parts`` fixtures yield from it)."""
    from bot.db.database import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    built = build(engine, standins, ManualClock())
    yield built
    built.run(close_clients(built))
    built.loop.close()
    engine.dispose()


async def close_clients(parts: Parts) -> None:
    """Close the HTTP sessions the senders opened, in the loop that used them (so nothing is
    left for the garbage collector to warn about)."""
    for sender in parts.relay.outbox.senders.values():
        if isinstance(sender, SmsSender) and sender._client is not None:
            await close_twilio_client(sender._client)
        if isinstance(sender, TelegramSender) and sender._bot is not None:
            await sender._bot.request.shutdown()


def sms_to(parts: Parts, phone: str) -> list[str]:
    return [msg["body"] for msg in parts.standins.twilio.messages if msg["to"] == phone]


def new_user(parts: Parts, language: str = "es") -> ContactView:
    phone = f"+5190100{next(phones):04d}"
    contact = parts.store.contact("sms", phone, country="PE" if language == "es" else "ML")
    parts.store.record_inbound("sms", f"SMhist{phone}", contact.id, "text", "necesito ayuda")
    return contact


def ask(parts: Parts, contact: ContactView, language: str = "es", reason: str = "asked") -> int:
    handoff, new = parts.service.request(contact.id, reason, language=language, channel="sms")
    assert new
    return handoff.id


async def fire_due(parts: Parts) -> list[str]:
    fired = []
    for timer in parts.service.take_due():
        await parts.relay.fire(timer)
        parts.service.done(timer.id)
        fired.append(timer.kind)
    return fired


async def console(parts: Parts, phone: str, text: str) -> None:
    contact = parts.store.contact("sms", phone)
    routed = await parts.relay.console(contact, Inbound("sms", "x", phone, "text", text=text))
    assert routed == "console"


def topic_texts(parts: Parts, thread: int | None) -> list[str]:
    """What the staff group shows in topic ``thread`` (None: its general chat)."""
    return [s["text"] for s in parts.standins.telegram.sent
            if s["chat_id"] == STAFF_CHAT and s.get("message_thread_id") == thread]  # fmt: skip


async def user_says(parts: Parts, contact: ContactView, text: str) -> str | None:
    return await parts.relay.route(contact, Inbound("sms", "x", contact.address, "text", text=text))


async def crash(message: object) -> None:
    """A turn that breaks (a bug, Rasa down)."""
    raise RuntimeError("the turn broke")


def crashing_turns(parts: Parts) -> TurnRunner:
    """The SMS channel's turn runner on these parts, gated by the relay: give it
    :func:`crash` as the handler to test what a crashed turn still answers."""
    settings = ChannelSettings(pseudonym_key=CHANNEL_ENV["PSEUDONYM_KEY"].encode())
    return TurnRunner("sms", settings, parts.store, parts.relay.outbox,
                      lambda: ContactOutput("sms", parts.relay.outbox),
                      gate=parts.relay)  # fmt: skip
