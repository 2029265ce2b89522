"""Schema migrations of the project's own database, with Alembic, driven from code.

No ``alembic.ini``: :func:`config` builds the configuration with ``script_location`` pointing
here. ``bot.db.database.migrate`` upgrades a database at start (every ``make_engine``);
:func:`revision` writes a new revision by autogenerate. See ``README.md`` beside this file.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData, create_engine, inspect
from sqlalchemy.engine import Connection

HERE = Path(__file__).resolve().parent
BASELINE = "0001"
# What ``create_all`` made before migrations existed. A database with some of these tables and
# no ``alembic_version`` runs the baseline too: it creates only the tables that are missing.
BASELINE_TABLES = frozenset({
    "safety_alerts", "contacts", "inbound_messages", "outbound_messages",
    "delivery_status_events", "button_choices", "conversation_owners", "owner_changes",
    "counsellors", "handoffs", "handoff_messages", "handoff_timers",
})  # fmt: skip

# Alembic's ``context`` and ``op`` are module-level proxies: one migration at a time per
# process. Across processes the database's own lock serialises (``bot.db.database.migrate``).
_ALEMBIC = threading.RLock()


def config(connection: Connection | None = None, url: str | None = None) -> Config:
    """Alembic's configuration, built in code. ``connection``: run on it, inside the caller's
    transaction (``env.py`` neither opens nor commits one then); else on ``url``."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    cfg.set_main_option("truncate_slug_length", "40")
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    ruff = _ruff()
    if ruff:  # generated revisions pass the project's lint as written
        cfg.set_section_option("post_write_hooks", "hooks", "ruff_format, ruff_fix")
        for name, options in (
            ("ruff_format", "format --quiet REVISION_SCRIPT_FILENAME"),
            ("ruff_fix", "check --fix --quiet REVISION_SCRIPT_FILENAME"),
        ):
            cfg.set_section_option("post_write_hooks", f"{name}.type", "exec")
            cfg.set_section_option("post_write_hooks", f"{name}.executable", ruff)
            cfg.set_section_option("post_write_hooks", f"{name}.options", options)
    return cfg


def _ruff() -> str | None:
    beside = Path(sys.executable).parent / "ruff"
    return str(beside) if beside.exists() else shutil.which("ruff")


def head() -> str | None:
    """The newest revision (``None`` while there is none)."""
    return ScriptDirectory.from_config(config()).get_current_head()


def current(connection: Connection) -> str | None:
    """The revision a database is at (``None``: not under migrations)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(connection: Connection, target: str = "head") -> None:
    """Upgrade the database behind ``connection`` (in a transaction the caller commits; the
    caller holds the database's migration lock). A database made by ``create_all`` before
    migrations existed goes through the baseline like an empty one: the baseline skips the
    tables it already has (they are what it would make), and the later revisions change them
    as any other. Not stamping matters: a table made now from today's models would already
    have the columns a later revision adds."""
    with _ALEMBIC:
        command.upgrade(config(connection), target)


def downgrade(connection: Connection, target: str) -> None:
    with _ALEMBIC:
        command.downgrade(config(connection), target)


@contextmanager
def _scratch() -> Iterator[Connection]:
    """An empty in-memory SQLite database (every revision must run on SQLite, the default)."""
    engine = create_engine("sqlite://", future=True)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


_migrated: frozenset[str] | None = None


def migrated_tables() -> frozenset[str]:
    """The tables that the revisions create (an empty database upgraded to head, once per
    process): a table of the models that is not among them still needs a revision."""
    global _migrated
    with _ALEMBIC:
        if _migrated is None:
            with _scratch() as connection:
                upgrade(connection)
                _migrated = frozenset(inspect(connection).get_table_names()) - {"alembic_version"}
        return _migrated


def revision(
    message: str, url: str | None = None, *, metadata: MetaData, **options: Any
) -> Path:
    """Write the next revision (``0002_...``) by autogenerate, and return its path.

    It compares the models (``bot.db.base.Base.metadata``) with a database at head: by default
    a scratch SQLite file upgraded first, or ``url`` (which must be at head already). Read and
    fix what it wrote: autogenerate misses renames and some type changes, and never drops a
    table it does not know (``env.py``). ``options`` go to ``alembic.command.revision``."""
    rev_id = options.pop("rev_id", None) or _next_id()
    with _ALEMBIC:
        if url:
            engine = create_engine(url, future=True)
            try:
                with engine.begin() as connection:
                    return _write(connection, message, rev_id, metadata, options)
            finally:
                engine.dispose()
        with tempfile.TemporaryDirectory() as tmp:
            engine = create_engine(f"sqlite:///{Path(tmp) / 'scratch.db'}", future=True)
            try:
                with engine.begin() as connection:
                    upgrade(connection)
                    return _write(connection, message, rev_id, metadata, options)
            finally:
                engine.dispose()


def _write(
    connection: Connection, message: str, rev_id: str, metadata: MetaData, options: dict[str, Any]
) -> Path:
    options.setdefault("autogenerate", True)
    cfg = config(connection)
    cfg.attributes["target_metadata"] = metadata  # read by env.py
    script = command.revision(cfg, message=message, rev_id=rev_id, **options)
    assert script is not None and not isinstance(script, list)
    return Path(script.path)


def _next_id() -> str:
    """Revisions are numbered ``0001``, ``0002``...: their order reads in the file names."""
    numbers = [
        int(s.revision)
        for s in ScriptDirectory.from_config(config()).walk_revisions()
        if re.fullmatch(r"\d+", s.revision)
    ]
    return f"{max(numbers, default=0) + 1:04d}"
