"""Fixtures of every layer, and the layer markers: a test in ``tests/unit`` is marked
``unit``, in ``tests/db`` ``db``, in ``tests/stack`` ``stack`` (``pytest -m unit``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import PROJECT_ROOT
from bot.standins.telegram import TelegramStandIn
from bot.standins.twilio import TwilioStandIn
from bot.training import ensure_model
from tests.support.env import CHANNEL_ENV
from tests.support.standins import StandIns

TESTS = Path(__file__).resolve().parent
LAYERS = ("unit", "db", "stack", "browser")  # the directories under tests/, and their markers


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test gets the marker of its directory's layer."""
    for item in items:
        path = item.path.resolve()
        layer = path.relative_to(TESTS).parts[0] if path.is_relative_to(TESTS) else None
        if layer in LAYERS:
            item.add_marker(getattr(pytest.mark, layer))


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The project's model, trained first if missing or stale (once per test run)."""
    model = PROJECT_ROOT / "models" / "current.tar.gz"
    ensure_model(model)
    return model


@pytest.fixture(scope="session")
def standins() -> Iterator[StandIns]:
    """Local Twilio REST API and Telegram Bot API, over HTTP on loopback, for the session."""
    twilio = TwilioStandIn(CHANNEL_ENV["TWILIO_ACCOUNT_SID"], CHANNEL_ENV["TWILIO_AUTH_TOKEN"])
    telegram = TelegramStandIn(CHANNEL_ENV["TELEGRAM_BOT_TOKEN"])
    with twilio, telegram:
        yield StandIns(twilio, telegram)
