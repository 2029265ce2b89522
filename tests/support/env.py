"""The test environment: the sandbox's channel secrets, the staff group, and the local
PostgreSQL (tests that need it are skipped, with the reason, when nothing listens there)."""

from __future__ import annotations

import functools
import os
import socket

import pytest
from sqlalchemy.engine import make_url

from bot.channels.sandbox import ENV as SANDBOX_ENV

# Test secrets of the SMS and Telegram channels (nothing real: the APIs are stand-ins), as
# `python -m bot phone` uses them, with a low rate limit to test it.
CHANNEL_ENV = {**SANDBOX_ENV, "RATE_LIMIT_MESSAGES": "8"}


# The counsellor handoff of the test stack (the sandbox's): four counsellors always on duty,
# a staff supergroup on the Telegram stand-in (no group rate limit: the load test is about us).
STAFF_CHAT = int(SANDBOX_ENV["TELEGRAM_STAFF_CHAT_ID"])
HANDOFF_ENV = {"TELEGRAM_STAFF_PER_MINUTE": "100000"}

# The production database, run on this machine and in CI (trust auth). TEST_POSTGRES_URL
# points the tests at another one.
POSTGRES = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
)


@functools.cache
def postgres_unavailable() -> str | None:
    """Why the tests cannot use ``POSTGRES`` (nothing listens on its port), or None. One TCP
    connection, tried once per run."""
    url = make_url(POSTGRES)
    host, port = url.host or "127.0.0.1", url.port or 5432
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as error:
        return f"PostgreSQL not listening on {host}:{port}: {error}"
    return None


def require_postgres() -> str:
    """``POSTGRES``; the test is skipped, with the reason, when nothing listens there."""
    reason = postgres_unavailable()
    if reason is not None:
        pytest.skip(reason)
    return POSTGRES
