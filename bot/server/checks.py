"""What ``make serve`` refuses to start with: every missing or weak production setting, all
listed at once (an operator fixes them in one go, not one restart at a time).

The local run (``make run``) checks none of this: it has its own defaults and no account.
"""

from __future__ import annotations

import re
import urllib.parse

from bot.db.crypto import Keyring
from bot.server.stores import REDIS_SCHEMES
from bot.settings import Settings

MIN_KEY_BYTES = 32
MIN_TOKEN_CHARS = 32
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_TELEGRAM_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def _https(name: str, url: str, *, loopback_ok: bool = False) -> str | None:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return None
    if loopback_ok and parts.scheme == "http" and parts.hostname in LOOPBACK:
        return None  # a local stand-in (tests, a staging host without the provider)
    return f"{name} must be an https:// address (it is {parts.scheme or 'not'} set)"


def _channel_problems(settings: Settings) -> list[str]:
    ch = settings.channels
    problems: list[str] = []
    sms = {"TWILIO_ACCOUNT_SID": ch.twilio_account_sid, "TWILIO_AUTH_TOKEN": ch.twilio_auth_token,
           "TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID":
           ch.twilio_from or ch.twilio_messaging_service_sid}  # fmt: skip
    telegram = {"TELEGRAM_BOT_TOKEN": ch.telegram_token,
                "TELEGRAM_WEBHOOK_SECRET": ch.telegram_secret}  # fmt: skip
    enabled = [(name, needs) for name, needs in (("SMS", sms), ("Telegram", telegram))
               if any(needs.values())]  # fmt: skip
    if not enabled:
        problems.append("no channel is enabled: set the Twilio (TWILIO_*) or Telegram "
                        "(TELEGRAM_*) settings")  # fmt: skip
    for name, needs in enabled:
        problems += [f"{setting} is missing ({name} is enabled)"
                     for setting, value in needs.items() if not value]  # fmt: skip
    if any(sms.values()):
        problem = _https("TWILIO_API_BASE_URL", ch.twilio_api_base_url, loopback_ok=True)
        problems += [problem] if problem else []
    if any(telegram.values()):
        if ch.telegram_secret and not _TELEGRAM_SECRET.match(ch.telegram_secret):
            problems.append("TELEGRAM_WEBHOOK_SECRET may only hold A-Z a-z 0-9 _ - (1-256)")
        elif ch.telegram_secret and len(ch.telegram_secret) < 16:
            problems.append("TELEGRAM_WEBHOOK_SECRET is too short (at least 16 characters)")
        problem = _https("TELEGRAM_API_BASE_URL", ch.telegram_api_base_url, loopback_ok=True)
        problems += [problem] if problem else []
    return problems


def problems(settings: Settings, instances: int = 1) -> list[str]:
    """Every reason not to serve real users with ``settings`` and ``instances`` Rasa
    processes on this host (empty: good to go). Names settings, never their values."""
    ch, serve = settings.channels, settings.serve
    found: list[str] = []
    if not ch.pseudonym_key:
        found.append("PSEUDONYM_KEY is missing")
    elif len(ch.pseudonym_key) < MIN_KEY_BYTES:
        found.append(f"PSEUDONYM_KEY is too weak ({len(ch.pseudonym_key)} bytes, at least "
                     f"{MIN_KEY_BYTES})")  # fmt: skip
    found += _data_key_problems(settings)
    problem = _https("PUBLIC_URL", ch.public_url)
    found += [problem] if problem else []
    if not settings.database_url:
        found.append("DATABASE_URL is missing (production keeps its data in PostgreSQL)")
    if serve.api_token and len(serve.api_token) < MIN_TOKEN_CHARS:
        found.append(f"RASA_API_TOKEN is too weak (at least {MIN_TOKEN_CHARS} characters; "
                     "leave it empty to keep the HTTP API off)")  # fmt: skip
    if not settings.stack.model.is_file():
        found.append(f"MODEL_PATH: no model at {settings.stack.model} (run `make train`)")
    found += _channel_problems(settings)
    if instances > 1 or serve.instance_id:
        found += _scale_out_problems(settings)
    if instances < 1:
        found.append("--instances must be at least 1")
    return found


def _data_key_problems(settings: Settings) -> list[str]:
    """Addresses and texts of minors are never stored in plaintext in production."""
    keys = settings.privacy.data_keys
    if not keys:
        return ["DATA_KEYS is missing (it encrypts addresses and message texts at rest; "
                "`python -m bot privacy new-key` makes one)"]  # fmt: skip
    try:
        Keyring(keys)
    except ValueError as error:  # names the setting and the key's position, never a key
        return [str(error)]
    return []


def _scale_out_problems(settings: Settings) -> list[str]:
    """Several instances share everything: no SQLite file, no lock in one process's memory."""
    found: list[str] = []
    serve = settings.serve
    if settings.database_url.startswith("sqlite"):
        found.append("DATABASE_URL is a SQLite file: several instances need PostgreSQL")
    if not serve.tracker_store_url or serve.tracker_store_url.startswith("sqlite"):
        found.append("TRACKER_STORE_URL must be PostgreSQL for several instances (it is "
                     "the SQLite file)")  # fmt: skip
    if urllib.parse.urlsplit(serve.lock_store_url).scheme not in REDIS_SCHEMES:
        found.append("LOCK_STORE_URL must be redis://... for several instances (the "
                     "in-memory lock store locks one process only)")  # fmt: skip
    return found
