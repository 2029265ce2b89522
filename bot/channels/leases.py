"""Which instance runs a conversation's turns now: a lease per conversation, in the database.

Several Rasa server instances share one database; a user's messages may reach any of them
(the reverse proxy picks). A conversation's messages must still be answered once each and in
the order they came: an instance runs a conversation's stored messages only while it holds
the conversation's lease, oldest first, then gives it back. Whoever stored a message and
could not take the lease leaves it: the holder looks for more before letting go, and again
just after (:meth:`bot.channels.inbound.TurnRunner.kick`).

A lease names its holder, a stable id per instance (``host:port``), and expires: a holder
that dies (SIGKILL, power cut) stops renewing, and after ``CONVERSATION_LEASE_S`` another
instance takes the conversation and its unanswered messages (:meth:`Leases.orphans`). An
instance that restarts under the same id gives back its own leases at once
(:meth:`Leases.release_all`); it never takes a live lease of another instance.

Rasa's lock store (Redis across instances) still guards each tracker write; it does not
order messages across instances (``../shared/FACTS.md``), this does.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Column, DateTime, String, and_, delete, exists, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from bot.channels.messages import InboundMessage
from bot.channels.rows import ChannelRows, as_utc, write
from bot.db.base import Base, utcnow

logger = logging.getLogger(__name__)

QUEUED = ("received", "processing")


def default_holder() -> str:
    """This process's id when ``INSTANCE_ID`` is not set: host and process id, unique but
    not stable, so after a crash its conversations wait for their leases to run out.
    ``make run`` and ``make serve`` give each instance a stable one (``host:port``)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class ConversationLease(Base):
    """The instance that runs a conversation's turns, until ``lease_until`` unless renewed."""

    __tablename__ = "conversation_leases"

    conversation_id = Column(String(40), primary_key=True)
    holder = Column(String(64), nullable=False)
    lease_until = Column(DateTime(timezone=True), nullable=False)


class Leases(ChannelRows):
    """Taking, renewing and giving back conversations, for one ``holder``."""

    def __init__(
        self,
        engine: Engine,
        holder: str,
        ttl: timedelta = timedelta(seconds=30),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        super().__init__(engine, clock)
        self.holder = holder[:64]
        self.ttl = ttl

    def acquire(self, conversation_id: str) -> bool:
        """Take the conversation (or keep it): False while another live holder has it."""
        now = self._now()
        with self._transaction() as session:
            taken = write(
                session,
                update(ConversationLease)
                .where(ConversationLease.conversation_id == conversation_id,
                       (ConversationLease.lease_until < now)
                       | (ConversationLease.holder == self.holder))
                .values(holder=self.holder, lease_until=now + self.ttl),
            )  # fmt: skip
            if taken:
                return True
        try:
            with self._transaction() as session:
                session.add(ConversationLease(conversation_id=conversation_id,
                                              holder=self.holder, lease_until=now + self.ttl))
            return True  # fmt: skip
        except IntegrityError:  # it exists and is someone else's, live
            return False

    def renew(self) -> int:
        """Push back the end of every lease this holder has (its heartbeat); how many."""
        with self._transaction() as session:
            return write(
                session,
                update(ConversationLease)
                .where(ConversationLease.holder == self.holder)
                .values(lease_until=self._now() + self.ttl),
            )

    def holds(self, conversation_id: str) -> bool:
        """This holder still has the conversation, renewed now; checked before each turn.
        A lease of ours that ran out while this process was busy (a slow database, a long
        pause) is still ours if nobody took it; False only when another holder has it."""
        now = self._now()
        with self._transaction() as session:
            return bool(write(
                session,
                update(ConversationLease)
                .where(ConversationLease.conversation_id == conversation_id,
                       (ConversationLease.holder == self.holder)
                       | (ConversationLease.lease_until < now))
                .values(holder=self.holder, lease_until=now + self.ttl),
            ))  # fmt: skip

    def release(self, conversation_id: str) -> None:
        with self._transaction() as session:
            session.execute(
                delete(ConversationLease).where(
                    ConversationLease.conversation_id == conversation_id,
                    ConversationLease.holder == self.holder,
                )
            )

    def release_all(self) -> int:
        """Give back every lease of this holder: at shutdown, and at start-up (a previous
        life of this instance held them; nothing of this process runs yet)."""
        with self._transaction() as session:
            return write(session, delete(ConversationLease)
                         .where(ConversationLease.holder == self.holder))  # fmt: skip

    def queued(self, conversation_id: str) -> list[InboundMessage]:
        """The conversation's messages not yet answered, oldest first."""
        with self._transaction() as session:
            return list(session.scalars(
                select(InboundMessage)
                .where(InboundMessage.conversation_id == conversation_id,
                       InboundMessage.status.in_(QUEUED))
                .order_by(InboundMessage.id)
            ))  # fmt: skip

    def orphans(self, channel: str, received_before: datetime) -> list[str]:
        """Conversations of ``channel`` with messages stored before ``received_before`` and
        not answered, that no live lease covers (their instance died, or stored them and
        died before taking the lease)."""
        now = self._now()
        live = exists().where(
            and_(ConversationLease.conversation_id == InboundMessage.conversation_id,
                 ConversationLease.lease_until >= now)
        )  # fmt: skip
        with self._transaction() as session:
            return sorted(session.scalars(
                select(InboundMessage.conversation_id)
                .where(InboundMessage.channel == channel,
                       InboundMessage.status.in_(QUEUED),
                       InboundMessage.received_at < as_utc(received_before),
                       ~live)
                .distinct()
            ))  # fmt: skip
