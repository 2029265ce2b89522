"""The declarative base every table of the project is declared on, and the clock its rows use.

The lowest layer: it imports nothing of the project. A feature declares its tables on
:data:`Base` in its own ``models`` module; :mod:`bot.schema` lists them all.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, ClassVar

from sqlalchemy import MetaData, Table
from sqlalchemy.orm import declarative_base

if TYPE_CHECKING:  # SQLAlchemy 1.4 has no type information: what the tables can rely on

    class Base:
        metadata: ClassVar[MetaData]
        __table__: ClassVar[Table]
        __tablename__: ClassVar[str]

        def __init__(self, **columns: Any) -> None: ...

else:
    Base = declarative_base()


def utcnow() -> datetime:
    """Now, aware and in UTC: every timestamp of ours is stored this way."""
    return datetime.now(timezone.utc)
