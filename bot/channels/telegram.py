"""Telegram through python-telegram-bot 22: ``POST /webhooks/telegram/webhook``.

Why not Rasa's Telegram channel (FACTS.md): it exits when the Bot API is unreachable at
start, cannot send from the HTTP API, checks no secret token, drops voice and photos, and
puts everyone of a group in one conversation. Here the secret token is checked, updates are
parsed with ``Update.de_json``, stored (``update_id`` de-duplicates, also after a restart)
and acknowledged at once; only private chats reach the assistant (group updates belong to
the counsellors' console). Buttons are inline keyboards whose callback data is the button's
position, resolved from the stored buttons (Telegram allows 64 bytes of callback data).
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from telegram import Update

from bot.channels.base import ProviderInput
from bot.channels.inbound import HELP_PAYLOAD, Inbound, server_timing
from bot.menu import option_payload

logger = logging.getLogger(__name__)

CHANNEL = "telegram"
# Commands a user may type; anything else that starts with "/" gets the help.
COMMANDS = {
    "start": "/greet",
    "help": HELP_PAYLOAD,
    "aide": HELP_PAYLOAD,
    "ayuda": HELP_PAYLOAD,
    "language": option_payload("main", "menu.language"),
}
COMMANDS["langue"] = COMMANDS["idioma"] = COMMANDS["kan"] = COMMANDS["language"]
MEDIA_FIELDS = {
    "photo": "media", "video": "media", "document": "media", "animation": "media",
    "video_note": "media", "voice": "voice", "audio": "voice", "sticker": "sticker",
    "location": "location", "venue": "location", "contact": "other", "poll": "other",
}  # fmt: skip


def command_payload(text: str) -> str:
    """``/start@SanteJeunesBot payload`` -> ``/greet``; unknown commands -> the help."""
    name = text[1:].split(maxsplit=1)[0].split("@", 1)[0].lower() if len(text) > 1 else ""
    return COMMANDS.get(name, HELP_PAYLOAD)


def inbound_from_update(update: Any, staff_chat: int | None = None) -> Inbound | None:
    """What the assistant should handle in ``update``; None when it is not for the assistant
    (groups, channels, edits, service messages). Messages in the counsellors' staff group
    (``staff_chat``) come back as kind "staff", from the counsellor's user id, with their
    forum topic."""
    provider_id = str(update.update_id)
    message = update.message
    if staff_chat is not None and message is not None and message.chat.id == staff_chat:
        if message.from_user is None or message.from_user.is_bot:
            return None
        thread = message.message_thread_id if message.is_topic_message else None
        # The topic rides in the stored id (still unique per update), so that a restart can
        # relay a counsellor's message accepted just before it (bot.channels.inbound).
        return Inbound(CHANNEL, f"{provider_id}:{thread}" if thread else provider_id,
                       str(message.from_user.id), "staff",
                       text=message.text or message.caption or "", thread=thread)
    query = update.callback_query
    if query is not None:
        chat = query.message.chat if query.message else None
        if chat is None or chat.type != "private":
            return None
        data = query.data or ""
        position = int(data[2:]) if data.startswith("b:") and data[2:].isdigit() else None
        return Inbound(CHANNEL, provider_id, str(chat.id), "callback", button=position,
                       payload=None if position else HELP_PAYLOAD)  # fmt: skip
    if message is None or message.chat.type != "private":
        return None
    address = str(message.chat.id)
    text = message.text or message.caption  # a photo with a caption still carries words
    if message.text and message.text.startswith("/"):
        command, _, words = message.text.strip().partition(" ")
        if words.strip() and command_payload(command) != COMMANDS["start"]:
            # "/aide je veux mourir": her words are the message (the safety check reads
            # them); a command alone is the command. /start's words are a deep-link code.
            return Inbound(CHANNEL, provider_id, address, "text", text=words.strip())
        return Inbound(CHANNEL, provider_id, address, "command", text=message.text,
                       payload=command_payload(message.text))  # fmt: skip
    kind = (
        "text"
        if message.text
        else next((k for f, k in MEDIA_FIELDS.items() if getattr(message, f, None)), "other")
    )
    return Inbound(CHANNEL, provider_id, address, kind, text=text)


class TelegramInput(ProviderInput):
    """Rasa loads it as ``bot.runtime.TelegramChannel`` (``credentials.yml``), with its services."""

    channel = CHANNEL

    @property
    def ready(self) -> bool:
        return self.runtime.settings.telegram_ready

    def _sender(self) -> Any:
        return self.runtime.outbox.senders[CHANNEL]

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = self.new_blueprint(on_new_message, self._unblocked)

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            started = time.perf_counter()
            settings = self.runtime.settings
            if not settings.telegram_ready:
                return response.text("Telegram channel not configured", status=503)
            token = request.headers.get("x-telegram-bot-api-secret-token", "")
            if not hmac.compare_digest(token.encode(), settings.telegram_secret.encode()):
                logger.warning("Refused a Telegram webhook call with a wrong secret token.")
                return response.text("forbidden", status=403)
            if len(request.body or b"") > settings.max_body_bytes:
                return response.text("too large", status=413)
            try:
                data = json.loads(request.body or b"")
                update = Update.de_json(data, self._sender().bot())
                staff = self.runtime.staff_chat_id
                inbound = inbound_from_update(update, staff) if update else None
            except (ValueError, TypeError, KeyError, AttributeError):
                return response.text("bad request", status=400)
            if inbound is None:
                return response.empty()  # not for the assistant: acknowledged, nothing sent
            if update.callback_query is not None:
                self._answer_callback(update.callback_query.id)
            await self.runner().accept(
                inbound, on_new_message, getattr(request.app.ctx, "agent", None),
                keyword=self._unblocked,
            )  # fmt: skip
            return server_timing(response.empty(), started)

        return hook

    async def _unblocked(self, contact: Any, inbound: Inbound) -> bool:
        """On Telegram, blocking the bot is the only opt-out: writing again undoes it."""
        if contact.opted_out:
            await asyncio.to_thread(self.runtime.store.set_opted_out, contact.id, False)
        return False

    def _answer_callback(self, query_id: str) -> None:
        """Stop the button's spinner, without holding the webhook's answer."""

        async def answer() -> None:
            try:
                await self._sender().bot().answer_callback_query(query_id)
            except Exception as error:
                logger.info("answerCallbackQuery failed (%s).", type(error).__name__)

        runner = self.runner()
        task = asyncio.create_task(answer())
        runner.tasks.add(task)
        task.add_done_callback(runner.tasks.discard)
