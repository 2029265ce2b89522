"""The declarative base every table of the project is declared on, and the clock its rows use.

The lowest layer: it imports nothing of the project. A feature declares its tables on
:data:`Base` in its own ``models`` module; :mod:`bot.schema` lists them all.
"""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy.orm import declarative_base

Base = declarative_base()


def utcnow() -> datetime:
    """Now, aware and in UTC: every timestamp of ours is stored this way."""
    return datetime.now(timezone.utc)
