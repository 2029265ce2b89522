"""SMS over Twilio: ``POST /webhooks/sms/webhook`` (messages) and ``/webhooks/sms/status``.

Why not Rasa's Twilio channel (FACTS.md): it checks no signature, turns "¡" into "@", loses
media-only messages with a 500, and answers Twilio only after the whole turn. Here every
request is signed-checked against the public URL, stored, acknowledged with an empty TwiML
answer at once, and the turn runs afterwards; replies go out through the REST API
(:class:`~bot.channels.outbound.SmsSender`), folded to GSM-7 and cut into one-segment parts.

Opt-out is ours in three languages (:mod:`bot.channels.optout`): STOP and its words stop
every message (and end a handoff in progress), START resumes, HELP first says how to stop,
then goes through the turn like any text: a cry for help must still reach the safety check.
A registered counsellor's messages never get here: they are her console's first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from rasa.core.channels.channel import UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from twilio.request_validator import RequestValidator

from bot.channels.base import ProviderInput
from bot.channels.contacts import ContactView
from bot.channels.inbound import Inbound, server_timing
from bot.channels.optout import HELP_WORDS, START_WORDS, STOP_WORDS, keyword
from bot.countries import country_of_phone
from bot.i18n import N_, Translator

logger = logging.getLogger(__name__)

CHANNEL = "sms"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
OPTED_OUT = N_("channel.opted_out")
OPTED_IN = N_("channel.opted_in")
HOW_TO_STOP = N_("channel.how_to_stop")
def media_kind(params: dict[str, str]) -> str:
    count = int(params.get("NumMedia") or 0) if (params.get("NumMedia") or "0").isdigit() else 0
    types = [params.get(f"MediaContentType{i}", "") for i in range(count)]
    if any(t.startswith("audio/") for t in types):
        return "voice"
    return "media" if types else "empty"


class SmsInput(ProviderInput):
    """Rasa loads it as ``bot.runtime.SmsChannel`` (``credentials.yml``), with its services."""

    channel = CHANNEL

    @property
    def ready(self) -> bool:
        return self.runtime.settings.sms_ready

    def public_url(self, request: Request) -> str:
        """The URL Twilio signed: configured, or rebuilt behind a trusted proxy."""
        settings = self.runtime.settings
        query = f"?{request.query_string}" if request.query_string else ""
        if settings.public_url:
            return f"{settings.public_url}{request.path}{query}"
        if settings.trust_proxy:
            proto = request.headers.get("x-forwarded-proto", request.scheme).split(",")[0]
            host = request.headers.get("x-forwarded-host", request.host).split(",")[0]
            return f"{proto.strip()}://{host.strip()}{request.path}{query}"
        return request.url

    def _checked_params(self, request: Request) -> dict[str, str] | HTTPResponse:
        """The form parameters of a genuine Twilio request, or the answer to refuse it."""
        settings = self.runtime.settings
        if not settings.sms_ready:
            return response.text("SMS channel not configured", status=503)
        if len(request.body or b"") > settings.max_body_bytes:
            return response.text("too large", status=413)
        try:
            params = dict(parse_qsl(request.body.decode("utf-8"), keep_blank_values=True))
        except (UnicodeDecodeError, ValueError):
            return response.text("bad request", status=400)
        signature = request.headers.get("x-twilio-signature", "")
        validator = RequestValidator(settings.twilio_auth_token)
        if not signature or not validator.validate(self.public_url(request), params, signature):
            logger.warning("Refused an SMS webhook call with a missing or wrong signature.")
            return response.text("forbidden", status=403)
        return params

    async def _keyword(self, contact: ContactView, inbound: Inbound) -> bool:
        """Opt-out and opt-in words, handled before anything else: True when handled."""
        word = keyword(inbound.text)
        store, runner = self.runtime.store, self.runner()
        if word in STOP_WORDS:
            if not contact.opted_out:
                language = STOP_WORDS[word] or runner.language_of(contact)
                # The one confirmation a stop request gets; nothing after it.
                await self.runtime.outbox.send(contact.id, Translator(language)(OPTED_OUT))
                await asyncio.to_thread(store.set_opted_out, contact.id, True)
                await self.runtime.gate.opted_out(contact)
            return True
        if word in START_WORDS and contact.opted_out:
            await asyncio.to_thread(store.set_opted_out, contact.id, False)
            language = START_WORDS[word] or runner.language_of(contact)
            await self.runtime.outbox.send(contact.id, Translator(language)(OPTED_IN))
            return True
        if word in HELP_WORDS and not contact.opted_out:
            # Carriers expect HELP to say how to stop; the words still go through the turn.
            language = HELP_WORDS[word] or runner.language_of(contact)
            await self.runtime.outbox.send(contact.id, Translator(language)(HOW_TO_STOP))
        return False

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = self.new_blueprint(on_new_message, self._keyword)

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            started = time.perf_counter()
            params = self._checked_params(request)
            if isinstance(params, HTTPResponse):
                return params
            sid, phone = params.get("MessageSid", ""), params.get("From", "")
            if not sid or not phone:
                return response.text("bad request", status=400)
            body = params.get("Body", "")
            inbound = Inbound(
                channel=CHANNEL, provider_id=sid, address=phone,
                kind="text" if body.strip() else media_kind(params), text=body,
                country=country_of_phone(phone),
            )  # fmt: skip
            await self.runner().accept(
                inbound, on_new_message, getattr(request.app.ctx, "agent", None),
                keyword=self._keyword,
            )  # fmt: skip
            return server_timing(response.text(EMPTY_TWIML, content_type="text/xml"), started)

        @hook.route("/status", methods=["POST"])
        async def status(request: Request) -> HTTPResponse:
            params = self._checked_params(request)
            if isinstance(params, HTTPResponse):
                return params
            sid, state = params.get("MessageSid", ""), params.get("MessageStatus", "")
            if not sid or not state:
                return response.text("bad request", status=400)
            await self.runtime.record_sms_status(sid, state, params.get("ErrorCode") or None)
            return response.empty()

        return hook
