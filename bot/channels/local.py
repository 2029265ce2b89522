"""The local channel: ``make run``'s terminal chat and the local counsellor console.

It goes through the same turn runner as SMS and Telegram (stored first, ordered, the
handoff's gate), so a newcomer can try everything on one machine with no account: a user
in one terminal, ``make counsellor`` in another. Replies are rows that the terminal reads
with ``GET /webhooks/local/messages``; buttons become the numbered list an SMS user sees.
Off unless ``LOCAL_CHANNEL`` is set (``make run`` sets it), and loopback only.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from rasa.core.channels.channel import UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels.base import ProviderInput
from bot.channels.contacts import ContactView
from bot.channels.inbound import Inbound, server_timing
from bot.channels.store import ChannelStore
from bot.channels.text import numbered

CHANNEL = "local"
LOOPBACK = {"127.0.0.1", "::1"}
MAX_NAME = 64


class LocalSender:
    """Keeps each reply as a sent row: the terminal polls them."""

    def __init__(self, store: ChannelStore) -> None:
        self.store = store

    async def send(self, contact: ContactView, text: str, buttons: Sequence[Any]) -> bool:
        if buttons:
            await asyncio.to_thread(
                self.store.set_buttons, contact.id, [(b.title, b.payload) for b in buttons]
            )
            text = numbered(text, [b.title for b in buttons])
        row = await asyncio.to_thread(self.store.record_outbound, contact.id, CHANNEL, text)
        await asyncio.to_thread(self.store.mark_outbound, row, "sent")
        return True


class LocalInput(ProviderInput):
    """Rasa loads it as ``bot.runtime.LocalChannel`` (``credentials.yml``), with its services."""

    channel = CHANNEL

    @property
    def ready(self) -> bool:
        return self.runtime.settings.local_ready

    def _refused(self, request: Request) -> HTTPResponse | None:
        if not self.ready:
            return response.text("local channel off (LOCAL_CHANNEL)", status=503)
        if request.ip not in LOOPBACK:
            return response.text("forbidden", status=403)
        return None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = self.new_blueprint(on_new_message)

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            started = time.perf_counter()
            refused = self._refused(request)
            if refused is not None:
                return refused
            try:
                body = json.loads(request.body or b"")
                sender = str(body["sender"])[:MAX_NAME]
                text = str(body.get("text") or "")
            except (ValueError, KeyError, TypeError):
                return response.text("bad request", status=400)
            message_id = str(body.get("id") or uuid.uuid4().hex)[:64]
            inbound = Inbound(CHANNEL, message_id, sender, "text" if text.strip() else "empty",
                              text=text)  # fmt: skip
            await self.runner().accept(
                inbound, on_new_message, getattr(request.app.ctx, "agent", None)
            )
            contact = await asyncio.to_thread(self.runtime.store.pseudonym, CHANNEL, sender)
            return server_timing(response.json({"conversation": contact}), started)

        @hook.route("/messages", methods=["GET"])
        async def messages(request: Request) -> HTTPResponse:
            refused = self._refused(request)
            if refused is not None:
                return refused
            sender = (request.args.get("sender") or "")[:MAX_NAME]
            after = request.args.get("after") or "0"
            if not sender or not after.isdigit():
                return response.text("bad request", status=400)
            store = self.runtime.store
            rows = await asyncio.to_thread(
                store.outbound_after, store.pseudonym(CHANNEL, sender), int(after)
            )
            return response.json({"messages": [{"id": i, "text": t} for i, t in rows]})

        return hook
