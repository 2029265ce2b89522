"""The objects the channels share in one Rasa process, built once on first use.

Both channels, and later the handoff and the reminders, send through the same
:class:`~bot.channels.outbound.Outbox` and store through the same
:class:`~bot.channels.store.ChannelStore`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rasa.core.channels.channel import OutputChannel

from bot.channels.config import ChannelSettings
from bot.channels.inbound import TurnLoop, TurnRunner
from bot.channels.outbound import TWILIO_UNSUBSCRIBED, Outbox, SmsSender, TelegramSender
from bot.channels.store import ChannelStore
from bot.handoff.service import HandoffSettings
from bot.storage import engine_from_env

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: ChannelSettings
    store: ChannelStore
    outbox: Outbox
    handoff_settings: HandoffSettings = field(default_factory=HandoffSettings)
    runners: dict[str, TurnRunner] = field(default_factory=dict)
    agent: Any = None  # Rasa's agent, once the server has started
    _relay: Any = None
    _notices: Any = None
    _turns: TurnLoop = field(default_factory=TurnLoop)

    def runner(self, channel: str, output: Callable[[], OutputChannel]) -> TurnRunner:
        if channel not in self.runners:
            self.runners[channel] = TurnRunner(
                channel, self.settings, self.store, self.outbox, output, turns=self._turns,
                relay=self.relay,
            )  # fmt: skip
        return self.runners[channel]

    @property
    def relay(self) -> Any:
        """The counsellor handoff of this process (:class:`bot.handoff.relay.Relay`)."""
        if self._relay is None:
            from bot.handoff.relay import build_relay

            self._relay = build_relay(self, self._turns)
        return self._relay

    def started(self, agent: Any) -> None:
        """At server start: the agent (for the trackers), the handoff's timers and the
        booking notices (reminders, freed seats, cancelled sessions)."""
        if agent is not None:
            self.agent = agent
        self.relay.start()
        if self._notices is None:
            from bot.booking.sender import NoticeSender

            self._notices = NoticeSender(self.store.engine, self.store, self.outbox)
            self._notices.start()

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


def build_runtime(
    settings: ChannelSettings,
    engine_url: str | None = None,
    handoff: HandoffSettings | None = None,
) -> Runtime:
    """Wire the store, the senders and the outbox for ``settings``."""
    from bot.channels.local import LocalSender

    store = ChannelStore(engine_from_env(engine_url), settings.pseudonym_key)
    senders = {"sms": SmsSender(settings, store), "telegram": TelegramSender(settings, store),
               "local": LocalSender(store)}  # fmt: skip
    return Runtime(settings, store, Outbox(store, senders), handoff or HandoffSettings())


@functools.cache
def runtime_from_env() -> Runtime:
    """One runtime per process, from the environment (called when the first request comes)."""
    return build_runtime(ChannelSettings.from_env(), handoff=HandoffSettings.from_env())
