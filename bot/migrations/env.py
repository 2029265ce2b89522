"""Alembic's environment, run by every ``alembic.command`` (see ``bot.migrations.config``).

The caller usually passes its connection (``config.attributes["connection"]``), inside a
transaction it holds with the migration lock: this module then runs in that transaction.
"""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection
from sqlalchemy.pool import NullPool

from bot.db.base import Base

config = context.config
# Autogenerate compares with every model (bot.schema.revision passes them); an upgrade needs
# only the revisions.
target_metadata = config.attributes.get("target_metadata", Base.metadata)


def include_object(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """Autogenerate never drops a table the models do not declare: the database may hold
    others (a shared PostgreSQL); dropping a table is written by hand."""
    return not (type_ == "table" and reflected and compare_to is None)


def _options(dialect_name: str) -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        # SQLite has almost no ALTER TABLE: batch mode copies the table and swaps it in.
        "render_as_batch": dialect_name == "sqlite",
        "compare_type": True,
        "include_object": include_object,
    }


def run_offline() -> None:
    """``--sql`` mode: print the SQL for ``sqlalchemy.url``'s dialect."""
    url = config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("--sql mode needs sqlalchemy.url in the Alembic configuration")
    context.configure(url=url, literal_binds=True, **_options(url.split(":")[0].split("+")[0]))
    with context.begin_transaction():
        context.run_migrations()


def _run(connection: Connection) -> None:
    context.configure(connection=connection, **_options(connection.dialect.name))
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_engine(config.get_main_option("sqlalchemy.url"), poolclass=NullPool)
    try:
        with engine.begin() as connection:
            _run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
