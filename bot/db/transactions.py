"""The transactional base every store of the project stands on.

One session factory per engine (not one per store), one way to open a transaction, and one
way to run a unit of work again when it lost a race that no lock covers: a unique key drawn
twice, a row inserted by another instance between a read and a write. A store subclasses
:class:`Transactional` and writes ``with self._transaction() as session`` or
``self._run(work)``; nothing else in the project makes a session.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

T = TypeVar("T")

ATTEMPTS = 3  # a unit of work that lost a race this many times in a row gives up


@functools.lru_cache(maxsize=16)
def session_factory(engine: Engine) -> sessionmaker:
    """The one session factory of ``engine``: objects stay readable after the commit
    (``expire_on_commit=False``), since stores return plain views of them."""
    return sessionmaker(engine, future=True, expire_on_commit=False)


class Transactional:
    """A store on one engine: transactions and retried units of work."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = session_factory(engine)

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        """A session in a transaction: committed at the end, rolled back on an error."""
        with self._sessions.begin() as session:
            yield session

    def _run(
        self,
        work: Callable[[Session], T],
        retry_on: tuple[type[BaseException], ...] = (IntegrityError,),
        attempts: int = ATTEMPTS,
    ) -> T:
        """``work`` in one transaction, run again from the start (in a new one) when it
        raised one of ``retry_on``; the last failure is raised."""
        for attempt in range(1, attempts + 1):
            try:
                with self._transaction() as session:
                    return work(session)
            except retry_on:
                if attempt == attempts:
                    raise
        raise AssertionError("unreachable")
