"""Sends the booking notices (:mod:`bot.booking.notices`) when they fall due, from the Rasa
server, through the channels' outbox, in the participant's language.

A notice is taken with a lease (a conditional update), sent, then marked: one instance sends
it, once; a notice due while the server was down goes out when it is back. A reminder, a
move or a new time for a booking that is no longer active, or a session that no longer takes
place, is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.engine import Engine

from bot.booking import dialogue
from bot.booking.models import ACTIVE
from bot.booking.notices import LEASE, MOVED, REMINDER, RESCHEDULED, BookingNotice
from bot.booking.service import BookingService
from bot.channels.outbound import Outbox
from bot.channels.store import ChannelStore
from bot.db.base import utcnow
from bot.db.transactions import Transactional
from bot.i18n import Translator

logger = logging.getLogger(__name__)

POLL_S = 2.0
# Dropped once the booking is no longer active or its session is over or cancelled (the
# freed seat and the cancelled session are news even then).
WHILE_ACTIVE = {REMINDER: ("booked",), MOVED: ACTIVE, RESCHEDULED: ACTIVE}


@dataclass(frozen=True)
class Due:
    """A notice whose lease this instance holds: no other instance sends it meanwhile."""

    id: int
    booking_id: int
    kind: str


class NoticeSender(Transactional):
    """Takes due notices and sends them; ``run_once`` for tests, ``start`` in the server."""

    def __init__(
        self,
        engine: Engine,
        store: ChannelStore,
        outbox: Outbox,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(engine)
        self.booking = BookingService(engine, clock=clock)
        self.store = store
        self.outbox = outbox
        self._clock = clock
        self._task: asyncio.Task[None] | None = None

    def take_due(self, limit: int = 50) -> list[Due]:
        """Due notices whose lease this instance took."""
        now = self._clock()
        free = or_(BookingNotice.lease_until.is_(None), BookingNotice.lease_until < now)
        with self._transaction() as session:
            rows = session.execute(
                select(BookingNotice.id, BookingNotice.booking_id, BookingNotice.kind)
                .where(BookingNotice.sent_at.is_(None), BookingNotice.due_at <= now, free)
                .order_by(BookingNotice.due_at, BookingNotice.id).limit(limit)
            ).all()  # fmt: skip
        taken: list[Due] = []
        for notice_id, booking_id, kind in rows:
            with self._transaction() as session:
                result = session.execute(
                    update(BookingNotice)
                    .where(BookingNotice.id == notice_id, BookingNotice.sent_at.is_(None), free)
                    .values(lease_until=now + LEASE),
                    execution_options={"synchronize_session": False},
                )
                if result.rowcount:
                    taken.append(Due(int(notice_id), int(booking_id), kind))
        return taken

    def _finish(self, notice_id: int, outcome: str) -> None:
        """The notice done (its lease no longer matters): never taken again."""
        with self._transaction() as session:
            session.execute(
                update(BookingNotice).where(BookingNotice.id == notice_id)
                .values(sent_at=self._clock(), outcome=outcome),
                execution_options={"synchronize_session": False},
            )  # fmt: skip

    async def send(self, due: Due) -> str:
        """Send one notice; its outcome (sent, unreachable, obsolete)."""
        booking = await asyncio.to_thread(self.booking.booking, due.booking_id)
        if booking is None:
            return "obsolete"
        session = booking.session
        if due.kind in WHILE_ACTIVE and (booking.status not in WHILE_ACTIVE[due.kind]
                                         or session.status != "scheduled"
                                         or session.starts_at <= self._clock()):  # fmt: skip
            return "obsolete"
        contact = await asyncio.to_thread(self.store.contact_by_id, booking.participant)
        language = (contact.language if contact else None) or session.language
        translate = Translator(language)
        key = dialogue.notice_key(due.kind, booking.status)
        text = translate(key, workshop=dialogue.topic(session, translate),
                         place=dialogue.place(session), when=dialogue.when(session, language),
                         reference=booking.reference)  # fmt: skip
        return "sent" if await self.outbox.send(booking.participant, text) else "unreachable"

    async def run_once(self) -> int:
        """Send what is due now; how many were taken."""
        taken = await asyncio.to_thread(self.take_due)
        for due in taken:
            try:
                outcome = await self.send(due)
            except Exception as error:  # the lease expires: retried in a minute
                logger.error("Booking notice %d failed (%s).", due.id, type(error).__name__)
                continue
            await asyncio.to_thread(self._finish, due.id, outcome)
            logger.info("Booking notice %d (%s): %s.", due.id, due.kind, outcome)
        return len(taken)

    def start(self) -> None:
        """Poll in the background of the server's event loop (once: a second call is a no-op)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop())

    def stop(self) -> None:
        """At shutdown (a notice it had taken is sent elsewhere when its lease runs out)."""
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _loop(self) -> None:
        """Forever: an error (the database away) is logged and the next poll tries again."""
        while True:
            try:
                await self.run_once()
            except Exception as error:
                logger.error("Booking notices: %s; retrying.", type(error).__name__)
            await asyncio.sleep(POLL_S)
