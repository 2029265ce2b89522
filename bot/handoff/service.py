"""Handoffs as data: each request is a numbered row (#12), its messages a transcript, its
deadlines persistent timers. Synchronous, so that the action server (which opens a handoff)
and the Rasa server (which relays, and fires the timers) share it.

Who owns the conversation stays in :mod:`bot.handoff.ownership`; this service moves it
there and keeps the handoff row beside it in the same steps. Timers are rows with a due
time: any instance may run a due timer, but only the one whose conditional update takes the
timer's lease does, so a timer fires once across instances and survives restarts.

Messages between her and the counsellor are relayed the same way, both directions: each is
kept marked ``to_relay`` before it is sent, and one sender at a time (the holder of the
handoff's relay lease) sends them in order and unmarks them; a failed send leaves them for a
retry (the relay's worker), and after :data:`MAX_RELAY_ATTEMPTS` it is marked failed (the
relay tells the staff). Lines a counsellor starts with ``//`` are ``note``: kept, never sent.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Column, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.db.base import utcnow
from bot.db.transactions import Transactional
from bot.handoff.models import (
    Handoff,
    HandoffMessage,
    HandoffRow,
    HandoffTimer,
    Line,
    Pending,
    Timer,
    handoff_of,
    utc,
)
from bot.handoff.ownership import BOT, COUNSELLOR, QUEUED, Owner, Ownership
from bot.settings import HandoffSettings

logger = logging.getLogger(__name__)

# Timer kinds, in the order a handoff meets them. SILENT: she writes and her counsellor has
# not answered for ``counsellor_silent``. RETURNED, ASSIGNED, CLOSED: a move made outside the
# server (the staff command line), announced by the server's worker.
NOTIFY, RENOTIFY, GIVE_UP, IDLE = "notify", "renotify", "give_up", "idle"
SILENT, RETURNED, ASSIGNED, CLOSED = "silent", "returned", "assigned", "closed"
# Transcript directions.
USER, COUNSELLOR_SAID, NOTE = "user", "counsellor", "note"
MAX_RELAY_ATTEMPTS = 8  # then a relay is marked failed and reported (about two minutes)
LEASE = timedelta(seconds=60)  # a timer taken by an instance that died is retried after this
# Held while her waiting messages are sent (renewed before each one); after a failed send,
# the pause before the worker tries again.
RELAY_LEASE, RELAY_RETRY = timedelta(seconds=60), timedelta(seconds=15)


class HandoffService(Transactional):
    """Opens, moves and closes handoffs; keeps transcripts and timers."""

    def __init__(
        self,
        engine: Engine,
        settings: HandoffSettings | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(engine)
        self.settings = settings or HandoffSettings()
        # The same engine, hence the same session factory (bot.db.transactions).
        self.ownership = Ownership(engine, clock)
        self._clock = clock

    def now(self) -> datetime:
        """The service's clock (injected: tests move time, timers are due by it)."""
        return self._clock()

    # Reading

    def owner(self, conversation_id: str) -> Owner:
        """Who owns the conversation now (:meth:`Ownership.current`)."""
        return self.ownership.current(conversation_id)

    def open_handoff(self, conversation_id: str) -> Handoff | None:
        """The conversation's handoff in progress, if any."""
        statement = (
            select(HandoffRow)
            .where(HandoffRow.conversation_id == conversation_id, HandoffRow.closed_at.is_(None))
            .order_by(HandoffRow.id.desc())
            .limit(1)
        )
        with self._transaction() as session:
            row = session.scalars(statement).first()
            return handoff_of(row) if row is not None else None

    def get(self, handoff_id: int) -> Handoff | None:
        """The handoff ``handoff_id``, open or closed; None if there is none."""
        with self._transaction() as session:
            row = session.get(HandoffRow, handoff_id)
            return handoff_of(row) if row is not None else None

    def by_topic(self, topic_id: int) -> Handoff | None:
        """The handoff of a staff-group topic: a post there is about it."""
        statement = select(HandoffRow).where(HandoffRow.topic_id == topic_id).limit(1)
        with self._transaction() as session:
            row = session.scalars(statement).first()
            return handoff_of(row) if row is not None else None

    def position(self, conversation_id: str) -> int | None:
        """Her place in the queue (1: next), None when not queued."""
        return self.ownership.position(conversation_id)

    def transcript(self, handoff_id: int) -> list[Line]:
        """Every message of the handoff, oldest first, notes included: for the
        consoles only."""
        statement = (
            select(HandoffMessage)
            .where(HandoffMessage.handoff_id == handoff_id)
            .order_by(HandoffMessage.id)
        )
        with self._transaction() as session:
            return [
                Line(m.direction, m.text, utc(m.at), m.counsellor_id)
                for m in session.scalars(statement)
            ]

    # Moves

    def request(
        self, conversation_id: str, reason: str, *, language: str, channel: str,
        opens_at: datetime | None = None,
    ) -> tuple[Handoff, bool]:  # fmt: skip
        """Queue the conversation for a person; the handoff and whether it is new.

        Asking again, or an emergency during a handoff, opens nothing new (an emergency
        raises its priority). ``opens_at``: when counsellors are back, if nobody is on duty
        now; the unclaimed deadlines count from then."""
        owner = self.ownership.request(conversation_id, reason)
        now = self.now()
        with self._transaction() as session:
            row = session.scalars(
                select(HandoffRow)
                .where(HandoffRow.conversation_id == conversation_id,
                       HandoffRow.closed_at.is_(None))
                .with_for_update()
            ).first()  # fmt: skip
            if row is not None:
                if owner.priority and not row.priority:
                    row.priority = True
                return handoff_of(row), False
            row = HandoffRow(
                conversation_id=conversation_id, language=language, channel=channel,
                reason=reason, priority=owner.priority, opened_at=now, last_activity_at=now,
                waiting_notice_at=now,  # the action tells her her place: the first notice
            )  # fmt: skip
            session.add(row)
            session.flush()
            start = max(now, opens_at) if opens_at else now
            session.add(HandoffTimer(handoff_id=row.id, kind=NOTIFY, due_at=now))
            session.add(HandoffTimer(handoff_id=row.id, kind=RENOTIFY,
                                     due_at=start + self.settings.renotify_after))  # fmt: skip
            logger.info("Handoff #%d opened (reason=%s, language=%s).", row.id, reason, language)
            return handoff_of(row), True

    def claim(self, handoff_id: int, counsellor_id: str) -> Handoff:
        """The counsellor takes it (raises OwnershipConflict if someone was faster)."""
        handoff = self._open(handoff_id)
        self.ownership.claim(handoff.conversation_id, counsellor_id)
        return self._held(handoff_id, counsellor_id)

    def assign(
        self, handoff_id: int, counsellor_id: str, *, actor: str
    ) -> tuple[Handoff, str | None]:
        """A supervisor gives it to ``counsellor_id`` (from the queue or from another
        counsellor): the handoff and its previous holder (None when it was queued)."""
        handoff = self._open(handoff_id)
        before = self.ownership.current(handoff.conversation_id)
        self.ownership.assign(handoff.conversation_id, counsellor_id, actor=actor)
        previous = before.counsellor_id if before.state == COUNSELLOR else None
        return self._held(handoff_id, counsellor_id), previous

    def _held(self, handoff_id: int, counsellor_id: str) -> Handoff:
        """The row after a claim or an assignment: the unclaimed deadlines end, the idle one
        starts, and the silence clock waits for her next message."""
        now = self.now()
        with self._transaction() as session:
            row = session.get(HandoffRow, handoff_id)
            row.counsellor_id, row.last_activity_at = counsellor_id, now
            row.claimed_at = row.claimed_at or now
            row.user_waiting_since = None
            self._cancel_timers(session, handoff_id, (RENOTIFY, GIVE_UP, IDLE, SILENT))
            session.add(HandoffTimer(handoff_id=handoff_id, kind=IDLE,
                                     due_at=now + self.settings.idle_after))  # fmt: skip
            return handoff_of(row)

    def release(self, handoff_id: int, counsellor_id: str) -> Handoff:
        """Back to the queue (only by its holder); the unclaimed deadlines start again."""
        handoff = self._open(handoff_id)
        self.ownership.release(handoff.conversation_id, counsellor_id)
        return self._queued_again(handoff_id, renotify_now=True)

    def requeue(self, handoff_id: int, holder: str, why: str, *, actor: str = "system") -> Handoff:
        """Back to the queue without its holder's word (``why``: silent, deactivated,
        unreachable), first in line; the counsellors are notified by the caller."""
        handoff = self._open(handoff_id)
        self.ownership.requeue(handoff.conversation_id, holder, why, actor=actor)
        logger.info("Handoff #%d back in the queue (%s).", handoff_id, why)
        return self._queued_again(handoff_id, renotify_now=False)

    def _queued_again(self, handoff_id: int, *, renotify_now: bool) -> Handoff:
        """The row after a release or a requeue: nobody holds it, the unclaimed
        deadline starts again (``renotify_now``: the counsellors are told at once)."""
        now = self.now()
        owner = self.ownership.current(self._open(handoff_id).conversation_id)
        with self._transaction() as session:
            row = session.get(HandoffRow, handoff_id)
            row.counsellor_id, row.user_waiting_since = None, None
            row.priority = bool(owner.priority)
            self._cancel_timers(session, handoff_id, (IDLE, SILENT))
            due = now if renotify_now else now + self.settings.renotify_after
            session.add(HandoffTimer(handoff_id=handoff_id, kind=RENOTIFY, due_at=due))
            return handoff_of(row)

    def close(self, handoff_id: int, outcome: str, *, actor: str) -> Handoff:
        """Back to the bot with the outcome; ``actor`` is ``counsellor:<id>``,
        ``supervisor:<id>`` or ``system``."""
        handoff = self._open(handoff_id)
        self.ownership.close(handoff.conversation_id, outcome, actor=actor)
        now = self.now()
        with self._transaction() as session:
            row = session.get(HandoffRow, handoff_id)
            row.closed_at, row.outcome = now, outcome
            row.country_question = None
            self._cancel_timers(session, handoff_id, (NOTIFY, RENOTIFY, GIVE_UP, IDLE, SILENT))
            logger.info("Handoff #%d closed (%s).", handoff_id, outcome)
            return handoff_of(row)

    def held_by(self, counsellor_id: str) -> list[Handoff]:
        """The open handoffs this counsellor holds now."""
        statement = (
            select(HandoffRow)
            .where(HandoffRow.counsellor_id == counsellor_id, HandoffRow.closed_at.is_(None))
            .order_by(HandoffRow.id)
        )
        with self._transaction() as session:
            return [handoff_of(row) for row in session.scalars(statement)]

    def set_topic(self, handoff_id: int, topic_id: int) -> None:
        """The staff-group topic opened for the handoff, kept to route posts in it."""
        with self._transaction() as session:
            session.get(HandoffRow, handoff_id).topic_id = topic_id

    def _open(self, handoff_id: int) -> Handoff:
        """The handoff, which must exist (LookupError otherwise: a caller's mistake)."""
        handoff = self.get(handoff_id)
        if handoff is None:
            raise LookupError(handoff_id)
        return handoff

    # Transcript

    def record(
        self,
        handoff_id: int,
        direction: str,
        text: str,
        counsellor_id: str | None = None,
        to_relay: bool = False,
    ) -> int:
        """A message of the transcript, kept before it is sent on (so nothing is lost if
        sending fails); its id. ``to_relay``: to be delivered by :meth:`take_relay`'s holder.
        Her message to a counsellor starts the silence clock if it is not running; the
        counsellor's stops it. A ``note`` (between staff) changes nothing else."""
        now = self.now()
        with self._transaction() as session:
            message = HandoffMessage(handoff_id=handoff_id, direction=direction, text=text,
                                     counsellor_id=counsellor_id, at=now, to_relay=to_relay)
            session.add(message)  # fmt: skip
            if direction != NOTE:
                values: dict[str, object] = {"last_activity_at": now}
                if direction == COUNSELLOR_SAID:
                    values["user_waiting_since"] = None
                    self._cancel_timers(session, handoff_id, (SILENT,))
                session.execute(
                    update(HandoffRow).where(HandoffRow.id == handoff_id).values(**values),
                    execution_options={"synchronize_session": False},
                )
            if direction == USER and to_relay:
                started = session.execute(
                    update(HandoffRow)
                    .where(HandoffRow.id == handoff_id, HandoffRow.user_waiting_since.is_(None))
                    .values(user_waiting_since=now),
                    execution_options={"synchronize_session": False},
                )  # fmt: skip
                if started.rowcount:
                    session.add(HandoffTimer(handoff_id=handoff_id, kind=SILENT,
                                             due_at=now + self.settings.counsellor_silent))
            session.flush()
            return int(message.id)

    # Her messages waiting for the counsellor's console

    def take_relay(self, handoff_id: int) -> str | None:
        """The handoff's relay lease (a token for :meth:`renew_relay` and
        :meth:`release_relay`), or None while another sender holds it."""
        now, token = self.now(), uuid.uuid4().hex
        free = or_(HandoffRow.relay_lease_until.is_(None), HandoffRow.relay_lease_until < now)
        with self._transaction() as session:
            result = session.execute(
                update(HandoffRow).where(HandoffRow.id == handoff_id, free)
                .values(relay_holder=token, relay_lease_until=now + RELAY_LEASE),
                execution_options={"synchronize_session": False},
            )  # fmt: skip
            return token if result.rowcount else None

    def renew_relay(self, handoff_id: int, token: str) -> bool:
        """Still ours (before each send): False when it expired and another sender took it."""
        with self._transaction() as session:
            result = session.execute(
                update(HandoffRow)
                .where(HandoffRow.id == handoff_id, HandoffRow.relay_holder == token)
                .values(relay_lease_until=self.now() + RELAY_LEASE),
                execution_options={"synchronize_session": False},
            )  # fmt: skip
            return bool(result.rowcount)

    def release_relay(self, handoff_id: int, token: str, retry: bool = False) -> None:
        """Done; or, after a failed send, free again in :data:`RELAY_RETRY`."""
        until = self.now() + RELAY_RETRY if retry else None
        with self._transaction() as session:
            session.execute(
                update(HandoffRow)
                .where(HandoffRow.id == handoff_id, HandoffRow.relay_holder == token)
                .values(relay_holder=None, relay_lease_until=until),
                execution_options={"synchronize_session": False},
            )  # fmt: skip

    def to_relay(self, handoff_id: int) -> list[Pending]:
        """Messages not yet delivered, both directions, oldest first."""
        statement = (
            select(HandoffMessage)
            .where(HandoffMessage.to_relay.is_(True), HandoffMessage.handoff_id == handoff_id)
            .order_by(HandoffMessage.id)
        )
        with self._transaction() as session:
            return [Pending(int(m.id), m.direction, m.text, int(m.attempts or 0), m.counsellor_id)
                    for m in session.scalars(statement)]  # fmt: skip

    def relayed(self, *message_ids: int) -> None:
        """Delivered: no sender will send these again."""
        with self._transaction() as session:
            session.execute(
                update(HandoffMessage).where(HandoffMessage.id.in_(message_ids))
                .values(to_relay=False),
                execution_options={"synchronize_session": False},
            )  # fmt: skip

    def relay_failed(self, message_ids: list[int], *, final: bool) -> None:
        """A send that failed: counted; ``final``: given up (kept, unmarked, dated)."""
        values: dict[str, object] = {"attempts": HandoffMessage.attempts + 1}
        if final:
            values |= {"to_relay": False, "failed_at": self.now()}
        with self._transaction() as session:
            session.execute(
                update(HandoffMessage).where(HandoffMessage.id.in_(message_ids)).values(**values),
                execution_options={"synchronize_session": False},
            )

    def take_relay_budget(self, handoff_id: int, burst: int, every: timedelta) -> bool:
        """One send to the counsellor, from the handoff's bucket of ``burst`` sends that
        refills one every ``every``: a few messages go at once, a flood waits (and what
        waits is sent together) instead of costing a send each."""
        now = self.now()
        with self._transaction() as session:
            row = session.scalars(
                select(HandoffRow).where(HandoffRow.id == handoff_id).with_for_update()
            ).one()
            tokens, counted = int(row.relay_tokens or 0), row.relay_tokens_at
            if counted is None:
                tokens, counted = burst, now
            refill = int((now - utc(counted)) / every)
            if refill:
                tokens = min(burst, tokens + refill)
                counted = now if tokens == burst else utc(counted) + refill * every
            taken = tokens > 0
            row.relay_tokens, row.relay_tokens_at = tokens - taken, counted
            return taken

    def claim_slow_notice(self, handoff_id: int, every: timedelta) -> bool:
        """True at most once per ``every`` ("your messages arrive, she reads them")."""
        return self._claim_once(HandoffRow.slow_notice_at, handoff_id, every)

    def relay_due(self, limit: int = 20) -> list[int]:
        """Handoffs with messages waiting for the console and no sender on them."""
        now = self.now()
        statement = (
            select(HandoffMessage.handoff_id)
            .join(HandoffRow, HandoffRow.id == HandoffMessage.handoff_id)
            .where(HandoffMessage.to_relay.is_(True),
                   or_(HandoffRow.relay_lease_until.is_(None),
                       HandoffRow.relay_lease_until < now))
            .group_by(HandoffMessage.handoff_id)
            .order_by(HandoffMessage.handoff_id)
            .limit(limit)
        )  # fmt: skip
        with self._transaction() as session:
            return [int(handoff_id) for handoff_id in session.scalars(statement)]

    def claim_waiting_notice(self, handoff_id: int) -> bool:
        """True at most once per ``waiting_notice_every`` ("you are number N")."""
        return self._claim_once(
            HandoffRow.waiting_notice_at, handoff_id, self.settings.waiting_notice_every
        )

    def _claim_once(self, column: Column, handoff_id: int, every: timedelta) -> bool:
        """``column`` set to now unless it is more recent than ``every``: one
        conditional update, so that two instances cannot both send the same notice."""
        now = self.now()
        with self._transaction() as session:
            result = session.execute(
                update(HandoffRow)
                .where(HandoffRow.id == handoff_id,
                       or_(column.is_(None), column <= now - every))
                .values({column.key: now}),
                execution_options={"synchronize_session": False},
            )  # fmt: skip
            return bool(result.rowcount)

    # Her country, asked during the handoff (an emergency whose numbers depend on it)

    def ask_country(self, handoff_id: int, category: str) -> None:
        """Her country is asked (an emergency whose numbers depend on it): her
        next message is read as the answer; counted, to stop asking."""
        with self._transaction() as session:
            row = session.get(HandoffRow, handoff_id)
            row.country_question = category
            row.country_asks = int(row.country_asks or 0) + 1

    def country_settled(self, handoff_id: int) -> None:
        """Answered, or asked enough: her counsellor, warned, takes it from here."""
        with self._transaction() as session:
            row = session.get(HandoffRow, handoff_id)
            row.country_question, row.country_asks = None, 0

    def checkin(self, handoff_id: int, at: datetime | None) -> None:
        """The check-in asked at ``at`` (her next answer is read against it), or closed."""
        with self._transaction() as session:
            session.get(HandoffRow, handoff_id).checkin_at = at

    # Timers

    def schedule(
        self, handoff_id: int, kind: str, due_at: datetime, detail: str | None = None
    ) -> None:
        """A timer, fired by whichever instance takes it when it is due."""
        with self._transaction() as session:
            session.add(HandoffTimer(handoff_id=handoff_id, kind=kind, due_at=due_at,
                                     detail=detail))  # fmt: skip

    def take_due(self, limit: int = 20) -> list[Timer]:
        """Due timers this instance now holds the lease of (no other instance runs them)."""
        now = self.now()
        taken = []
        with self._transaction() as session:
            due = session.execute(
                select(HandoffTimer.id, HandoffTimer.handoff_id, HandoffTimer.kind,
                       HandoffTimer.due_at, HandoffTimer.detail)
                .where(HandoffTimer.done_at.is_(None), HandoffTimer.due_at <= now,
                       or_(HandoffTimer.lease_until.is_(None), HandoffTimer.lease_until < now))
                .order_by(HandoffTimer.due_at).limit(limit)
            ).all()  # fmt: skip
        for timer_id, handoff_id, kind, due_at, detail in due:
            with self._transaction() as session:
                result = session.execute(
                    update(HandoffTimer)
                    .where(HandoffTimer.id == timer_id, HandoffTimer.done_at.is_(None),
                           or_(HandoffTimer.lease_until.is_(None),
                               HandoffTimer.lease_until < now))
                    .values(lease_until=now + LEASE),
                    execution_options={"synchronize_session": False},
                )  # fmt: skip
                if result.rowcount:
                    taken.append(Timer(int(timer_id), int(handoff_id), kind, utc(due_at),
                                       detail))  # fmt: skip
        return taken

    def next_due(self) -> datetime | None:
        """When the next timer is due (the worker sleeps until then, or until woken)."""
        with self._transaction() as session:
            due = session.scalar(
                select(HandoffTimer.due_at).where(HandoffTimer.done_at.is_(None))
                .order_by(HandoffTimer.due_at).limit(1)
            )  # fmt: skip
            return utc(due) if due is not None else None

    def done(self, timer_id: int) -> None:
        """The timer has run (or had nothing left to do): never again."""
        with self._transaction() as session:
            session.execute(
                update(HandoffTimer).where(HandoffTimer.id == timer_id)
                .values(done_at=self.now()),
                execution_options={"synchronize_session": False},
            )  # fmt: skip

    def _cancel_timers(self, session: Session, handoff_id: int, kinds: tuple[str, ...]) -> None:
        """Timers of these kinds that have not run: done now, in the move's transaction."""
        session.execute(
            update(HandoffTimer)
            .where(HandoffTimer.handoff_id == handoff_id, HandoffTimer.kind.in_(kinds),
                   HandoffTimer.done_at.is_(None))
            .values(done_at=self.now()),
            execution_options={"synchronize_session": False},
        )  # fmt: skip

    def open_handoffs(self) -> list[Handoff]:
        """Every handoff not closed, oldest first (``python -m bot handoff list``)."""
        statement = select(HandoffRow).where(HandoffRow.closed_at.is_(None)).order_by(
            HandoffRow.id
        )
        with self._transaction() as session:
            return [handoff_of(row) for row in session.scalars(statement)]


__all__ = [
    "ASSIGNED",
    "BOT",
    "CLOSED",
    "COUNSELLOR",
    "COUNSELLOR_SAID",
    "GIVE_UP",
    "IDLE",
    "NOTE",
    "NOTIFY",
    "QUEUED",
    "RENOTIFY",
    "RETURNED",
    "SILENT",
    "USER",
    "Handoff",
    "HandoffService",
    "HandoffSettings",
    "Line",
    "Pending",
    "Timer",
]  # fmt: skip
