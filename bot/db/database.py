"""The project's own database (not Rasa's tracker store): SQLAlchemy 1.4 with the 2.0 API.

Embedded default: a SQLite file in ``var/``. Production: ``DATABASE_URL`` (PostgreSQL).
Engines are made by :func:`engine_from_env`, never at import time.

The schema is managed by Alembic revisions in ``bot/migrations/``: :func:`make_engine` upgrades
the database to the newest one (:func:`migrate`). **Every new table, column or index needs a
revision**: ``python -c "from bot.schema import revision; revision('what changed')"``
autogenerates one from the models (:mod:`bot.schema` lists every table); read it, fix it,
commit it (``bot/migrations/README.md``). ``tests/db/test_migrations.py`` fails while a
model's table or column has no revision.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import QueuePool

from bot import migrations
from bot.db.base import Base
from bot.db.crypto import Keyring, attach_keyring, keyring_from
from bot.settings import Settings, settings_from_env

log = logging.getLogger(__name__)


def database_url(settings: Settings | None = None) -> str:
    """``DATABASE_URL``, else a SQLite file in ``VAR_DIR`` (default ``var/``), made ready."""
    settings = settings_from_env() if settings is None else settings
    if settings.database_url:
        return settings.database_url
    settings.sqlite_file.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{settings.sqlite_file.resolve()}"


def _sqlite_pragmas(connection: Any, _record: Any, attempts: int = 40) -> None:
    """WAL lets the webhooks read while a turn writes; waiting beats "database is locked"
    when several threads store at once; NORMAL sync is safe with WAL and much faster;
    ``secure_delete`` overwrites what a DELETE or UPDATE frees, so that an erased or
    re-encrypted text does not linger in the file's free pages.

    Two connections switching a new file to WAL at the same moment: SQLite refuses one at
    once, without its busy handler (waiting could deadlock), so that one tries again."""
    cursor = connection.cursor()
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA secure_delete=ON")
    for attempt in range(attempts):
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            time.sleep(0.05)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def make_engine(url: str, keyring: Keyring | None = None) -> Engine:
    """An engine on ``url``, its database upgraded to the newest revision (:func:`migrate`).

    ``keyring`` encrypts and decrypts the columns that hold addresses and texts
    (:mod:`bot.db.crypto`); None writes them in plaintext (tests, and a run without
    ``DATA_KEYS``) and refuses to read an encrypted one.

    A file SQLite database keeps a pool of open connections: SQLAlchemy 1.4 would open and
    close one per transaction, and closing a WAL connection holds the interpreter lock
    (py-spy: the largest cost of a webhook under load, ``make bench-channels``).

    ``hide_parameters``: SQLAlchemy puts a statement's parameters (phone numbers, message
    texts) in its exception messages, which end up in logs; never here."""
    sqlite_file = url.startswith("sqlite") and make_url(url).database not in (None, "", ":memory:")
    if sqlite_file:
        engine = create_engine(
            url, future=True, poolclass=QueuePool, pool_size=8, max_overflow=8,
            hide_parameters=True,
            connect_args={"check_same_thread": False},
        )  # fmt: skip
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        engine = create_engine(url, future=True, pool_pre_ping=True, hide_parameters=True)
    attach_keyring(engine, keyring)
    migrate(engine)
    return engine


# The key of PostgreSQL's advisory lock held while migrating (any 64-bit number that no other
# code of this database uses for a lock).
MIGRATION_LOCK_KEY = zlib.crc32(b"sante-jeunes-bot schema migrations")


def migrate(engine: Engine) -> None:
    """``alembic upgrade head`` on ``engine``'s database, safe when several processes start at
    once (the Rasa server and the action server both do): one migrates, the others wait for
    it and then find nothing to do. PostgreSQL: an advisory lock for the transaction;
    SQLite: ``BEGIN IMMEDIATE``, the file's write lock. Each upgrade runs in one transaction
    (both databases have transactional DDL): a failed one leaves the schema as it was.

    A database made before migrations existed (our tables, no ``alembic_version``) is upgraded
    from the start: the baseline skips the tables it has. Its rows stay.

    Transition: tables declared on :data:`~bot.db.base.Base` in this process that no revision
    creates yet are made by ``create_all`` after the upgrade, with a warning naming them. Write
    their revision (:func:`bot.schema.revision`): ``tests/db/test_migrations.py`` fails until
    it exists.
    """
    unmigrated = [
        table for table in Base.metadata.sorted_tables
        if table.name not in migrations.migrated_tables()
    ]  # fmt: skip
    with _migration_transaction(engine) as connection:
        migrations.upgrade(connection)
        if unmigrated:
            log.warning(
                "Tables without a migration, created by create_all: %s. Every table needs an "
                "Alembic revision (bot/migrations/README.md).",
                ", ".join(table.name for table in unmigrated),
            )
            Base.metadata.create_all(connection, tables=unmigrated)


@contextmanager
def _migration_transaction(engine: Engine, attempts: int = 12) -> Iterator[Connection]:
    """A connection in a transaction that holds the database's migration lock, committed at
    the end (rolled back on an error)."""
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":
            # Released by the commit or rollback: a crashed migrator never keeps it.
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        elif engine.dialect.name == "sqlite":
            _begin_immediate(connection, attempts)
        try:
            yield connection
        except BaseException:
            connection.rollback()
            raise
        connection.commit()


def _begin_immediate(connection: Connection, attempts: int) -> None:
    """Take SQLite's write lock before reading the schema's revision, so that two migrators
    do not both find the database empty. ``busy_timeout`` waits 10 s each time; a longer
    migration elsewhere is waited for again."""
    for attempt in range(attempts):
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as error:
            connection.rollback()
            if "locked" not in str(error) or attempt == attempts - 1:
                raise
            log.info("Database locked by another migration: waiting")
            time.sleep(0.5)


@functools.lru_cache(maxsize=4)
def engine_from_env(url: str | None = None) -> Engine:
    """One engine per process and URL (the action server asks for it per alert), with the
    keyring of ``DATA_KEYS``: every process that reads or writes our tables goes through
    here, so all of them encrypt and decrypt alike."""
    keyring = keyring_from(settings_from_env().privacy.data_keys)
    return make_engine(url or database_url(), keyring=keyring)
