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

from rasa.core.channels.channel import OutputChannel

from bot.channels.config import ChannelSettings
from bot.channels.inbound import TurnRunner
from bot.channels.outbound import TWILIO_UNSUBSCRIBED, Outbox, SmsSender, TelegramSender
from bot.channels.store import ChannelStore
from bot.storage import engine_from_env

logger = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: ChannelSettings
    store: ChannelStore
    outbox: Outbox
    runners: dict[str, TurnRunner] = field(default_factory=dict)

    def runner(self, channel: str, output: Callable[[], OutputChannel]) -> TurnRunner:
        if channel not in self.runners:
            self.runners[channel] = TurnRunner(
                channel, self.settings, self.store, self.outbox, output
            )
        return self.runners[channel]

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


def build_runtime(settings: ChannelSettings, engine_url: str | None = None) -> Runtime:
    """Wire the store, the senders and the outbox for ``settings``."""
    store = ChannelStore(engine_from_env(engine_url), settings.pseudonym_key)
    senders = {"sms": SmsSender(settings, store), "telegram": TelegramSender(settings, store)}
    return Runtime(settings, store, Outbox(store, senders))


@functools.cache
def runtime_from_env() -> Runtime:
    """One runtime per process, from the environment (called when the first request comes)."""
    return build_runtime(ChannelSettings.from_env())
