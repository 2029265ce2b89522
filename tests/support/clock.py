"""A clock the test moves by hand."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.db.base import utcnow


class ManualClock:
    """A clock the test moves by hand (services take a ``clock`` callable)."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or utcnow()

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)
