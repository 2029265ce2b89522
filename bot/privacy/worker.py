"""The retention purge and the background re-encryption, run by one instance at a time.

Every Rasa server instance starts a worker; each round, the one that holds the job's lease
(:class:`bot.channels.leases.Leases`, renewed with the instance's other leases) erases the
texts older than ``RETENTION_DAYS``, deletes the staff-group topics of handoffs closed that
long ago, and re-encrypts rows still under an older data key. The others find the lease
taken and wait for the next round; if the holder dies, its lease runs out and another
instance goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.engine import Engine

from bot.channels.leases import Leases
from bot.privacy.purge import closed_topics, cutoff_for, forget_topic, purge
from bot.privacy.tracker import RasaEvents
from bot.settings import PrivacySettings

logger = logging.getLogger(__name__)

JOB = "job:privacy"  # the lease's name: no conversation id looks like it
FIRST_ROUND_AFTER = timedelta(seconds=60)  # after a start: not while the model loads
MAX_REENCRYPT_PASSES = 1000  # a round's bound (500 values per column a pass)


@dataclass
class PrivacyWorker:
    """One instance's share of the privacy jobs (see the module's docstring)."""

    engine: Engine
    events: RasaEvents | None
    leases: Leases
    settings: PrivacySettings
    delete_topic: Callable[[int], Awaitable[bool]] | None = None
    reencrypt: Callable[[], dict[str, int]] | None = None
    _task: asyncio.Task[None] | None = field(default=None, repr=False)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._forever())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _forever(self) -> None:
        await asyncio.sleep(FIRST_ROUND_AFTER.total_seconds())
        while True:
            try:
                await self.round()
            except Exception as error:  # the database away: the next round tries again
                logger.error("Privacy round failed (%s); next round later.", type(error).__name__)
            await asyncio.sleep(self.settings.purge_every.total_seconds())

    async def round(self) -> dict[str, int] | None:
        """One round if this instance holds the job's lease: what it erased and
        re-encrypted (counts); None when another instance holds it."""
        if not await asyncio.to_thread(self.leases.acquire, JOB):
            return None
        cutoff = cutoff_for(self.settings.retention_days)
        counts = await asyncio.to_thread(purge, self.engine, self.events, cutoff)
        counts["staff_topics"] = await self._topics(cutoff)
        if self.reencrypt is not None:
            for _ in range(MAX_REENCRYPT_PASSES):
                done = await asyncio.to_thread(self.reencrypt)
                for column, n in done.items():
                    counts[f"reencrypted:{column}"] = counts.get(f"reencrypted:{column}", 0) + n
                if not any(done.values()):
                    break
        return counts

    async def _topics(self, cutoff: datetime) -> int:
        """Delete the staff-group topics of handoffs closed before the cut-off."""
        if self.delete_topic is None:
            return 0
        deleted = 0
        for handoff_id, topic in await asyncio.to_thread(closed_topics, self.engine, cutoff):
            if await self.delete_topic(topic):
                await asyncio.to_thread(forget_topic, self.engine, handoff_id)
                deleted += 1
        return deleted
