"""Telegram without a public URL: long-poll ``getUpdates`` and post each update to our webhook.

For development and small pilots where nothing can reach the assistant from the internet.
Every update takes the same path as in production (secret header, ``Update.de_json``,
storage, de-duplication by ``update_id``), so polling tests the real webhook code, and an
update is confirmed to Telegram (the next ``offset``) only once our webhook accepted it:
a stopped Rasa server loses nothing, Telegram keeps the updates until it is back.

Run it beside the Rasa server: ``make telegram-poll`` (``python -m bot telegram-poll``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

import httpx
from telegram.error import Conflict, InvalidToken, NetworkError, TimedOut

from bot.channels.clients import telegram_bot
from bot.settings import ChannelSettings

logger = logging.getLogger(__name__)

# What the assistant reads: messages and button presses (edits and the rest are not asked for).
ALLOWED_UPDATES = ["message", "callback_query"]
LONG_POLL_S = 25  # seconds Telegram holds a getUpdates call open while nothing comes
RETRY_S = 3.0  # wait after a network failure or while our webhook is down


class PollingError(RuntimeError):
    """Polling cannot go on: wrong token, wrong secret, or another poller/webhook is active."""


@dataclass
class PollStats:
    forwarded: int = 0
    refused: int = 0  # our webhook answered 4xx (malformed): confirmed anyway, never retried


async def forward(client: httpx.AsyncClient, url: str, secret: str, update: dict[str, Any]) -> int:
    """POST one update to the webhook as Telegram would; its HTTP status (0 when unreachable)."""
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
    try:
        answer = await client.post(url, json=update, headers=headers)
    except httpx.HTTPError:
        return 0
    return answer.status_code


async def poll(
    settings: ChannelSettings,
    webhook_url: str,
    *,
    stop: asyncio.Event | None = None,
    long_poll_s: int = LONG_POLL_S,
    retry_s: float = RETRY_S,
) -> PollStats:
    """Forward updates until ``stop`` is set; raises :class:`PollingError` on a fatal refusal."""
    if not settings.telegram_ready:
        raise PollingError(
            "Telegram is not configured: set TELEGRAM_BOT_TOKEN, TELEGRAM_WEBHOOK_SECRET and "
            "PSEUDONYM_KEY (see .env.example)."
        )
    stop = stop or asyncio.Event()
    stats = PollStats()
    bot = telegram_bot(settings.telegram_token, settings.telegram_api_base_url)
    offset: int | None = None
    try:
        async with bot, httpx.AsyncClient(timeout=30.0) as client:
            # getUpdates is refused while a webhook is set; polling replaces it.
            await bot.delete_webhook(drop_pending_updates=False)
            logger.info("Polling Telegram; updates go to the local webhook.")
            while not stop.is_set():
                try:
                    updates = await bot.get_updates(
                        offset=offset, timeout=long_poll_s, allowed_updates=ALLOWED_UPDATES
                    )
                except TimedOut:
                    continue
                except Conflict as error:
                    raise PollingError(
                        "Another poller or a webhook is using this bot token."
                    ) from error
                except NetworkError as error:
                    logger.warning("getUpdates failed (%s); retrying.", type(error).__name__)
                    await _pause(stop, retry_s)
                    continue
                for update in updates:
                    status = await forward(
                        client, webhook_url, settings.telegram_secret, update.to_dict()
                    )
                    if status == 403:
                        raise PollingError(
                            "The webhook refused the secret: TELEGRAM_WEBHOOK_SECRET differs "
                            "between this process and the Rasa server."
                        )
                    if status == 0 or status >= 500:
                        logger.warning("The webhook is unavailable (%s); retrying.", status)
                        await _pause(stop, retry_s)
                        break  # not confirmed: the same update comes again
                    if 200 <= status < 300:
                        stats.forwarded += 1
                    else:
                        stats.refused += 1
                    offset = update.update_id + 1
    except InvalidToken as error:
        raise PollingError("Telegram refused TELEGRAM_BOT_TOKEN.") from error
    finally:
        if offset is not None:
            await _confirm(settings, offset)
    return stats


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)


async def _confirm(settings: ChannelSettings, offset: int) -> None:
    """Tell Telegram which updates were handled, so a restart does not fetch them again.

    (Our webhook would ignore them anyway: ``update_id`` is stored.)"""
    bot = telegram_bot(settings.telegram_token, settings.telegram_api_base_url)
    try:
        async with bot:
            await bot.get_updates(offset=offset, timeout=0, limit=1)
    except Exception as error:  # best effort at shutdown
        logger.info("Could not confirm the last updates (%s).", type(error).__name__)
