"""The whole stack with the SMS and Telegram channels wired to local stand-ins.

Used by ``python -m bot phone`` (a newcomer texts the assistant as an SMS user would, with
no Twilio account) and by the channel benchmark. Secrets here are throwaway values for the
stand-ins; nothing leaves the machine.
"""

from __future__ import annotations

import json
import re
import socket
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twilio.request_validator import RequestValidator

from bot import PROJECT_ROOT
from bot.launcher import LocalStack
from bot.settings import StackSettings
from bot.standins.telegram import TelegramStandIn
from bot.standins.twilio import TwilioStandIn

ENV = {
    "PSEUDONYM_KEY": "sandbox-pseudonym-key",
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    "TWILIO_AUTH_TOKEN": "sandbox-twilio-token",
    "TWILIO_FROM_NUMBER": "+15005550006",
    "TELEGRAM_BOT_TOKEN": "654321:sandbox-token",
    "TELEGRAM_WEBHOOK_SECRET": "sandbox-secret",
    # The counsellor handoff: fictional counsellors always on duty, a staff supergroup.
    "COUNSELLORS_FILE": str(PROJECT_ROOT / "bot" / "handoff" / "counsellors.sandbox.yml"),
    "TELEGRAM_STAFF_CHAT_ID": "-1001234567890",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, float, float | None]:
    """POST ``body``: the HTTP status, how long the answer took as the client saw it
    (seconds), and the server's own time from its ``Server-Timing`` header (ms), if any."""
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            answer.read()
            status, timing = answer.status, answer.headers.get("Server-Timing", "")
    except urllib.error.HTTPError as error:
        status, timing = error.code, ""
    seconds = time.perf_counter() - start
    found = re.search(r"dur=([0-9.]+)", timing)
    return status, seconds, float(found.group(1)) if found else None


@dataclass
class Sandbox:
    stack: LocalStack
    twilio: TwilioStandIn
    telegram: TelegramStandIn
    env: dict[str, str]  # the channel secrets the stack runs with

    @property
    def sms_url(self) -> str:
        return f"{self.stack.settings.rasa_url}/webhooks/sms/webhook"

    @property
    def telegram_url(self) -> str:
        return f"{self.stack.settings.rasa_url}/webhooks/telegram/webhook"

    def sms_request(
        self, phone: str, text: str, media: str | None = None
    ) -> tuple[str, bytes, dict[str, str]]:
        """A Twilio webhook request for an SMS from ``phone`` (an MMS with ``media``, a
        content type such as ``image/jpeg``), signed as Twilio signs it."""
        params = {
            "MessageSid": "SM" + uuid.uuid4().hex,
            "AccountSid": self.env["TWILIO_ACCOUNT_SID"],
            "From": phone,
            "To": self.env["TWILIO_FROM_NUMBER"],
            "Body": text,
            "NumMedia": "1" if media else "0",
        }
        if media:
            params["MediaContentType0"] = media
            params["MediaUrl0"] = "https://api.twilio.com/media/ME0"
        signature = RequestValidator(self.env["TWILIO_AUTH_TOKEN"]).compute_signature(
            self.sms_url, params
        )
        headers = {"X-Twilio-Signature": signature,
                   "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
        return self.sms_url, urllib.parse.urlencode(params).encode(), headers

    def telegram_request(
        self, chat: int, update_id: int, text: str
    ) -> tuple[str, bytes, dict[str, str]]:
        """A Bot API update for a private-chat message, with the webhook's secret header."""
        update: dict[str, Any] = {"update_id": update_id, "message": {
            "message_id": update_id, "date": int(time.time()), "text": text,
            "chat": {"id": chat, "type": "private"},
            "from": {"id": chat, "is_bot": False, "first_name": "Awa"}}}  # fmt: skip
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.env["TELEGRAM_WEBHOOK_SECRET"],
                   "Content-Type": "application/json"}  # fmt: skip
        return self.telegram_url, json.dumps(update).encode(), headers

    def staff_request(
        self, user: int, update_id: int, chat: int, thread: int, text: str
    ) -> tuple[str, bytes, dict[str, str]]:
        """A counsellor's message in a forum topic of the staff supergroup."""
        update: dict[str, Any] = {"update_id": update_id, "message": {
            "message_id": update_id, "date": int(time.time()), "text": text,
            "message_thread_id": thread, "is_topic_message": True,
            "chat": {"id": chat, "type": "supergroup", "is_forum": True, "title": "Staff"},
            "from": {"id": user, "is_bot": False, "first_name": "Counsellor"}}}  # fmt: skip
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.env["TELEGRAM_WEBHOOK_SECRET"],
                   "Content-Type": "application/json"}  # fmt: skip
        return self.telegram_url, json.dumps(update).encode(), headers

    def sms_to(self, phone: str) -> list[str]:
        return [m["body"] for m in self.twilio.messages if m["to"] == phone]


@contextmanager
def channel_stack(
    model: Path, var_dir: Path, twilio: TwilioStandIn, telegram: TelegramStandIn, **env: str
) -> Iterator[Sandbox]:
    """The stack (state in ``var_dir``) with both channels pointed at running stand-ins;
    ``env`` overrides the sandbox secrets and settings."""
    settings = StackSettings(rasa_port=free_port(), action_port=free_port(), var_dir=var_dir,
                        model=model, tracker_db=var_dir / "tracker.db")  # fmt: skip
    full = {**ENV, "PUBLIC_URL": settings.rasa_url, "TWILIO_API_BASE_URL": twilio.base_url,
            "TELEGRAM_API_BASE_URL": telegram.base_url, **env}  # fmt: skip
    with LocalStack(settings, env=full) as stack:
        yield Sandbox(stack, twilio, telegram, full)


@contextmanager
def sandbox(model: Path, var_dir: Path | None = None, **env: str) -> Iterator[Sandbox]:
    """Stand-ins and the stack (its own temp state unless ``var_dir``), stopped on exit."""
    var = var_dir or Path(tempfile.mkdtemp(prefix="sandbox-"))
    twilio = TwilioStandIn(ENV["TWILIO_ACCOUNT_SID"], ENV["TWILIO_AUTH_TOKEN"])
    telegram = TelegramStandIn(ENV["TELEGRAM_BOT_TOKEN"])
    with twilio, telegram, channel_stack(model, var, twilio, telegram, **env) as box:
        yield box
