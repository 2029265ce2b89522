"""Rasa's tracker and lock stores, chosen by ``TRACKER_STORE_URL`` and ``LOCK_STORE_URL``.

``endpoints.yml`` names these two classes, so a plain ``rasa run`` in the project folder
and our own server read the same settings, with the embedded defaults of ``make run``:
Rasa's SQL tracker store on the SQLite file ``TRACKER_DB``, and the in-memory lock store.
Production points them at PostgreSQL and Redis; both are Rasa's own stores, only the way
they are configured is ours (one URL each, from the environment, never in a file).
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm
from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore
from rasa.core.tracker_store import SQLTrackerStore, create_engine_kwargs

from bot.settings import settings_from_env

REDIS_SCHEMES = ("redis", "rediss")


def sql_url(url: str) -> str:
    """The SQLAlchemy URL for ``url`` (``postgres://`` is an old spelling SQLAlchemy 1.4
    refuses)."""
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://"):]
    return url


class EnvTrackerStore(SQLTrackerStore):
    """Rasa's SQL tracker store on ``TRACKER_STORE_URL`` (default: the SQLite file)."""

    def __init__(self, domain: Any = None, event_broker: Any = None, **kwargs: Any) -> None:
        kwargs.pop("host", None)  # endpoints.yml has no url: the settings give it
        url = sql_url(settings_from_env().tracker_store_url)
        dialect = url.split(":", 1)[0].split("+", 1)[0]
        super().__init__(domain, dialect=dialect, host=url, event_broker=event_broker, **kwargs)
        # Rasa's engine would quote a failed statement's parameters (her messages) in the
        # exception text: the same engine, with parameters hidden.
        options = create_engine_kwargs(url)
        rasa_engine: sa.engine.Engine = getattr(self, "engine")  # noqa: B009 - typed here
        rasa_engine.dispose()
        self.engine = sa.create_engine(url, hide_parameters=True, **options)
        self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)


def redis_options(url: str) -> dict[str, Any]:
    """``redis://[user:password@]host[:port][/db]`` as :class:`RedisLockStore` takes it
    (``rediss://`` for TLS; db 1 by default, Rasa's)."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in REDIS_SCHEMES:
        raise ValueError("LOCK_STORE_URL must start with redis:// or rediss://")
    path = parts.path.strip("/")
    return {
        "host": parts.hostname or "localhost",
        "port": parts.port or 6379,
        "db": int(path) if path else 1,
        "username": urllib.parse.unquote(parts.username) if parts.username else None,
        "password": urllib.parse.unquote(parts.password) if parts.password else None,
        "use_ssl": parts.scheme == "rediss",
    }


def lock_store_for(url: str) -> LockStore:
    """Rasa's Redis lock store for a ``redis://`` URL, its in-memory one when empty."""
    if not url:
        return InMemoryLockStore()
    return RedisLockStore(**redis_options(url))


class EnvLockStore:
    """What ``endpoints.yml`` names: Rasa builds it with ``endpoint_config`` and gets Rasa's
    own lock store for ``LOCK_STORE_URL`` (this class is only the factory)."""

    def __new__(cls, endpoint_config: Any = None) -> LockStore:
        return lock_store_for(settings_from_env().serve.lock_store_url)
