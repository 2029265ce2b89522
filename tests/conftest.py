"""Shared fixtures. The trained model is loaded once per session, in one running stack."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from bot import PROJECT_ROOT
from bot.channels.sandbox import ENV as SANDBOX_ENV
from bot.channels.sandbox import Sandbox, channel_stack
from bot.db.base import utcnow
from bot.db.database import make_engine
from bot.launcher import LocalStack
from bot.settings import ChannelSettings
from bot.standins.telegram import TelegramStandIn
from bot.standins.twilio import TwilioStandIn
from bot.training import ensure_model


class ManualClock:
    """A clock the test moves by hand (services take a ``clock`` callable)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The project's model, trained first if missing or stale (once per test run)."""
    model = PROJECT_ROOT / "models" / "current.tar.gz"
    ensure_model(model)
    return model


# Test secrets of the SMS and Telegram channels (nothing real: the APIs are stand-ins), as
# `python -m bot phone` uses them, with a low rate limit to test it.
CHANNEL_ENV = {**SANDBOX_ENV, "RATE_LIMIT_MESSAGES": "8"}


# The counsellor handoff of the test stack (the sandbox's): four counsellors always on duty,
# a staff supergroup on the Telegram stand-in (no group rate limit: the load test is about us).
STAFF_CHAT = int(SANDBOX_ENV["TELEGRAM_STAFF_CHAT_ID"])
HANDOFF_ENV = {"TELEGRAM_STAFF_PER_MINUTE": "100000"}

# The production database, run on this machine and in CI (trust auth).
POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """Our database on SQLite (a file: threads need separate connections to one database)
    and on the real PostgreSQL, which other tests share: delete the rows you make."""
    url = f"sqlite:///{tmp_path / 'app.db'}" if request.param == "sqlite" else POSTGRES
    made = make_engine(url)
    yield made
    made.dispose()


@pytest.fixture()
def isolated(engine: Engine) -> Iterator[Engine]:
    """``engine`` with every table to this test alone: on the shared PostgreSQL, a schema of
    its own (dropped afterwards), for tests that count or take every due row."""
    if engine.dialect.name != "postgresql":
        yield engine
        return
    import uuid

    from sqlalchemy import text

    from bot import schema as tables

    schema = f"test_{uuid.uuid4().hex[:12]}"
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        mapped = engine.execution_options(schema_translate_map={None: schema})
        tables.metadata.create_all(mapped, checkfirst=False)  # not the public schema's tables
        yield mapped
    finally:
        with engine.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))


@pytest.fixture()
def command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Iterator[Callable[[str], Callable[..., tuple[int, str, str]]]]:
    """``python -m bot <command> ...`` as a user runs it (``bot.__main__.main``), on a SQLite
    file of its own: ``command_line("booking")("sessions")`` -> (status, stdout, stderr)."""
    from bot.__main__ import main
    from bot.db import database
    from bot.settings import settings_from_env

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    settings_from_env.cache_clear()
    database.engine_from_env.cache_clear()

    def command(name: str) -> Callable[..., tuple[int, str, str]]:
        def run(*argv: str) -> tuple[int, str, str]:
            capsys.readouterr()
            status = main([name, *argv])
            out, err = capsys.readouterr()
            return status, out, err

        return run

    yield command
    database.engine_from_env().dispose()
    database.engine_from_env.cache_clear()
    monkeypatch.undo()
    settings_from_env.cache_clear()


@dataclass
class StandIns:
    twilio: TwilioStandIn
    telegram: TelegramStandIn

    def settings(self) -> ChannelSettings:
        """The sandbox's channel settings, with the real clients pointed at these stand-ins."""
        return ChannelSettings(
            pseudonym_key=CHANNEL_ENV["PSEUDONYM_KEY"].encode(),
            twilio_account_sid=CHANNEL_ENV["TWILIO_ACCOUNT_SID"],
            twilio_auth_token=CHANNEL_ENV["TWILIO_AUTH_TOKEN"],
            twilio_from=CHANNEL_ENV["TWILIO_FROM_NUMBER"],
            twilio_api_base_url=self.twilio.base_url,
            telegram_token=CHANNEL_ENV["TELEGRAM_BOT_TOKEN"],
            telegram_secret=CHANNEL_ENV["TELEGRAM_WEBHOOK_SECRET"],
            telegram_api_base_url=self.telegram.base_url,
        )


@pytest.fixture(scope="session")
def standins() -> Iterator[StandIns]:
    """Local Twilio REST API and Telegram Bot API, over HTTP on loopback, for the session."""
    twilio = TwilioStandIn(CHANNEL_ENV["TWILIO_ACCOUNT_SID"], CHANNEL_ENV["TWILIO_AUTH_TOKEN"])
    telegram = TelegramStandIn(CHANNEL_ENV["TELEGRAM_BOT_TOKEN"])
    with twilio, telegram:
        yield StandIns(twilio, telegram)


@pytest.fixture(scope="session")
def channels(
    model_path: Path, tmp_path_factory: pytest.TempPathFactory, standins: StandIns
) -> Iterator[Sandbox]:
    """Action server + Rasa server (REST, SMS, Telegram and local channels, HTTP API), SQLite
    tracker and app database in a temp dir, the channels talking to the stand-ins."""
    var = tmp_path_factory.mktemp("var")
    limit = CHANNEL_ENV["RATE_LIMIT_MESSAGES"]
    with channel_stack(
        model_path, var, standins.twilio, standins.telegram, RATE_LIMIT_MESSAGES=limit,
        **HANDOFF_ENV,
    ) as box:  # fmt: skip
        yield box


@pytest.fixture(scope="session")
def stack(channels: Sandbox) -> LocalStack:
    """The running stack (model loaded once per session)."""
    return channels.stack


@pytest.fixture()
def app_db(stack: LocalStack) -> Callable[..., list[tuple[Any, ...]]]:
    """Read-only queries on the stack's own database (contacts, messages)."""

    def query(sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(stack.settings.var_dir / "app.db") as db:
            return list(db.execute(sql, args))

    return query
