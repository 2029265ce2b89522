"""The composition root of the Rasa server process: what its channels share, built once.

Everything below this module is given what it needs; nothing below imports it. Here, and
only here, the parts meet: the channel store and the outbox (every sender), the counsellor
handoff (the gate the channels ask before every turn), the booking notices, the keywords
the features teach ("parler", "atelier"), and the turn runners of the channels.

Rasa builds its input channels from ``credentials.yml``, by class name, with no way to pass
them anything: the channel classes it names are the small subclasses at the end of this
module, which give each channel :func:`runtime_from_env` (built on the first request).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING

from rasa.core.channels.channel import OutputChannel
from sqlalchemy.engine import Engine

from bot import booking, handoff
from bot.booking.sender import NoticeSender
from bot.channels.inbound import TurnLoop, TurnRunner
from bot.channels.leases import Leases, default_holder
from bot.channels.local import LocalInput, LocalSender
from bot.channels.outbound import TWILIO_UNSUBSCRIBED, Outbox, Sender, SmsSender, TelegramSender
from bot.channels.sms import SmsInput
from bot.channels.store import ChannelStore
from bot.channels.telegram import TelegramInput
from bot.db.base import utcnow
from bot.db.database import database_url, engine_from_env
from bot.handoff.console import TelegramConsole
from bot.handoff.registry import Registry
from bot.handoff.relay import Relay
from bot.handoff.service import HandoffService
from bot.handoff.supervision import import_registry
from bot.handoff.tracker import RasaHistory
from bot.privacy.desk import PrivacyDesk
from bot.privacy.erase import Eraser
from bot.privacy.keys import reencrypt
from bot.privacy.requests import PrivacyRequests
from bot.privacy.tracker import RasaEvents, tracker_engine
from bot.privacy.worker import PrivacyWorker
from bot.settings import ChannelSettings, HandoffSettings, Settings, settings_from_env

if TYPE_CHECKING:  # the agent's module loads the whole of Rasa core
    from rasa.core.agent import Agent

logger = logging.getLogger(__name__)

# A message stored and not yet under a lease is left this long to the instance that stored
# it (it takes the lease within milliseconds) before another instance runs it.
ORPHAN_GRACE = timedelta(seconds=5)


def keywords() -> dict[str, str]:
    """Whole messages that stand for a payload, whatever the classifier would say: the
    features' words ("parler", "atelier", "annuler"), normalised."""
    table = dict.fromkeys(handoff.KEYWORDS, handoff.REQUEST_PAYLOAD)
    table.update(booking.KEYWORDS)
    return table


@dataclass
class Runtime:
    """The shared parts of one Rasa server process (see :func:`build_runtime`)."""

    settings: ChannelSettings
    handoff_settings: HandoffSettings
    store: ChannelStore
    outbox: Outbox
    gate: Relay
    notices: NoticeSender
    keywords: Mapping[str, str]
    turns: TurnLoop
    leases: Leases
    privacy: PrivacyDesk | None = None
    privacy_worker: PrivacyWorker | None = None
    runners: dict[str, TurnRunner] = field(default_factory=dict)
    agent: Agent | None = None  # Rasa's agent, once the server has started
    _recovery: asyncio.Task[None] | None = None

    @property
    def staff_chat_id(self) -> int | None:
        return self.handoff_settings.staff_chat_id

    def runner(self, channel: str, output: Callable[[], OutputChannel]) -> TurnRunner:
        """The turn runner of ``channel`` (one per channel, made on first use)."""
        if channel not in self.runners:
            self.runners[channel] = TurnRunner(
                channel, self.settings, self.store, self.outbox, output, turns=self.turns,
                gate=self.gate, keywords=self.keywords, leases=self.leases,
                privacy=self.privacy,
            )  # fmt: skip
        return self.runners[channel]

    def started(self, agent: Agent | None) -> None:
        """At server start: the agent (for the trackers), the handoff's timers and the
        booking notices (reminders, freed seats, cancelled sessions). Each channel calls
        it; the second call changes nothing."""
        if agent is not None:
            self.agent = agent
        self.gate.start()
        self.notices.start()
        if self.privacy_worker is not None:
            self.privacy_worker.start()
        if self._recovery is None:
            self._recovery = asyncio.create_task(self._recover())

    async def _recover(self) -> None:
        """This instance's heartbeat and recovery, forever: first give back what a previous
        life of this instance held (nothing of this process runs yet), then, every third of
        a lease, renew this instance's leases and run the conversations nobody runs (their
        instance died; its leases ran out)."""
        every = max(self.leases.ttl.total_seconds() / 3, 0.5)
        released = await asyncio.to_thread(self.leases.release_all)
        if released:
            logger.info("%d conversation(s) of this instance's previous run taken back.",
                        released)  # fmt: skip
        while True:
            try:
                await asyncio.to_thread(self.leases.renew)
                before = utcnow() - ORPHAN_GRACE
                for runner in list(self.runners.values()):
                    await runner.recover(before, wait=False)
            except Exception as error:  # the database away: the next round tries again
                logger.error("Recovery: %s; retrying.", type(error).__name__)
            await asyncio.sleep(every)

    async def stop(self) -> None:
        """At shutdown: no more recovery, the running turns finished, this instance's
        conversations given back (another instance takes them at once)."""
        if self._recovery is not None:
            self._recovery.cancel()
        for runner in self.runners.values():
            runner.stopping = True
        await self.drain()
        self.gate.stop()
        self.notices.stop()
        if self.privacy_worker is not None:
            self.privacy_worker.stop()
        await asyncio.to_thread(self.leases.release_all)

    async def record_sms_status(self, sid: str, status: str, error_code: str | None) -> None:
        """A Twilio delivery report; 21610 means the number opted out at the carrier."""
        await asyncio.to_thread(self.store.record_status, "sms", sid, status, error_code)
        if error_code == str(TWILIO_UNSUBSCRIBED):
            conversation = await asyncio.to_thread(self.store.outbound_conversation, "sms", sid)
            if conversation:
                await asyncio.to_thread(self.store.set_opted_out, conversation, True)

    async def drain(self) -> None:
        for runner in self.runners.values():
            await runner.drain()


def build_relay(
    engine: Engine,
    settings: HandoffSettings,
    channels: ChannelSettings,
    store: ChannelStore,
    outbox: Outbox,
    telegram_sender: TelegramSender,
    history: RasaHistory,
) -> Relay:
    """The counsellor handoff: the registry in the same database (its data file imported
    first), the staff group when configured, Rasa's trackers through ``history`` (and the
    risk model's level of messages that get no turn)."""
    console = None
    if settings.staff_chat_id is not None and channels.telegram_ready:
        console = TelegramConsole(telegram_sender.bot, settings.staff_chat_id,
                                  settings.staff_language, settings.staff_per_minute)  # fmt: skip
    registry = Registry(engine)
    service = HandoffService(engine, settings)
    if settings.counsellors_file:
        changes = import_registry(registry, service, settings.counsellors_file)
        logger.info("Counsellor registry: %d change(s) from the data file.", len(changes))
    return Relay(service, registry, store, outbox, console, history, risk=history)


def build_runtime(settings: Settings, engine: Engine | None = None) -> Runtime:
    """Wire the store, the senders, the outbox, the handoff and the notices for
    ``settings``, on ``engine`` (default: the settings' database)."""
    engine = engine_from_env(database_url(settings)) if engine is None else engine
    channels = settings.channels
    store = ChannelStore(
        engine, channels.pseudonym_key, previous_keys=settings.privacy.previous_pseudonym_keys
    )
    telegram = TelegramSender(channels, store)
    senders: dict[str, Sender] = {
        "sms": SmsSender(channels, store), "telegram": telegram, "local": LocalSender(store),
    }  # fmt: skip
    outbox = Outbox(store, senders)
    turns = TurnLoop()
    leases = Leases(engine, settings.serve.instance_id or default_holder(), settings.serve.lease)
    runtime: Runtime | None = None

    def agent() -> Agent | None:
        return None if runtime is None else runtime.agent

    history = RasaHistory(agent, turns.run)
    gate = build_relay(engine, settings.handoff, channels, store, outbox, telegram, history)
    events = RasaEvents(tracker_engine(settings.tracker_store_url))
    desk = PrivacyDesk(PrivacyRequests(engine), store, outbox, Eraser(engine, events),
                       settings.privacy.retention_days, ended=gate.erased,
                       delete_topic=gate.delete_topic)  # fmt: skip
    worker = PrivacyWorker(engine, events, leases, settings.privacy, gate.delete_topic,
                           reencrypt=functools.partial(reencrypt, engine))  # fmt: skip
    runtime = Runtime(
        channels, settings.handoff, store, outbox, gate, NoticeSender(engine, store, outbox),
        keywords(), turns, leases, desk, worker,
    )  # fmt: skip
    return runtime


@functools.cache
def runtime_from_env() -> Runtime:
    """One runtime per process, from the environment (called when the first request comes)."""
    return build_runtime(settings_from_env())


# The channels as ``credentials.yml`` names them for Rasa.


class SmsChannel(SmsInput):
    """SMS over Twilio, on this process's runtime."""

    services = staticmethod(runtime_from_env)


class TelegramChannel(TelegramInput):
    """Telegram, on this process's runtime."""

    services = staticmethod(runtime_from_env)


class LocalChannel(LocalInput):
    """The terminal chat and the local counsellor console, on this process's runtime."""

    services = staticmethod(runtime_from_env)
