"""Fixtures of the stack tests: ONE running stack per session (action server + Rasa server
with the trained model, our channels talking to the stand-ins), its database, and sessions
to book."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.booking.errors import BookingError
from bot.booking.service import BookingService
from bot.channels.sandbox import Sandbox, channel_stack
from bot.db.base import utcnow
from bot.db.database import make_engine
from bot.launcher import LocalStack
from tests.support.env import CHANNEL_ENV, HANDOFF_ENV
from tests.support.handoff import read_db
from tests.support.standins import StandIns


@pytest.fixture(scope="session")
def channels(
    model_path: Path, tmp_path_factory: pytest.TempPathFactory, standins: StandIns
) -> Iterator[Sandbox]:
    """Action server + Rasa server (REST, SMS, Telegram and local channels, HTTP API), SQLite
    tracker and app database in a temp dir, the channels talking to the stand-ins."""
    var = tmp_path_factory.mktemp("var")
    limit = CHANNEL_ENV["RATE_LIMIT_MESSAGES"]
    # Encrypted at rest as `make run` is (VAR_DIR/data.key): the tests read the database
    # through tests.support.handoff.read_db, which decrypts with that key.
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
        return read_db(stack.settings.var_dir, sql, *args)

    return query


@pytest.fixture()
def schedule(stack: LocalStack, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Two sessions per language next week (breastfeeding, nutrition), and one full one."""
    tag = uuid.uuid4().hex[:6]
    start = utcnow() + timedelta(days=6)
    venues = [{"code": f"v-{tag}", "name": "Centre maternel", "city": "Bamako", "country": "ML",
               "timezone": "Africa/Bamako"}]  # fmt: skip
    workshops = [{"code": f"{topic}-{tag}", "topic": topic, "facilitator_role": "midwife",
                  "languages": ["fr", "es", "bm"]}
                 for topic in ("breastfeeding", "nutrition", "childbirth")]  # fmt: skip
    sessions = []
    for n, language in enumerate(("fr", "es", "bm")):
        for m, topic in enumerate(("breastfeeding", "nutrition")):
            sessions.append({
                "code": f"{language}-{topic}-{tag}", "workshop": f"{topic}-{tag}",
                "venue": f"v-{tag}", "language": language, "duration_minutes": 90,
                "capacity": 10,
                "starts_at": (start + timedelta(days=n, hours=m)).strftime("%Y-%m-%d %H:%M"),
            })  # fmt: skip
    sessions.append({"code": f"full-{tag}", "workshop": f"childbirth-{tag}", "venue": f"v-{tag}",
                     "language": "fr", "duration_minutes": 90, "capacity": 1,
                     "starts_at": (start + timedelta(days=4)).strftime("%Y-%m-%d %H:%M")})
    path = tmp_path / "schedule.yml"
    path.write_text(yaml.safe_dump({"venues": venues, "workshops": workshops,
                                    "sessions": sessions}), encoding="utf-8")  # fmt: skip
    engine = make_engine(f"sqlite:///{stack.settings.var_dir / 'app.db'}")
    service = BookingService(engine)
    service.import_schedule(path)
    yield {"service": service, "engine": engine, "tag": tag, "codes": [s["code"] for s in sessions]}
    for code in [s["code"] for s in sessions]:
        with contextlib.suppress(BookingError):
            service.cancel_session(code)
    engine.dispose()
