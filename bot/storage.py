"""The project's own database (not Rasa's tracker store): SQLAlchemy 1.4 with the 2.0 API.

Embedded default: a SQLite file in ``var/``. Production: ``DATABASE_URL`` (PostgreSQL).
Engines are made by :func:`engine_from_env`, never at import time.
"""

from __future__ import annotations

import functools
import os
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import Boolean, Column, DateTime, Integer, String, create_engine, event
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import declarative_base
from sqlalchemy.pool import QueuePool

from bot import PROJECT_ROOT

Base = declarative_base()


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class SafetyAlert(Base):  # type: ignore[misc,valid-type]
    """An emergency seen in a conversation: for review, and for a priority handoff.

    No message text is stored: the category says what kind of help was needed, the
    conversation id (a pseudonym once channels are in) says where to look.
    """

    __tablename__ = "safety_alerts"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(128), nullable=False, index=True)
    category = Column(String(32), nullable=False)
    language = Column(String(8))
    country = Column(String(2))
    needs_handoff = Column(Boolean, nullable=False, default=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    reviewed_at = Column(DateTime(timezone=True))


def database_url(environ: dict[str, str] | None = None) -> str:
    """``DATABASE_URL``, else a SQLite file in ``VAR_DIR`` (default ``var/``)."""
    env = os.environ if environ is None else environ
    if env.get("DATABASE_URL"):
        return env["DATABASE_URL"]
    var_dir = env.get("VAR_DIR") or str(PROJECT_ROOT / "var")
    os.makedirs(var_dir, exist_ok=True)
    return f"sqlite:///{os.path.abspath(os.path.join(var_dir, 'app.db'))}"


def _sqlite_pragmas(connection: Any, _record: Any) -> None:
    """WAL lets the webhooks read while a turn writes; waiting beats "database is locked"
    when several threads store at once; NORMAL sync is safe with WAL and much faster."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def make_engine(url: str) -> Engine:
    """An engine on ``url`` with the project's tables created if missing.

    A file SQLite database keeps a pool of open connections: SQLAlchemy 1.4 would open and
    close one per transaction, and closing a WAL connection holds the interpreter lock
    (py-spy: the largest cost of a webhook under load, ``make bench-channels``)."""
    sqlite_file = url.startswith("sqlite") and make_url(url).database not in (None, "", ":memory:")
    if sqlite_file:
        engine = create_engine(
            url, future=True, poolclass=QueuePool, pool_size=8, max_overflow=8,
            connect_args={"check_same_thread": False},
        )  # fmt: skip
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, future=True, pool_pre_ping=True)
    _import_tables()
    Base.metadata.create_all(engine)
    return engine


def _import_tables() -> None:
    """Every module that defines tables on ``Base``, so that each engine gets them all,
    whichever process (Rasa server, action server, command line) made it first."""
    import bot.channels.store
    import bot.handoff.ownership
    import bot.handoff.registry
    import bot.handoff.service  # noqa: F401


@functools.lru_cache(maxsize=4)
def engine_from_env(url: str | None = None) -> Engine:
    """One engine per process and URL (the action server asks for it per alert)."""
    return make_engine(url or database_url())
