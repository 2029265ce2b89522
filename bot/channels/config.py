"""What the SMS and Telegram channels need from the environment (see ``.env.example``).

Secrets (Twilio auth token, Telegram bot token and webhook secret, the pseudonym key) come
only from the environment. A channel whose secrets are missing stays registered but answers
503 and processes nothing, so the local run needs no outside account.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

# Twilio's default address; the stand-in's address replaces it in tests and local runs.
TWILIO_DEFAULT_API = "https://api.twilio.com"
TELEGRAM_DEFAULT_API = "https://api.telegram.org"


@dataclass(frozen=True)
class ChannelSettings:
    """Read once per process by :meth:`from_env`; passed to the channels and the outbox."""

    pseudonym_key: bytes = b""
    public_url: str = ""  # the address Twilio calls, e.g. https://sante.example.org
    trust_proxy: bool = False  # rebuild the public URL from X-Forwarded-* headers
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from: str = ""  # a number, or empty when a messaging service sends
    twilio_messaging_service_sid: str = ""
    twilio_api_base_url: str = TWILIO_DEFAULT_API
    telegram_token: str = ""
    telegram_secret: str = ""
    telegram_api_base_url: str = TELEGRAM_DEFAULT_API
    rate_limit: int = 20  # messages a sender may send per window before we stop answering
    rate_window: timedelta = timedelta(minutes=10)
    max_body_bytes: int = 64 * 1024  # a webhook body larger than this is refused (413)
    turn_concurrency: int = 8  # turns running at once in one process: keeps webhooks fast
    local_channel: bool = False  # the terminal chat and local console of `make run` (loopback)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ChannelSettings:
        env = os.environ if environ is None else environ
        return cls(
            pseudonym_key=env.get("PSEUDONYM_KEY", "").encode(),
            public_url=env.get("PUBLIC_URL", "").rstrip("/"),
            trust_proxy=env.get("TRUST_PROXY", "").lower() in {"1", "true", "yes"},
            twilio_account_sid=env.get("TWILIO_ACCOUNT_SID", ""),
            twilio_auth_token=env.get("TWILIO_AUTH_TOKEN", ""),
            twilio_from=env.get("TWILIO_FROM_NUMBER", ""),
            twilio_messaging_service_sid=env.get("TWILIO_MESSAGING_SERVICE_SID", ""),
            twilio_api_base_url=env.get("TWILIO_API_BASE_URL") or TWILIO_DEFAULT_API,
            telegram_token=env.get("TELEGRAM_BOT_TOKEN", ""),
            telegram_secret=env.get("TELEGRAM_WEBHOOK_SECRET", ""),
            telegram_api_base_url=env.get("TELEGRAM_API_BASE_URL") or TELEGRAM_DEFAULT_API,
            rate_limit=int(env.get("RATE_LIMIT_MESSAGES", cls.rate_limit)),
            rate_window=timedelta(
                seconds=int(env.get("RATE_LIMIT_WINDOW_S", cls.rate_window.total_seconds()))
            ),
            turn_concurrency=int(env.get("TURN_CONCURRENCY", cls.turn_concurrency)),
            local_channel=env.get("LOCAL_CHANNEL", "").lower() in {"1", "true", "yes"},
        )

    @property
    def sms_ready(self) -> bool:
        """Every secret SMS needs is set (a sender number or a messaging service too)."""
        return bool(
            self.pseudonym_key
            and self.twilio_account_sid
            and self.twilio_auth_token
            and (self.twilio_from or self.twilio_messaging_service_sid)
        )

    @property
    def local_ready(self) -> bool:
        return bool(self.pseudonym_key and self.local_channel)

    @property
    def telegram_ready(self) -> bool:
        return bool(self.pseudonym_key and self.telegram_token and self.telegram_secret)
