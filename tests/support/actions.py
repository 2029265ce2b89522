"""Running a custom action as the action server does, without the servers: a real
``rasa_sdk.Tracker`` built from the slots, the latest message and the events the action
reads, a ``CollectingDispatcher``, the project's domain, and the project database on a
SQLite file of the test's own (``DATABASE_URL``)."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import Table, select
from sqlalchemy.engine import Engine

from bot import PROJECT_ROOT
from bot.db.base import utcnow

SENDER = "conv-test-1"


def user_event(
    text: str = "",
    intent: str | None = None,
    *,
    channel: str | None = "rest",
    metadata: dict[str, Any] | None = None,
    parse_data: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A ``user`` event as the tracker serialises it (a message before the latest one)."""
    return {
        "event": "user",
        "text": text,
        "parse_data": parse_data or {"text": text, "intent": {"name": intent}, "entities": []},
        "input_channel": channel,
        "metadata": metadata or {},
    }


def make_tracker(
    *,
    slots: dict[str, Any] | None = None,
    text: str = "",
    intent: str | None = None,
    entities: Iterable[tuple[str, Any]] = (),
    channel: str | None = "rest",
    metadata: dict[str, Any] | None = None,
    message: dict[str, Any] | None = None,
    history: Iterable[dict[str, Any]] = (),
    candidates: dict[str, Any] | None = None,
    sender_id: str = SENDER,
    active_loop: str | None = None,
) -> Tracker:
    """A tracker whose latest user message is ``text`` (``intent``, ``entities`` as
    (type, value) pairs, ``message``: more parse data such as ``language`` or ``safety``),
    sent on ``channel`` with ``metadata``, after the events of ``history``.

    ``candidates``: slot values just extracted for a form, appended after the message as
    Rasa does before it calls a form's validation action (they are also in ``slots``)."""
    latest: dict[str, Any] = {
        "text": text,
        "intent": {"name": intent, "confidence": 1.0} if intent else {},
        "entities": [{"entity": kind, "value": value} for kind, value in entities],
        **(message or {}),
    }
    events = [*history, user_event(text, channel=channel, metadata=metadata, parse_data=latest)]
    events += [{"event": "slot", "name": name, "value": value}
               for name, value in (candidates or {}).items()]  # fmt: skip
    return Tracker(
        sender_id=sender_id,
        slots={**(slots or {}), **(candidates or {})},
        latest_message=latest,
        events=events,
        paused=False,
        followup_action=None,
        active_loop={"name": active_loop} if active_loop else {},
        latest_action_name="action_listen",
    )


def run_action(
    action: Action, tracker: Tracker, domain: dict[str, Any] | None = None
) -> tuple[CollectingDispatcher, list[dict[str, Any]]]:
    """``action.run`` as the action server awaits it: what it sent, and its events."""
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, tracker, domain or {}))
    return dispatcher, list(events)


def responses(dispatcher: CollectingDispatcher) -> list[str | None]:
    """The names of the responses sent, in order."""
    return [message.get("response") for message in dispatcher.messages]


def slot_events(events: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """(slot, value) of every ``SlotSet``, in order."""
    return [(e["name"], e["value"]) for e in events if e.get("event") == "slot"]


def slots_set(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The value each slot ends up with after ``events`` (the last ``SlotSet`` wins)."""
    return dict(slot_events(events))


def kinds(events: list[dict[str, Any]]) -> list[str]:
    """The type of every event: ``slot``, ``followup``, ``pause``, ``session_started``..."""
    return [e["event"] for e in events]


def followups(events: list[dict[str, Any]]) -> list[str]:
    """The actions the events ask Rasa to run next."""
    return [e["name"] for e in events if e.get("event") == "followup"]


def load_domain() -> dict[str, Any]:
    """The project's domain (``domain/``) as the action server receives it."""
    from rasa.shared.core.domain import Domain

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Rasa's note about slot auto-fill, for every slot
        return Domain.load(str(PROJECT_ROOT / "domain")).as_dict()


@contextmanager
def app_database(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Engine]:
    """The engine ``engine_from_env()`` gives the actions: a SQLite file in ``tmp_path``,
    migrated. The cached settings and engine are reset before and after."""
    from bot.db import database
    from bot.settings import settings_from_env

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'actions.db'}")
    settings_from_env.cache_clear()
    database.engine_from_env.cache_clear()
    engine = database.engine_from_env()
    try:
        yield engine
    finally:
        engine.dispose()
        database.engine_from_env.cache_clear()
        monkeypatch.delenv("DATABASE_URL")
        settings_from_env.cache_clear()


def table(name: str) -> Table:
    """A table of the project's database, by its name (``bookings``, ``handoffs``...)."""
    from bot.schema import metadata

    return metadata.tables[name]


def rows(engine: Engine, table_name: str, **where: Any) -> list[dict[str, Any]]:
    """The rows of table ``table_name`` whose columns equal ``where``, by id."""
    chosen = table(table_name)
    statement = select(chosen).where(*(chosen.c[k] == v for k, v in where.items()))
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(statement.order_by(chosen.c.id))]


def insert(engine: Engine, table_name: str, **values: Any) -> Any:
    """A new row in table ``table_name``; its primary key."""
    with engine.begin() as connection:
        inserted = connection.execute(table(table_name).insert().values(**values))
        return inserted.inserted_primary_key[0]


def change(engine: Engine, table_name: str, key: Any, **values: Any) -> None:
    """Set ``values`` on the row of table ``table_name`` whose id is ``key``."""
    chosen = table(table_name)
    with engine.begin() as connection:
        connection.execute(chosen.update().where(chosen.c.id == key).values(**values))


def in_days(days: int, hour: int = 12) -> datetime:
    """``hour`` o'clock UTC, ``days`` days from today (sessions are compared with the real
    clock: the booking service has no other)."""
    today = utcnow().replace(hour=0, minute=0, second=0, microsecond=0)
    return today + timedelta(days=days, hours=hour)


# The venues of the test sessions: (name, city, country, time zone).
VENUES = {
    "bko": ("Centre Bamako", "Bamako", "ML", "Africa/Bamako"),
    "lima": ("Centro Lima", "Lima", "PE", "America/Lima"),
}


class Workshops:
    """Venues, workshops and sessions written straight into the booking tables."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.venues = {
            code: insert(engine, "venues", code=code, name=name, city=city, country=country,
                         timezone=zone, updated_at=utcnow())
            for code, (name, city, country, zone) in VENUES.items()
        }  # fmt: skip
        self.workshops: dict[str, int] = {}
        self._codes = iter(range(1, 1000))

    def session(
        self, topic: str = "childbirth", starts_at: datetime | None = None, *,
        capacity: int = 5, language: str = "fr", venue: str = "bko",
    ) -> int:  # fmt: skip
        """A session of the workshop on ``topic`` (made on first use); its id."""
        if topic not in self.workshops:
            self.workshops[topic] = insert(
                self.engine, "workshops", code=topic, topic=topic, facilitator_role="midwife",
                languages="fr,es,bm", updated_at=utcnow(),
            )  # fmt: skip
        return int(insert(
            self.engine, "sessions", code=f"s-{next(self._codes)}",
            starts_at=starts_at or in_days(3), duration_minutes=120, capacity=capacity,
            booked_count=0, language=language, status="scheduled", updated_at=utcnow(),
            workshop_id=self.workshops[topic], venue_id=self.venues[venue],
        ))  # fmt: skip

    def cancel_session(self, session_id: int) -> None:
        """Staff cancel it (straight in the table: no notices)."""
        change(self.engine, "sessions", session_id, status="cancelled")
