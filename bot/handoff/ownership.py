"""Who owns a conversation: the bot, the queue, or one counsellor. Explicit state, one service.

Every inbound message asks :meth:`Ownership.current` first; every change goes through this
service, which keeps the history (who, when, why). Changes are conditional updates on the
current state, so two counsellors claiming the same conversation at once (two phones, two
server instances) cannot both win: one gets :class:`OwnershipConflict`.

States and moves::

    bot --request--> queued --claim/assign--> counsellor --release/requeue--> queued
     ^                  |                       |   ^
     +------close-------+--------close----------+   +-- assign (another counsellor)

A conversation with no row is owned by the bot.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    String,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from bot.db.base import Base, utcnow
from bot.db.transactions import Transactional

BOT, QUEUED, COUNSELLOR = "bot", "queued", "counsellor"
# Why a conversation was handed over, and how a handoff ended (issue 5).
REASONS = frozenset({"asked", "emergency", "not_understood"})
# "unclaimed": nobody took it in time; "timeout": nobody wrote for too long (both: system);
# "opted_out": she sent STOP during the handoff; "erased": she asked to be forgotten.
OUTCOMES = frozenset({"resolved", "referred", "booked", "no_answer", "timeout", "unclaimed",
                      "opted_out", "erased"})  # fmt: skip
# What a counsellor may give when handing back.
COUNSELLOR_OUTCOMES = ("resolved", "referred", "booked", "no_answer")


class OwnershipConflict(RuntimeError):
    """The move does not apply to the conversation's current owner (someone was faster)."""


class ConversationOwner(Base):
    """The current owner of a conversation that has left the bot at least once."""

    __tablename__ = "conversation_owners"
    __table_args__ = (Index("ix_owner_state_priority", "state", "priority", "since"),)

    conversation_id = Column(String(40), primary_key=True)
    state = Column(String(12), nullable=False)
    counsellor_id = Column(String(40))
    priority = Column(Boolean, nullable=False, default=False)
    reason = Column(String(20))
    since = Column(DateTime(timezone=True), nullable=False)  # of the current state


class OwnerChange(Base):
    """One move, kept for good: the handoff's history and its outcome."""

    __tablename__ = "owner_changes"
    __table_args__ = (Index("ix_owner_change_conversation", "conversation_id", "id"),)

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(40), nullable=False)
    from_state = Column(String(12), nullable=False)
    to_state = Column(String(12), nullable=False)
    counsellor_id = Column(String(40))
    actor = Column(String(50), nullable=False)  # user, system, or counsellor:<id>
    why = Column(String(20))  # a reason when queued, an outcome when closed
    at = Column(DateTime(timezone=True), nullable=False)


@dataclass(frozen=True)
class Owner:
    """Who owns a conversation now, as every inbound message asks (:meth:`Ownership.current`)."""

    conversation_id: str
    state: str
    counsellor_id: str | None = None
    priority: bool = False
    reason: str | None = None
    since: datetime | None = None

    @property
    def bot_speaks(self) -> bool:
        """Only a conversation owned by the bot gets the bot's answers."""
        return self.state == BOT


@dataclass(frozen=True)
class Change:
    """One line of a conversation's owner history (who moved it, when, why)."""

    from_state: str
    to_state: str
    counsellor_id: str | None
    actor: str
    why: str | None
    at: datetime


class Ownership(Transactional):
    """The one place where owners change. Its tables come from the migrations, which every
    engine runs (:func:`bot.db.database.make_engine`)."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(engine)
        self._clock = clock  # injected: tests move time, moves are dated by it

    def current(self, conversation_id: str) -> Owner:
        """The owner now; the bot when the conversation never left it (no row)."""
        with self._transaction() as session:
            row = session.get(ConversationOwner, conversation_id)
            return _owner(row) if row is not None else Owner(conversation_id, BOT)

    def request(self, conversation_id: str, reason: str, *, actor: str = "user") -> Owner:
        """Queue the conversation for a counsellor. An emergency raises the priority of a
        conversation already queued or owned; asking again changes nothing else."""
        if reason not in REASONS:
            raise ValueError(f"unknown handoff reason {reason!r}")
        priority = reason == "emergency"
        now = self._clock()
        try:  # the first handoff of this conversation: a new row
            with self._transaction() as session:
                if session.get(ConversationOwner, conversation_id) is None:
                    session.execute(insert(ConversationOwner).values(
                        conversation_id=conversation_id, state=QUEUED, priority=priority,
                        reason=reason, since=now))  # fmt: skip
                    self._log(session, conversation_id, BOT, QUEUED, None, actor, reason, now)
                    return Owner(conversation_id, QUEUED, None, priority, reason, now)
        except IntegrityError:
            pass  # another instance created it meanwhile: it exists now
        with self._transaction() as session:
            moved = _move(session, conversation_id, BOT, state=QUEUED, counsellor_id=None,
                          priority=priority, reason=reason, since=now)  # fmt: skip
            if moved:
                self._log(session, conversation_id, BOT, QUEUED, None, actor, reason, now)
            elif priority:  # already queued or with a counsellor: an emergency goes first
                session.execute(
                    update(ConversationOwner)
                    .where(ConversationOwner.conversation_id == conversation_id)
                    .values(priority=True),
                    execution_options={"synchronize_session": False},
                )
            return _owner(session.get(ConversationOwner, conversation_id))

    def claim(self, conversation_id: str, counsellor_id: str) -> Owner:
        """A counsellor takes a queued conversation; the bot falls silent."""
        return self._change(conversation_id, QUEUED, COUNSELLOR, counsellor_id,
                            f"counsellor:{counsellor_id}", None)  # fmt: skip

    def release(self, conversation_id: str, counsellor_id: str) -> Owner:
        """Back to the queue, by the counsellor who holds it (priority kept)."""
        return self._change(conversation_id, COUNSELLOR, QUEUED, None,
                            f"counsellor:{counsellor_id}", None, holder=counsellor_id)  # fmt: skip

    def assign(self, conversation_id: str, counsellor_id: str, *, actor: str) -> Owner:
        """A supervisor gives the conversation to ``counsellor_id`` (herself to take it over),
        from the queue or from another counsellor. Conditional on the owner she saw: a
        claim or a release in between makes this raise :class:`OwnershipConflict`."""
        current = self.current(conversation_id)
        if current.state == BOT:
            raise OwnershipConflict(conversation_id)
        if current.state == COUNSELLOR and current.counsellor_id == counsellor_id:
            return current
        holder = current.counsellor_id if current.state == COUNSELLOR else None
        return self._change(conversation_id, current.state, COUNSELLOR, counsellor_id, actor,
                            "assigned", holder=holder)  # fmt: skip

    def requeue(self, conversation_id: str, holder: str, why: str, *, actor: str) -> Owner:
        """Back to the queue without its counsellor's word (silent, removed, unreachable),
        first in line: she has already waited once."""
        now = self._clock()
        with self._transaction() as session:
            moved = _move(session, conversation_id, COUNSELLOR, holder=holder, state=QUEUED,
                          counsellor_id=None, priority=True, since=now)  # fmt: skip
            if not moved:
                raise OwnershipConflict(conversation_id)
            self._log(session, conversation_id, COUNSELLOR, QUEUED, holder, actor, why, now)
            return _owner(session.get(ConversationOwner, conversation_id))

    def close(self, conversation_id: str, outcome: str, *, actor: str) -> Owner:
        """Back to the bot, from the queue or a counsellor, with the outcome recorded.
        ``actor`` is ``counsellor:<id>`` (only the holder may close), ``supervisor:<id>``
        (any) or ``system``."""
        if outcome not in OUTCOMES:
            raise ValueError(f"unknown outcome {outcome!r}")
        current = self.current(conversation_id)
        if current.state == BOT:
            raise OwnershipConflict(conversation_id)
        holder = actor.split(":", 1)[1] if actor.startswith("counsellor:") else None
        if current.state == COUNSELLOR and holder is not None:
            return self._change(conversation_id, COUNSELLOR, BOT, None, actor, outcome,
                                holder=holder)  # fmt: skip
        return self._change(conversation_id, current.state, BOT, None, actor, outcome)

    def queue(self) -> list[Owner]:
        """Conversations waiting, in the order counsellors should take them: emergencies
        first, then the longest waiting."""
        statement = (
            select(ConversationOwner)
            .where(ConversationOwner.state == QUEUED)
            .order_by(ConversationOwner.priority.desc(), ConversationOwner.since)
        )
        with self._transaction() as session:
            return [_owner(row) for row in session.scalars(statement)]

    def position(self, conversation_id: str) -> int | None:
        """1 for the next to be taken; None when not queued."""
        ids = [owner.conversation_id for owner in self.queue()]
        return ids.index(conversation_id) + 1 if conversation_id in ids else None

    def history(self, conversation_id: str) -> list[Change]:
        """Every move of the conversation, oldest first: the handoff's audit trail."""
        statement = (
            select(OwnerChange)
            .where(OwnerChange.conversation_id == conversation_id)
            .order_by(OwnerChange.id)
        )
        with self._transaction() as session:
            return [
                Change(c.from_state, c.to_state, c.counsellor_id, c.actor, c.why, c.at)
                for c in session.scalars(statement)
            ]

    def count(self, state: str) -> int:
        """How many conversations are in ``state``: the load at a glance (queued, held)."""
        statement = select(func.count()).where(ConversationOwner.state == state)
        with self._transaction() as session:
            return int(session.scalar(statement) or 0)

    def _change(
        self,
        conversation_id: str,
        from_state: str,
        to_state: str,
        counsellor_id: str | None,
        actor: str,
        why: str | None,
        *,
        holder: str | None = None,
    ) -> Owner:
        """One conditional move and its history line, in one transaction; OwnershipConflict
        when the conversation is no longer in ``from_state`` (held by ``holder``)."""
        now = self._clock()
        values: dict[str, object] = {"state": to_state, "counsellor_id": counsellor_id,
                                     "since": now}  # fmt: skip
        if to_state == BOT:
            values |= {"priority": False, "reason": None}
        with self._transaction() as session:
            if not _move(session, conversation_id, from_state, holder=holder, **values):
                raise OwnershipConflict(conversation_id)
            self._log(session, conversation_id, from_state, to_state,
                      counsellor_id or holder, actor, why, now)  # fmt: skip
            return _owner(session.get(ConversationOwner, conversation_id))

    @staticmethod
    def _log(
        session: Session,
        conversation_id: str,
        from_state: str,
        to_state: str,
        counsellor_id: str | None,
        actor: str,
        why: str | None,
        at: datetime,
    ) -> None:
        """The history line of a move, in the move's own transaction (both or neither)."""
        session.add(OwnerChange(conversation_id=conversation_id, from_state=from_state,
                                to_state=to_state, counsellor_id=counsellor_id, actor=actor,
                                why=why, at=at))  # fmt: skip


def _move(
    session: Session, conversation_id: str, from_state: str, *, holder: str | None = None,
    **values: object,
) -> bool:
    """The conditional update every move is: applies only if the state is still
    ``from_state`` (and held by ``holder``). True when it applied."""
    condition = [
        ConversationOwner.conversation_id == conversation_id,
        ConversationOwner.state == from_state,
    ]
    if holder is not None:
        condition.append(ConversationOwner.counsellor_id == holder)
    result = session.execute(
        update(ConversationOwner).where(*condition).values(**values),
        execution_options={"synchronize_session": False},
    )
    session.expire_all()
    return bool(result.rowcount)


def _owner(row: ConversationOwner) -> Owner:
    """The row as a plain value: callers use it after the session is closed."""
    return Owner(row.conversation_id, row.state, row.counsellor_id, bool(row.priority),
                 row.reason, row.since)  # fmt: skip
