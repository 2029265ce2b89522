"""Fixtures of the database tests: our database on SQLite and on the local PostgreSQL (its
cases are skipped, with the reason, when nothing listens there), and the command line."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from bot.db.database import make_engine
from tests.support.env import require_postgres


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """Our database on SQLite (a file: threads need separate connections to one database)
    and on the real PostgreSQL, which other tests share: delete the rows you make."""
    url = f"sqlite:///{tmp_path / 'app.db'}" if request.param == "sqlite" else require_postgres()
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
