"""Handoffs as data: each request is a numbered row (#12), its messages a transcript, its
deadlines persistent timers. Synchronous, so that the action server (which opens a handoff)
and the Rasa server (which relays, and fires the timers) share it.

Who owns the conversation stays in :mod:`bot.handoff.ownership`; this service moves it
there and keeps the handoff row beside it in the same steps. Timers are rows with a due
time: any instance may run a due timer, but only the one whose conditional update takes the
timer's lease does, so a timer fires once across instances and survives restarts.

Her messages for the counsellor are relayed the same way: each is kept marked ``to_relay``
before it is sent, and one sender at a time (the holder of the handoff's relay lease) sends
them in order and unmarks them; a failed send leaves them for a retry (the relay's worker).
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    false,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.handoff.ownership import BOT, COUNSELLOR, QUEUED, Owner, Ownership
from bot.storage import Base, utcnow

logger = logging.getLogger(__name__)

# Timer kinds, in the order a handoff meets them.
NOTIFY, RENOTIFY, GIVE_UP, IDLE = "notify", "renotify", "give_up", "idle"
LEASE = timedelta(seconds=60)  # a timer taken by an instance that died is retried after this
# Held while her waiting messages are sent (renewed before each one); after a failed send,
# the pause before the worker tries again.
RELAY_LEASE, RELAY_RETRY = timedelta(seconds=60), timedelta(seconds=15)


@dataclass(frozen=True)
class HandoffSettings:
    """Deadlines, from the environment (``.env.example``)."""

    renotify_after: timedelta = timedelta(minutes=5)  # unclaimed: notify the counsellors again
    give_up_after: timedelta = timedelta(minutes=20)  # unclaimed: tell the user, back to the bot
    idle_after: timedelta = timedelta(minutes=30)  # claimed, nobody wrote: close ("timeout")
    waiting_notice_every: timedelta = timedelta(minutes=5)  # "you are number N", at most
    staff_chat_id: int | None = None  # the counsellors' Telegram supergroup (forum topics)
    staff_language: str = "fr"  # the language of the staff group's notices
    staff_per_minute: float = 20.0  # Telegram's limit for one group
    counsellors_file: str = ""  # the registry's data file, imported at server start

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HandoffSettings:
        env = os.environ if environ is None else environ

        def seconds(name: str, default: timedelta) -> timedelta:
            return timedelta(seconds=float(env.get(name) or default.total_seconds()))

        staff = env.get("TELEGRAM_STAFF_CHAT_ID", "").strip()
        return cls(
            renotify_after=seconds("HANDOFF_RENOTIFY_S", cls.renotify_after),
            give_up_after=seconds("HANDOFF_GIVE_UP_S", cls.give_up_after),
            idle_after=seconds("HANDOFF_IDLE_S", cls.idle_after),
            waiting_notice_every=seconds("HANDOFF_WAITING_NOTICE_S", cls.waiting_notice_every),
            staff_chat_id=int(staff) if staff.lstrip("-").isdigit() else None,
            staff_language=env.get("TELEGRAM_STAFF_LANGUAGE") or cls.staff_language,
            staff_per_minute=float(env.get("TELEGRAM_STAFF_PER_MINUTE") or cls.staff_per_minute),
            counsellors_file=env.get("COUNSELLORS_FILE", ""),
        )


class HandoffRow(Base):  # type: ignore[misc,valid-type]
    """One request for a person, from the ask to the hand-back. ``id`` is the short number
    counsellors use (#12); they never see the conversation id or the address."""

    __tablename__ = "handoffs"
    __table_args__ = (Index("ix_handoffs_conversation_open", "conversation_id", "closed_at"),)

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(40), nullable=False)
    language = Column(String(8), nullable=False)
    channel = Column(String(16), nullable=False)  # the user's channel
    reason = Column(String(20), nullable=False)
    priority = Column(Boolean, nullable=False, default=False)
    opened_at = Column(DateTime(timezone=True), nullable=False)
    claimed_at = Column(DateTime(timezone=True))
    closed_at = Column(DateTime(timezone=True))
    counsellor_id = Column(String(40))
    outcome = Column(String(20))
    topic_id = Column(Integer)  # the Telegram forum topic (message_thread_id)
    last_activity_at = Column(DateTime(timezone=True), nullable=False)
    waiting_notice_at = Column(DateTime(timezone=True))
    # Who sends her waiting messages now (a token per sender), and until when.
    relay_holder = Column(String(32))
    relay_lease_until = Column(DateTime(timezone=True))


class HandoffMessage(Base):  # type: ignore[misc,valid-type]
    """Every message relayed, both ways, in order: the handoff's transcript."""

    __tablename__ = "handoff_messages"
    __table_args__ = (
        Index("ix_handoff_messages_handoff", "handoff_id", "id"),
        Index("ix_handoff_messages_to_relay", "to_relay", "handoff_id"),
    )

    id = Column(Integer, primary_key=True)
    handoff_id = Column(Integer, nullable=False)
    direction = Column(String(12), nullable=False)  # user, counsellor
    counsellor_id = Column(String(40))
    text = Column(Text, nullable=False)
    at = Column(DateTime(timezone=True), nullable=False)
    # Hers, not yet on the counsellor's console: sent in order by the relay lease's holder.
    to_relay = Column(Boolean, nullable=False, default=False, server_default=false())


class HandoffTimer(Base):  # type: ignore[misc,valid-type]
    """A deadline of a handoff, run once by whichever instance takes its lease."""

    __tablename__ = "handoff_timers"
    __table_args__ = (Index("ix_handoff_timers_due", "done_at", "due_at"),)

    id = Column(Integer, primary_key=True)
    handoff_id = Column(Integer, nullable=False)
    kind = Column(String(12), nullable=False)
    due_at = Column(DateTime(timezone=True), nullable=False)
    lease_until = Column(DateTime(timezone=True))
    done_at = Column(DateTime(timezone=True))


@dataclass(frozen=True)
class Handoff:
    id: int
    conversation_id: str
    language: str
    channel: str
    reason: str
    priority: bool
    opened_at: datetime
    counsellor_id: str | None
    closed_at: datetime | None
    outcome: str | None
    topic_id: int | None
    last_activity_at: datetime

    @property
    def open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True)
class Line:
    """One message of a transcript."""

    direction: str
    text: str
    at: datetime
    counsellor_id: str | None = None


@dataclass(frozen=True)
class Timer:
    id: int
    handoff_id: int
    kind: str
    due_at: datetime


def _utc(moment: datetime) -> datetime:
    """SQLite gives back naive times: every stored time is UTC."""
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment


def _handoff(row: HandoffRow) -> Handoff:
    return Handoff(
        id=int(row.id), conversation_id=row.conversation_id, language=row.language,
        channel=row.channel, reason=row.reason, priority=bool(row.priority),
        opened_at=_utc(row.opened_at), counsellor_id=row.counsellor_id,
        closed_at=_utc(row.closed_at) if row.closed_at else None, outcome=row.outcome,
        topic_id=row.topic_id, last_activity_at=_utc(row.last_activity_at),
    )  # fmt: skip


class HandoffService:
    """Opens, moves and closes handoffs; keeps transcripts and timers."""

    def __init__(
        self,
        engine: Engine,
        settings: HandoffSettings | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings or HandoffSettings()
        self.ownership = Ownership(engine, clock)
        self._sessions = sessionmaker(engine, future=True, expire_on_commit=False)
        self._clock = clock

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def now(self) -> datetime:
        return self._clock()

    # Reading

    def owner(self, conversation_id: str) -> Owner:
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
            return _handoff(row) if row is not None else None

    def get(self, handoff_id: int) -> Handoff | None:
        with self._transaction() as session:
            row = session.get(HandoffRow, handoff_id)
            return _handoff(row) if row is not None else None

    def by_topic(self, topic_id: int) -> Handoff | None:
        statement = select(HandoffRow).where(HandoffRow.topic_id == topic_id).limit(1)
        with self._transaction() as session:
            row = session.scalars(statement).first()
            return _handoff(row) if row is not None else None

    def position(self, conversation_id: str) -> int | None:
        return self.ownership.position(conversation_id)

    def transcript(self, handoff_id: int) -> list[Line]:
        statement = (
            select(HandoffMessage)
            .where(HandoffMessage.handoff_id == handoff_id)
            .order_by(HandoffMessage.id)
        )
        with self._transaction() as session:
            return [
                Line(m.direction, m.text, _utc(m.at), m.counsellor_id)
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
                return _handoff(row), False
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
            return _handoff(row), True

    def claim(self, handoff_id: int, counsellor_id: str) -> Handoff:
        """The counsellor takes it (raises OwnershipConflict if someone was faster)."""
        handoff = self._open(handoff_id)
        self.ownership.claim(handoff.conversation_id, counsellor_id)
        now = self.now()
        with self._transaction() as session:
            row = session.get(HandoffRow, handoff_id)
            row.counsellor_id, row.claimed_at, row.last_activity_at = counsellor_id, now, now
            self._cancel_timers(session, handoff_id, (RENOTIFY, GIVE_UP))
            session.add(HandoffTimer(handoff_id=handoff_id, kind=IDLE,
                                     due_at=now + self.settings.idle_after))  # fmt: skip
            return _handoff(row)

    def release(self, handoff_id: int, counsellor_id: str) -> Handoff:
        """Back to the queue (only by its holder); the unclaimed deadlines start again."""
        handoff = self._open(handoff_id)
        self.ownership.release(handoff.conversation_id, counsellor_id)
        now = self.now()
        with self._transaction() as session:
            row = session.get(HandoffRow, handoff_id)
            row.counsellor_id = None
            self._cancel_timers(session, handoff_id, (IDLE,))
            session.add(HandoffTimer(handoff_id=handoff_id, kind=RENOTIFY, due_at=now))
            return _handoff(row)

    def close(self, handoff_id: int, outcome: str, *, actor: str) -> Handoff:
        """Back to the bot with the outcome; ``actor`` is ``counsellor:<id>`` or ``system``."""
        handoff = self._open(handoff_id)
        self.ownership.close(handoff.conversation_id, outcome, actor=actor)
        now = self.now()
        with self._transaction() as session:
            row = session.get(HandoffRow, handoff_id)
            row.closed_at, row.outcome = now, outcome
            self._cancel_timers(session, handoff_id, (NOTIFY, RENOTIFY, GIVE_UP, IDLE))
            logger.info("Handoff #%d closed (%s).", handoff_id, outcome)
            return _handoff(row)

    def set_topic(self, handoff_id: int, topic_id: int) -> None:
        with self._transaction() as session:
            session.get(HandoffRow, handoff_id).topic_id = topic_id

    def _open(self, handoff_id: int) -> Handoff:
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
    ) -> None:
        """A relayed message, kept before it is sent on (so nothing is lost if sending fails);
        ``to_relay``: hers, to be sent to the counsellor by :meth:`take_relay`'s holder."""
        now = self.now()
        with self._transaction() as session:
            session.add(HandoffMessage(handoff_id=handoff_id, direction=direction, text=text,
                                       counsellor_id=counsellor_id, at=now,
                                       to_relay=to_relay))  # fmt: skip
            session.execute(
                update(HandoffRow).where(HandoffRow.id == handoff_id)
                .values(last_activity_at=now),
                execution_options={"synchronize_session": False},
            )  # fmt: skip

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
            return token if result.rowcount else None  # type: ignore[attr-defined]

    def renew_relay(self, handoff_id: int, token: str) -> bool:
        """Still ours (before each send): False when it expired and another sender took it."""
        with self._transaction() as session:
            result = session.execute(
                update(HandoffRow)
                .where(HandoffRow.id == handoff_id, HandoffRow.relay_holder == token)
                .values(relay_lease_until=self.now() + RELAY_LEASE),
                execution_options={"synchronize_session": False},
            )  # fmt: skip
            return bool(result.rowcount)  # type: ignore[attr-defined]

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

    def to_relay(self, handoff_id: int) -> list[tuple[int, str]]:
        """Her messages not yet on the console, oldest first: (id, text)."""
        statement = (
            select(HandoffMessage.id, HandoffMessage.text)
            .where(HandoffMessage.to_relay.is_(True), HandoffMessage.handoff_id == handoff_id)
            .order_by(HandoffMessage.id)
        )
        with self._transaction() as session:
            return [(int(message_id), text) for message_id, text in session.execute(statement)]

    def relayed(self, message_id: int) -> None:
        with self._transaction() as session:
            session.execute(
                update(HandoffMessage).where(HandoffMessage.id == message_id)
                .values(to_relay=False),
                execution_options={"synchronize_session": False},
            )  # fmt: skip

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
        now = self.now()
        limit = now - self.settings.waiting_notice_every
        with self._transaction() as session:
            result = session.execute(
                update(HandoffRow)
                .where(HandoffRow.id == handoff_id,
                       or_(HandoffRow.waiting_notice_at.is_(None),
                           HandoffRow.waiting_notice_at <= limit))
                .values(waiting_notice_at=now),
                execution_options={"synchronize_session": False},
            )  # fmt: skip
            return bool(result.rowcount)  # type: ignore[attr-defined]

    # Timers

    def schedule(self, handoff_id: int, kind: str, due_at: datetime) -> None:
        with self._transaction() as session:
            session.add(HandoffTimer(handoff_id=handoff_id, kind=kind, due_at=due_at))

    def take_due(self, limit: int = 20) -> list[Timer]:
        """Due timers this instance now holds the lease of (no other instance runs them)."""
        now = self.now()
        taken = []
        with self._transaction() as session:
            due = session.execute(
                select(HandoffTimer.id, HandoffTimer.handoff_id, HandoffTimer.kind,
                       HandoffTimer.due_at)
                .where(HandoffTimer.done_at.is_(None), HandoffTimer.due_at <= now,
                       or_(HandoffTimer.lease_until.is_(None), HandoffTimer.lease_until < now))
                .order_by(HandoffTimer.due_at).limit(limit)
            ).all()  # fmt: skip
        for timer_id, handoff_id, kind, due_at in due:
            with self._transaction() as session:
                result = session.execute(
                    update(HandoffTimer)
                    .where(HandoffTimer.id == timer_id, HandoffTimer.done_at.is_(None),
                           or_(HandoffTimer.lease_until.is_(None),
                               HandoffTimer.lease_until < now))
                    .values(lease_until=now + LEASE),
                    execution_options={"synchronize_session": False},
                )  # fmt: skip
                if result.rowcount:  # type: ignore[attr-defined]
                    taken.append(Timer(int(timer_id), int(handoff_id), kind, _utc(due_at)))
        return taken

    def next_due(self) -> datetime | None:
        """When the next timer is due (the worker sleeps until then, or until woken)."""
        with self._transaction() as session:
            due = session.scalar(
                select(HandoffTimer.due_at).where(HandoffTimer.done_at.is_(None))
                .order_by(HandoffTimer.due_at).limit(1)
            )  # fmt: skip
            return _utc(due) if due is not None else None

    def done(self, timer_id: int) -> None:
        with self._transaction() as session:
            session.execute(
                update(HandoffTimer).where(HandoffTimer.id == timer_id)
                .values(done_at=self.now()),
                execution_options={"synchronize_session": False},
            )  # fmt: skip

    def _cancel_timers(self, session: Session, handoff_id: int, kinds: tuple[str, ...]) -> None:
        session.execute(
            update(HandoffTimer)
            .where(HandoffTimer.handoff_id == handoff_id, HandoffTimer.kind.in_(kinds),
                   HandoffTimer.done_at.is_(None))
            .values(done_at=self.now()),
            execution_options={"synchronize_session": False},
        )  # fmt: skip

    def open_handoffs(self) -> list[Handoff]:
        statement = select(HandoffRow).where(HandoffRow.closed_at.is_(None)).order_by(
            HandoffRow.id
        )
        with self._transaction() as session:
            return [_handoff(row) for row in session.scalars(statement)]


__all__ = [
    "BOT",
    "COUNSELLOR",
    "GIVE_UP",
    "IDLE",
    "NOTIFY",
    "QUEUED",
    "RENOTIFY",
    "Handoff",
    "HandoffService",
    "HandoffSettings",
    "Line",
    "Timer",
]  # fmt: skip
