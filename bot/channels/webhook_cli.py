"""``python -m bot telegram set-webhook|delete-webhook|webhook-info``: Telegram's webhook,
from a shell on the server.

Setting the webhook is the operator's act, done once per deployment, not at every start:
several Rasa instances share one webhook, and a wrong ``PUBLIC_URL`` would send every user's
messages elsewhere. The commands use the settings (``TELEGRAM_BOT_TOKEN``,
``TELEGRAM_WEBHOOK_SECRET``, ``PUBLIC_URL``; ``TELEGRAM_API_BASE_URL`` points them at the
stand-in) and never print the token or the secret.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from telegram import Bot, WebhookInfo
from telegram.error import TelegramError

from bot.channels.clients import telegram_bot
from bot.settings import ChannelSettings, StackSettings, settings_from_env

__all__ = ["ALLOWED_UPDATES", "WEBHOOK_PATH", "add_commands", "info_lines", "webhook_problems"]

Handler = Callable[[argparse.Namespace, StackSettings], int]
Command = Callable[[Bot, ChannelSettings, argparse.Namespace], Awaitable[int]]

WEBHOOK_PATH = "/webhooks/telegram/webhook"  # the Telegram channel's route (credentials.yml)
# What Telegram delivers; anything else (joins, reactions, polls) is never sent to us.
ALLOWED_UPDATES = ("message", "edited_message", "callback_query")
TELEGRAM_PORTS = (443, 80, 88, 8443)  # the only ports Telegram calls a webhook on
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what setWebhook accepts as secret_token


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``telegram`` and its sub-commands to ``python -m bot``'s sub-parsers."""
    parser = commands.add_parser(
        "telegram", help="Telegram's webhook: set-webhook, delete-webhook, webhook-info"
    )
    sub = parser.add_subparsers(dest="telegram_command", required=True)
    sub.add_parser(
        "set-webhook", help=f"point Telegram at $PUBLIC_URL{WEBHOOK_PATH}, with the secret"
    ).set_defaults(func=_set_webhook)
    deleting = sub.add_parser(
        "delete-webhook", help="stop deliveries (Telegram keeps new updates for getUpdates)"
    )
    deleting.add_argument(
        "--drop-pending-updates", action="store_true",
        help="also discard the updates Telegram has not delivered yet",
    )  # fmt: skip
    deleting.set_defaults(func=_delete_webhook)
    sub.add_parser(
        "webhook-info", help="where Telegram delivers, pending updates, its last error"
    ).set_defaults(func=_webhook_info)


def webhook_url(channels: ChannelSettings) -> str:
    """The address Telegram must call: ``PUBLIC_URL`` + the channel's route."""
    return f"{channels.public_url}{WEBHOOK_PATH}"


def webhook_problems(channels: ChannelSettings) -> list[str]:
    """Every reason ``set-webhook`` must refuse, at once, so one edit of ``.env`` fixes all."""
    problems = []
    if not channels.telegram_token:
        problems.append("TELEGRAM_BOT_TOKEN is empty (BotFather gives it)")
    if not channels.telegram_secret:
        problems.append("TELEGRAM_WEBHOOK_SECRET is empty")
    elif not _SECRET.match(channels.telegram_secret):
        problems.append("TELEGRAM_WEBHOOK_SECRET must be 1-256 of A-Z a-z 0-9 _ -")
    address = urlsplit(channels.public_url)
    if address.scheme != "https" or not address.hostname:
        problems.append(
            f"PUBLIC_URL must be an https:// address (Telegram calls only HTTPS webhooks); "
            f"it is {channels.public_url!r}"
        )
    else:
        try:
            port = address.port or 443
        except ValueError:
            port = 0
        if port not in TELEGRAM_PORTS:
            problems.append(f"PUBLIC_URL's port must be one of {TELEGRAM_PORTS} for Telegram")
    return problems


def info_lines(info: WebhookInfo, expected_url: str = "") -> list[str]:
    """What Telegram says about the webhook, for a person: no secret is in it (Telegram
    never returns the secret token)."""
    url = info.url or "(none: no webhook set)"
    if expected_url and info.url and info.url != expected_url:
        url += f"  (this server's is {expected_url})"
    error = "none"
    if info.last_error_message:
        when = f"{info.last_error_date:%Y-%m-%d %H:%M:%S %Z}: " if info.last_error_date else ""
        error = f"{when}{info.last_error_message}"
    allowed = ", ".join(info.allowed_updates) if info.allowed_updates else "Telegram's default"
    return [
        f"url: {url}",
        f"pending updates: {info.pending_update_count}",
        f"last error: {error}",
        f"allowed updates: {allowed}",
    ]


def _reporting(command: str) -> Callable[[Command], Handler]:
    """Run a command with a bot on the configured API; a refusal or an unreachable API is one
    line on stderr (status 1), with the token masked in whatever the error says."""

    def wrap(body: Command) -> Handler:
        def run(args: argparse.Namespace, settings: StackSettings) -> int:
            channels = settings_from_env().channels
            if not channels.telegram_token:
                print(f"telegram {command}: TELEGRAM_BOT_TOKEN is empty.", file=sys.stderr)
                return 2

            async def session() -> int:
                bot = telegram_bot(channels.telegram_token, channels.telegram_api_base_url)
                async with bot:
                    return await body(bot, channels, args)

            try:
                return asyncio.run(session())
            except TelegramError as error:
                text = str(error).replace(channels.telegram_token, "•••")
                if channels.telegram_secret:
                    text = text.replace(channels.telegram_secret, "•••")
                print(f"telegram {command}: {type(error).__name__}: {text}", file=sys.stderr)
                return 1

        run.__doc__ = body.__doc__
        return run

    return wrap


def _set_webhook(args: argparse.Namespace, settings: StackSettings) -> int:
    """``python -m bot telegram set-webhook``: refuses, listing every problem, before any call."""
    problems = webhook_problems(settings_from_env().channels)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        print(f"telegram set-webhook: not set; fix .env:\n{lines}", file=sys.stderr)
        return 2
    return _send_set_webhook(args, settings)


@_reporting("set-webhook")
async def _send_set_webhook(bot: Bot, channels: ChannelSettings, args: argparse.Namespace) -> int:
    """Set it, then show what Telegram now has (the pending updates will come at once)."""
    url = webhook_url(channels)
    await bot.set_webhook(
        url=url,
        secret_token=channels.telegram_secret,
        allowed_updates=list(ALLOWED_UPDATES),
        drop_pending_updates=False,  # updates sent while no webhook was set are not lost
    )
    print(f"Telegram webhook set: {url}")
    print("\n".join(info_lines(await bot.get_webhook_info(), url)))
    return 0


@_reporting("delete-webhook")
async def _delete_webhook(bot: Bot, channels: ChannelSettings, args: argparse.Namespace) -> int:
    """``python -m bot telegram delete-webhook [--drop-pending-updates]``."""
    await bot.delete_webhook(drop_pending_updates=args.drop_pending_updates)
    dropped = " (pending updates dropped)" if args.drop_pending_updates else ""
    print(f"Telegram webhook deleted{dropped}.")
    return 0


@_reporting("webhook-info")
async def _webhook_info(bot: Bot, channels: ChannelSettings, args: argparse.Namespace) -> int:
    """``python -m bot telegram webhook-info``: url, pending updates, last error."""
    expected = webhook_url(channels) if channels.public_url else ""
    print("\n".join(info_lines(await bot.get_webhook_info(), expected)))
    return 0
