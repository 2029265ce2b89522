"""One way to reach a user, whatever her channel: ``await outbox.send(conversation_id, text)``.

The conversation id is a pseudonym; only :class:`~bot.channels.store.ChannelStore` knows the
phone number or Telegram chat behind it. Every outgoing message is a row first (so a failure
is visible and nothing is sent twice by mistake), then a call to the provider. Nothing is
ever sent to an opted-out contact. The handoff and the booking reminders send through here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import Forbidden, RetryAfter, TelegramError
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from bot.channels.clients import telegram_bot, twilio_client
from bot.channels.contacts import ContactView
from bot.channels.store import ChannelStore
from bot.channels.text import numbered, sms_fits, split_text, telegram_fits
from bot.gsm7 import encode
from bot.metrics import SENDS
from bot.settings import ChannelSettings

logger = logging.getLogger(__name__)

TWILIO_UNSUBSCRIBED = 21610  # the number answered STOP to Twilio: never send again
MAX_RETRIES = 3


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


class Sender(Protocol):
    """Sends one reply (text and optional buttons) to one contact of its channel: True when
    the provider took it, False when the recipient refuses everything (STOP, a blocked bot);
    raises when the provider failed (worth a retry)."""

    async def send(self, contact: ContactView, text: str, buttons: Sequence[Button]) -> bool: ...


class SmsSender:
    """Twilio through the official client (async), at ``TWILIO_API_BASE_URL``."""

    def __init__(self, settings: ChannelSettings, store: ChannelStore) -> None:
        self.settings = settings
        self.store = store
        self._client: Client | None = None

    def _twilio(self) -> Client:
        if self._client is None:
            s = self.settings
            self._client = twilio_client(
                s.twilio_account_sid, s.twilio_auth_token, s.twilio_api_base_url
            )
        return self._client

    def status_callback(self) -> str | None:
        base = self.settings.public_url
        return f"{base}/webhooks/sms/status" if base else None

    async def send(self, contact: ContactView, text: str, buttons: Sequence[Button]) -> bool:
        if buttons:
            await asyncio.to_thread(
                self.store.set_buttons, contact.id, [(b.title, b.payload) for b in buttons]
            )
            text = numbered(text, [b.title for b in buttons])
        s = self.settings
        sender = (
            {"from_": s.twilio_from}
            if s.twilio_from
            else {"messaging_service_sid": s.twilio_messaging_service_sid}
        )
        callback = self.status_callback()
        for part in split_text(text, sms_fits):
            encoded = encode(part)
            row = await asyncio.to_thread(
                self.store.record_outbound, contact.id, "sms", encoded.text,
                segments=encoded.segments, encoding=encoded.encoding,
            )  # fmt: skip
            try:
                message = await self._twilio().messages.create_async(
                    to=contact.address, body=encoded.text,
                    **({"status_callback": callback} if callback else {}), **sender,
                )  # fmt: skip
            except TwilioRestException as error:
                code = str(error.code or error.status)
                await asyncio.to_thread(self.store.mark_outbound, row, "failed", error_code=code)
                if error.code == TWILIO_UNSUBSCRIBED:
                    logger.info("SMS contact %s unsubscribed at Twilio: opted out.", contact.id)
                    await asyncio.to_thread(self.store.set_opted_out, contact.id, True)
                    return False
                raise
            await asyncio.to_thread(
                self.store.mark_outbound, row, "queued", provider_id=message.sid
            )
        return True


class Pacer:
    """Telegram's limits: about one message a second per chat and 30 a second overall."""

    def __init__(self, per_chat: float = 1.0, overall_per_s: int = 30) -> None:
        self.per_chat = per_chat
        self.gap = 1.0 / overall_per_s
        self._last_chat: dict[str, float] = {}
        self._last_any = 0.0
        self._lock = asyncio.Lock()

    async def wait(self, chat: str) -> None:
        async with self._lock:
            now = time.monotonic()
            ready = max(self._last_chat.get(chat, 0.0) + self.per_chat, self._last_any + self.gap)
            if ready > now:
                await asyncio.sleep(ready - now)
            now = time.monotonic()
            self._last_chat[chat] = self._last_any = now


class TelegramSender:
    """The Bot API through python-telegram-bot, at ``TELEGRAM_API_BASE_URL``."""

    def __init__(self, settings: ChannelSettings, store: ChannelStore) -> None:
        self.settings = settings
        self.store = store
        self.pacer = Pacer()
        self._bot: Bot | None = None

    def bot(self) -> Bot:
        if self._bot is None:
            self._bot = telegram_bot(
                self.settings.telegram_token, self.settings.telegram_api_base_url
            )
        return self._bot

    async def send(self, contact: ContactView, text: str, buttons: Sequence[Button]) -> bool:
        markup = None
        if buttons:
            await asyncio.to_thread(
                self.store.set_buttons, contact.id, [(b.title, b.payload) for b in buttons]
            )
            # callback_data holds 64 bytes: the position, resolved from the stored buttons.
            markup = InlineKeyboardMarkup(
                [[InlineKeyboardButton(b.title, callback_data=f"b:{i}")]
                 for i, b in enumerate(buttons, start=1)]
            )  # fmt: skip
        parts = split_text(text, telegram_fits) or [""]
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if not await self._send_one(contact, part, markup if last else None):
                return False
        return True

    async def _send_one(
        self, contact: ContactView, text: str, markup: InlineKeyboardMarkup | None
    ) -> bool:
        """False when she blocked the bot; a 429 that outlasts the retries is marked failed
        (the pacer keeps that rare)."""
        row = await asyncio.to_thread(self.store.record_outbound, contact.id, "telegram", text)
        for attempt in range(MAX_RETRIES + 1):
            await self.pacer.wait(contact.address)
            try:
                message = await self.bot().send_message(
                    chat_id=int(contact.address), text=text or "…", reply_markup=markup
                )
            except RetryAfter as error:
                delay = error.retry_after
                seconds = delay.total_seconds() if hasattr(delay, "total_seconds") else delay
                logger.info("Telegram asks to wait %.1f s (attempt %d).", seconds, attempt + 1)
                await asyncio.sleep(float(seconds))
                continue
            except Forbidden:
                # The user blocked the bot: sending again would fail the same way.
                await asyncio.to_thread(self.store.mark_outbound, row, "blocked", error_code="403")
                await asyncio.to_thread(self.store.set_opted_out, contact.id, True)
                return False
            except TelegramError as error:
                await asyncio.to_thread(
                    self.store.mark_outbound, row, "failed", error_code=type(error).__name__[:16]
                )
                raise
            await asyncio.to_thread(
                self.store.mark_outbound, row, "sent", provider_id=str(message.message_id)
            )
            return True
        await asyncio.to_thread(self.store.mark_outbound, row, "failed", error_code="429")
        return True


class Outbox:
    """Sends to a conversation id through the channel of its contact."""

    def __init__(self, store: ChannelStore, senders: dict[str, Sender]) -> None:
        self.store = store
        self.senders = senders

    async def send(self, conversation_id: str, text: str, buttons: Sequence[Button] = ()) -> bool:
        """False when nothing was sent: unknown contact, opted out (also just now, at the
        provider), or no sender. Raises when the provider failed."""
        contact = await asyncio.to_thread(self.store.contact_by_id, conversation_id)
        if contact is None or contact.channel not in self.senders:
            logger.warning("No channel to reach conversation %s.", conversation_id)
            return False
        if contact.opted_out:
            logger.info("Conversation %s opted out: nothing sent.", conversation_id)
            SENDS.labels(contact.channel, "skipped").inc()
            return False
        try:
            sent = await self.senders[contact.channel].send(contact, text, buttons)
        except Exception:
            SENDS.labels(contact.channel, "failed").inc()
            raise
        SENDS.labels(contact.channel, "sent" if sent else "skipped").inc()
        return sent
