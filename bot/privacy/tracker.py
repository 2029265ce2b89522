"""What Rasa's tracker store keeps of a conversation, erased or scrubbed in place.

Rasa 3.6 has no API to delete a conversation or to blank old texts, so this reads and writes
its SQL table (``events``: one row per event, its JSON in ``data``) directly; the table's
shape is a Rasa internal (``bot.rasa_fixes.RASA_INTERNALS``, guarded by a test). Scrubbing
keeps every event, so a tracker replays to the same state (her language, her country):
only the words go (her messages, the bot's answers, the slots that hold what she typed).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    create_engine,
    delete,
    event,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

logger = logging.getLogger(__name__)

EVENTS = Table(
    "events",
    MetaData(),
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)
# The slots filled from her own words (``from_text`` in domain/): scrubbed like her
# messages. tests/unit/test_privacy.py checks the list against the domain.
FREE_TEXT_SLOTS = ("booking_confirm", "booking_session", "cancel_choice", "country_answer")
_BATCH = 500


def tracker_engine(url: str) -> Engine:
    """An engine on Rasa's tracker database, for erasing (not Rasa's own: its store hides
    errors behind a fail-safe wrapper). SQLite: wait for Rasa's writes, and overwrite what
    is deleted so the words do not stay in the file's free pages."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    engine = create_engine(url, future=True, hide_parameters=True, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":

        def pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA busy_timeout=10000")
            cursor.execute("PRAGMA secure_delete=ON")
            cursor.close()

        event.listen(engine, "connect", pragmas)
    return engine


def _has_text(column: Any) -> Any:
    """Events whose JSON still holds a non-empty text (Rasa writes ``"text": "..."``)."""
    return column.like('%"text": "_%')


def scrub(kind: str, data: dict[str, Any]) -> bool:
    """Blank the words of one event's JSON in place; True when something changed."""
    changed = False
    if kind in ("user", "bot") and data.get("text"):
        data["text"] = None
        changed = True
    parse = data.get("parse_data")
    if kind == "user" and isinstance(parse, dict):
        if parse.get("text"):
            parse["text"] = None
            changed = True
        if parse.get("entities"):  # values are her words ("je suis à Lyon")
            parse["entities"] = []
            changed = True
    if kind == "slot" and data.get("name") in FREE_TEXT_SLOTS and data.get("value") is not None:
        data["value"] = None
        changed = True
    return changed


class RasaEvents:
    """Rasa's ``events`` table on ``engine`` (absent until Rasa first stored a tracker)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._found = False

    def _exists(self) -> bool:
        """Whether Rasa made its table yet (a fresh install has none until its first turn);
        asked with a query, so an engine mapped to another schema is asked there."""
        if not self._found:
            try:
                with self.engine.connect() as connection:
                    connection.execute(select(EVENTS.c.id).limit(1))
                self._found = True
            except DBAPIError as error:  # only its absence is an answer; a lock is an error
                if "events" not in str(error.orig).lower():
                    raise
                return False
        return True

    def present(self) -> bool:
        """Whether Rasa has made its table yet."""
        return self._exists()

    def delete(self, sender_id: str) -> int:
        """Erase a conversation's tracker; how many events went."""
        if not self._exists():
            return 0
        with self.engine.begin() as connection:
            return int(connection.execute(delete(EVENTS).where(EVENTS.c.sender_id == sender_id))
                       .rowcount or 0)  # fmt: skip

    def events(self, sender_id: str) -> list[dict[str, Any]]:
        """A conversation's events as Rasa stored them (a subject access request)."""
        if not self._exists():
            return []
        statement = select(EVENTS.c.data).where(EVENTS.c.sender_id == sender_id).order_by(
            EVENTS.c.id
        )
        with self.engine.connect() as connection:
            return [json.loads(data) for data in connection.scalars(statement) if data]

    def _wordy(self, before: float) -> Iterator[list[tuple[int, str, str]]]:
        """Batches of (id, type, JSON) of events before ``before`` that may hold words."""
        slot_names = or_(*(EVENTS.c.data.like(f'%"name": "{n}"%') for n in FREE_TEXT_SLOTS))
        wordy = or_(
            and_(EVENTS.c.type_name.in_(("user", "bot")), _has_text(EVENTS.c.data)),
            and_(EVENTS.c.type_name == "user", EVENTS.c.data.like('%"entities": [{%')),
            and_(EVENTS.c.type_name == "slot", slot_names,
                 EVENTS.c.data.not_like('%"value": null%')),
        )  # fmt: skip
        last = 0
        while True:
            statement = (
                select(EVENTS.c.id, EVENTS.c.type_name, EVENTS.c.data)
                .where(EVENTS.c.timestamp < before, EVENTS.c.id > last, wordy)
                .order_by(EVENTS.c.id)
                .limit(_BATCH)
            )
            with self.engine.connect() as connection:
                rows = [(int(i), t, d) for i, t, d in connection.execute(statement)]
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    def scrub_before(self, cutoff: datetime, *, dry_run: bool = False) -> int:
        """Blank the words of every event older than ``cutoff``; how many events changed
        (would change, with ``dry_run``)."""
        if not self._exists():
            return 0
        changed = 0
        for rows in self._wordy(cutoff.timestamp()):
            edits: list[tuple[int, str]] = []
            for event_id, kind, raw in rows:
                data = json.loads(raw) if raw else {}
                if scrub(kind, data):
                    edits.append((event_id, json.dumps(data)))
            changed += len(edits)
            if dry_run or not edits:
                continue
            with self.engine.begin() as connection:
                for event_id, data_json in edits:
                    connection.execute(update(EVENTS).where(EVENTS.c.id == event_id)
                                       .values(data=data_json))  # fmt: skip
        return changed
