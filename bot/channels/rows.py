"""What every part of the channels' store shares: a transactional base with a clock, and the
two helpers its short transactions use (times in one zone, bulk writes that count rows).

The parts (:mod:`bot.channels.contacts`, :mod:`bot.channels.messages`,
:mod:`bot.channels.deliveries`, :mod:`bot.channels.buttons`) stand on :class:`ChannelRows`;
:class:`bot.channels.store.ChannelStore` is made of them all.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import Executable

from bot.db.base import utcnow
from bot.db.transactions import Transactional


class ChannelRows(Transactional):
    """A part of the channels' store: transactions on ``engine`` and the time they stamp.

    Args:
        engine: from :func:`bot.db.database.make_engine` (which creates the tables).
        clock: the time source (a fixed clock in tests).
    """

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(engine)
        self._clock = clock

    def _now(self) -> datetime:
        """The clock's time in UTC, the one zone every stored time is in."""
        return as_utc(self._clock())


def as_utc(moment: datetime) -> datetime:
    """Aware UTC: SQLite stores wall-clock text, so every stored time must be in one zone."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def write(session: Session, statement: Executable) -> int:
    """Run a bulk UPDATE or DELETE and return its row count. Nothing is loaded in these short
    sessions, so there is no object to synchronise."""
    result = session.execute(statement, execution_options={"synchronize_session": False})
    return int(result.rowcount)
