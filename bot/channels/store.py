"""What the SMS and Telegram channels keep: contacts, messages, delivery reports, buttons.

:class:`ChannelStore` is the one place that changes these rows. Each method is one short
transaction and stays correct on SQLite and PostgreSQL when several server instances share
the database: uniqueness is left to the database (a duplicate insert fails and we re-read),
and one-time claims are conditional UPDATEs whose row count says who won.

The conversation id Rasa sees is a pseudonym (a keyed HMAC of the address); the phone number
or Telegram chat id lives only in ``contacts.address``. Nothing here logs an address or a
message text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.expression import Executable

from bot.db.base import Base, utcnow

logger = logging.getLogger(__name__)

CHANNELS: tuple[str, ...] = ("sms", "telegram", "local")
# "local": the terminal chat and the local counsellor console of `make run` (no account).
_PREFIX = {"sms": "sms-", "telegram": "tg-", "local": "loc-"}
PSEUDONYM_CHARS = 26  # base32 characters of the digest: 130 bits

KINDS = frozenset(
    {"text", "media", "voice", "location", "sticker", "empty", "callback", "command", "other",
     "staff"}
)  # fmt: skip
INBOUND_STATUSES = frozenset(
    {"received", "processing", "done", "failed", "rate_limited", "opted_out", "ignored",
     "interrupted", "relayed", "relay_pending", "held", "console", "emergency"}
)  # fmt: skip
# Delivery only moves forward: a late "sent" never undoes "delivered"; failures are final.
_RANK = {
    "pending": 0,
    "queued": 1,
    "sent": 2,
    "delivered": 3,
    "undelivered": 4,
    "failed": 4,
    "blocked": 4,
}
OUTBOUND_STATUSES = frozenset(_RANK)
# A provider's report in our words (Twilio's statuses; Telegram reports nothing after "sent").
_REPORTED = {
    "accepted": "queued",
    "scheduled": "queued",
    "queued": "queued",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
    "canceled": "failed",
}
# INSERT ... ON CONFLICT DO UPDATE, which both supported databases have.
_UPSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


class Contact(Base):  # type: ignore[misc,valid-type]
    """One person on one channel. ``id`` is the pseudonym Rasa knows her by."""

    __tablename__ = "contacts"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_contacts_channel_address"),)

    id = Column(String(40), primary_key=True)
    channel = Column(String(16), nullable=False)
    address = Column(String(64), nullable=False)  # the only place the real address lives
    country = Column(String(2))
    language = Column(String(8))
    opted_out = Column(Boolean, nullable=False, default=False)
    opted_out_at = Column(DateTime(timezone=True))
    rate_notice_at = Column(DateTime(timezone=True))
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    last_seen_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class InboundMessage(Base):  # type: ignore[misc,valid-type]
    """A message as the provider delivered it; (channel, provider_id) recognises redeliveries,
    also after a restart."""

    __tablename__ = "inbound_messages"
    __table_args__ = (
        UniqueConstraint("channel", "provider_id", name="uq_inbound_channel_provider"),
        Index("ix_inbound_conversation_received", "conversation_id", "received_at"),
    )

    id = Column(Integer, primary_key=True)
    channel = Column(String(16), nullable=False)
    provider_id = Column(String(64), nullable=False)  # Twilio MessageSid, Telegram update_id
    conversation_id = Column(String(40), nullable=False)  # indexed with received_at
    kind = Column(String(16), nullable=False)
    text = Column(Text)
    received_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    status = Column(String(16), nullable=False, default="received")
    error = Column(String(200))  # an exception class name, never its message


class OutboundMessage(Base):  # type: ignore[misc,valid-type]
    """A message we send: a row first, then the provider call, then delivery reports."""

    __tablename__ = "outbound_messages"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(40), nullable=False, index=True)
    channel = Column(String(16), nullable=False)
    provider_id = Column(String(64), index=True)
    text = Column(Text, nullable=False)
    status = Column(String(16), nullable=False, default="pending")
    error_code = Column(String(16))
    segments = Column(Integer)
    encoding = Column(String(8))
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    updated_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class StatusEvent(Base):  # type: ignore[misc,valid-type]
    """Every delivery report as received (Twilio sends several per message, in any order)."""

    __tablename__ = "delivery_status_events"
    __table_args__ = (Index("ix_status_events_channel_provider", "channel", "provider_id"),)

    id = Column(Integer, primary_key=True)
    channel = Column(String(16), nullable=False)
    provider_id = Column(String(64), nullable=False)
    status = Column(String(16), nullable=False)  # the provider's word
    error_code = Column(String(16))
    at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class ButtonChoice(Base):  # type: ignore[misc,valid-type]
    """The buttons last offered to a conversation: "2" by SMS or a Telegram callback picks one."""

    __tablename__ = "button_choices"
    __table_args__ = (PrimaryKeyConstraint("conversation_id", "position"),)

    conversation_id = Column(String(40), nullable=False)
    position = Column(Integer, nullable=False)  # 1-based, as the user reads it
    title = Column(String(200), nullable=False)
    payload = Column(Text, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


@dataclass(frozen=True)
class ContactView:
    """A contact as read, detached from any session (safe to pass between threads)."""

    id: str
    channel: str
    address: str = field(repr=False)  # kept out of reprs, hence out of tracebacks and logs
    country: str | None
    language: str | None
    opted_out: bool


def pseudonym(key: bytes, channel: str, address: str) -> str:
    """The conversation id of ``address``: stable, and not reversible without ``key`` (phone
    numbers are few enough to enumerate, so a plain hash would not hide them)."""
    if not key:
        raise ValueError("a pseudonym key is required (PSEUDONYM_KEY)")
    if channel not in _PREFIX:
        raise ValueError(f"unknown channel {channel!r}")
    digest = hmac.new(key, f"{channel}:{address}".encode(), hashlib.sha256).digest()
    encoded = base64.b32encode(digest).decode("ascii").lower()
    return _PREFIX[channel] + encoded[:PSEUDONYM_CHARS]


def _utc(moment: datetime) -> datetime:
    """Aware UTC: SQLite stores wall-clock text, so every stored time must be in one zone."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def _write(session: Session, statement: Executable) -> int:
    """Run a bulk UPDATE or DELETE and return its row count. Nothing is loaded in these short
    sessions, so there is no object to synchronise."""
    result = session.execute(statement, execution_options={"synchronize_session": False})
    return int(result.rowcount)  # type: ignore[attr-defined]


def _view(contact: Contact) -> ContactView:
    return ContactView(
        id=contact.id,
        channel=contact.channel,
        address=contact.address,
        country=contact.country,
        language=contact.language,
        opted_out=bool(contact.opted_out),
    )


class ChannelStore:
    """The channels' rows, changed only here.

    Args:
        engine: from :func:`bot.db.database.make_engine` (which creates the tables).
        key: the secret behind pseudonyms; changing it orphans every conversation.
        clock: the time source (a fixed clock in tests).
    """

    def __init__(self, engine: Engine, key: bytes, clock: Callable[[], datetime] = utcnow) -> None:
        self._engine = engine
        self._key = key
        self._clock = clock
        self._sessions = sessionmaker(engine, future=True, expire_on_commit=False)

    @property
    def engine(self) -> Engine:
        """The database, for services that keep their own tables beside these."""
        return self._engine

    def _now(self) -> datetime:
        return _utc(self._clock())

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    # Contacts

    def pseudonym(self, channel: str, address: str) -> str:
        """The conversation id for ``address`` on ``channel`` (no database access)."""
        return pseudonym(self._key, channel, address)

    def contact(self, channel: str, address: str, *, country: str | None = None) -> ContactView:
        """The contact behind ``address``, created on first contact; marks her as seen.

        ``country`` fills a missing country only: a country she chose is never overwritten.
        Two instances creating the same contact at once both get the one row.
        """
        if not address or len(address) > 64:
            raise ValueError("an address of 1 to 64 characters is required")
        contact_id = self.pseudonym(channel, address)
        country = country.upper() if country else None
        found = self._touch(contact_id, country)
        if found is not None:
            return found
        try:
            with self._transaction() as session:
                now = self._now()
                row = Contact(
                    id=contact_id,
                    channel=channel,
                    address=address,
                    country=country,
                    opted_out=False,
                    created_at=now,
                    last_seen_at=now,
                )
                session.add(row)
                session.flush()
                logger.debug("New %s contact %s.", channel, contact_id)
                return _view(row)
        except IntegrityError:
            # Another instance created her between our read and our insert.
            found = self._touch(contact_id, country)
            if found is None:
                raise
            return found

    def _touch(self, contact_id: str, country: str | None) -> ContactView | None:
        with self._transaction() as session:
            values: dict[str, object] = {"last_seen_at": self._now()}
            if not _write(
                session, update(Contact).where(Contact.id == contact_id).values(**values)
            ):
                return None
            if country:
                _write(
                    session,
                    update(Contact)
                    .where(Contact.id == contact_id, Contact.country.is_(None))
                    .values(country=country),
                )
            row = session.scalars(select(Contact).where(Contact.id == contact_id)).one()
            return _view(row)

    def contact_by_id(self, conversation_id: str) -> ContactView | None:
        """The contact of a conversation id, or None (e.g. a REST or terminal conversation)."""
        with self._transaction() as session:
            row = session.get(Contact, conversation_id)
            return _view(row) if row is not None else None

    def set_opted_out(self, conversation_id: str, opted_out: bool) -> None:
        """STOP / START, a Twilio 21610 or a blocked bot. Keeps the time of the first STOP."""
        values: dict[str, object] = {"opted_out": opted_out}
        values["opted_out_at"] = self._now() if opted_out else None
        self._update_contact(conversation_id, Contact.opted_out != opted_out, values)

    def set_language(self, conversation_id: str, language: str | None) -> None:
        """The conversation language, for messages sent outside a Rasa turn."""
        self._update_contact(conversation_id, None, {"language": language})

    def set_country(self, conversation_id: str, country: str | None) -> None:
        """The country she gave (it chooses the emergency numbers)."""
        self._update_contact(
            conversation_id, None, {"country": country.upper() if country else None}
        )

    def _update_contact(
        self, conversation_id: str, condition: object, values: dict[str, object]
    ) -> None:
        statement = update(Contact).where(Contact.id == conversation_id)
        if condition is not None:
            statement = statement.where(condition)
        with self._transaction() as session:
            _write(session, statement.values(**values))

    def claim_rate_notice(self, conversation_id: str, window: timedelta) -> bool:
        """True for the one caller that may send the "too many messages" notice this window.

        A single conditional UPDATE: of two instances racing, only one changes the row.
        """
        now = self._now()
        statement = (
            update(Contact)
            .where(
                Contact.id == conversation_id,
                or_(Contact.rate_notice_at.is_(None), Contact.rate_notice_at < now - window),
            )
            .values(rate_notice_at=now)
        )
        with self._transaction() as session:
            return _write(session, statement) == 1

    # Inbound messages

    def record_inbound(
        self,
        channel: str,
        provider_id: str,
        conversation_id: str,
        kind: str,
        text: str | None,
    ) -> int | None:
        """The new row's id, or None when the provider already delivered this message."""
        if kind not in KINDS:
            raise ValueError(f"unknown message kind {kind!r}")
        row = InboundMessage(
            channel=channel,
            provider_id=str(provider_id),
            conversation_id=conversation_id,
            kind=kind,
            text=text,
            received_at=self._now(),
            status="received",
        )
        try:
            with self._transaction() as session:
                session.add(row)
                session.flush()
                return int(row.id)
        except IntegrityError:
            logger.debug("Duplicate %s message %s.", channel, provider_id)
            return None

    def set_inbound_status(self, inbound_id: int, status: str, error: str | None = None) -> None:
        """Where a message's turn got to; ``error`` is an exception class name, never text."""
        if status not in INBOUND_STATUSES:
            raise ValueError(f"unknown inbound status {status!r}")
        with self._transaction() as session:
            _write(
                session,
                update(InboundMessage)
                .where(InboundMessage.id == inbound_id)
                .values(status=status, error=error[:200] if error else None),
            )

    def inbound_count_since(
        self, conversation_id: str, since: datetime, *, up_to: int | None = None
    ) -> int:
        """Messages from a conversation since ``since`` (the rate limit), ignored ones aside;
        with ``up_to``, only those stored before and including that row: a burst is judged
        in arrival order, whatever order the turns run in."""
        statement = select(func.count(InboundMessage.id)).where(
            InboundMessage.conversation_id == conversation_id,
            InboundMessage.received_at >= _utc(since),
            InboundMessage.status != "ignored",
        )
        if up_to is not None:
            statement = statement.where(InboundMessage.id <= up_to)
        with self._transaction() as session:
            return int(session.scalar(statement) or 0)

    def pending(
        self, channel: str, older_than: datetime
    ) -> list[tuple[int, str, str, str | None, str]]:
        """Messages a stopped process accepted but never finished: (row, conversation, kind,
        text, provider id), in arrival order. A handoff relays them after a restart."""
        statement = (
            select(InboundMessage.id, InboundMessage.conversation_id, InboundMessage.kind,
                   InboundMessage.text, InboundMessage.provider_id)
            .where(InboundMessage.channel == channel,
                   InboundMessage.status.in_(("received", "processing")),
                   InboundMessage.received_at < _utc(older_than))
            .order_by(InboundMessage.id)
        )  # fmt: skip
        with self._transaction() as session:
            return [(int(i), c, k, t, p) for i, c, k, t, p in session.execute(statement).all()]

    def interrupt_pending(self, channel: str, older_than: datetime) -> list[str]:
        """Mark what a stopped process left unfinished on ``channel`` as "interrupted" (kept,
        never replayed out of context); the conversations concerned, each once."""
        pending = (
            InboundMessage.channel == channel,
            InboundMessage.status.in_(("received", "processing")),
            InboundMessage.received_at < _utc(older_than),
        )
        with self._transaction() as session:
            which = select(InboundMessage.conversation_id).where(*pending).distinct()
            ids = sorted(session.scalars(which))
            _write(session, update(InboundMessage).where(*pending).values(status="interrupted"))
        return ids

    def recent_texts(
        self, conversation_id: str, limit: int, direction: str | None = None
    ) -> list[tuple[str, str]]:
        """The last ``limit`` texts of a conversation, oldest first, as ("user" | "bot",
        text): the context a counsellor gets with a request (texts only, no address)."""
        found: list[tuple[datetime, int, str, str]] = []
        with self._transaction() as session:
            if direction in (None, "user"):
                rows = session.execute(
                    select(InboundMessage.received_at, InboundMessage.id, InboundMessage.text)
                    .where(InboundMessage.conversation_id == conversation_id,
                           InboundMessage.text.is_not(None), InboundMessage.text != "")
                    .order_by(InboundMessage.id.desc()).limit(limit)
                ).all()  # fmt: skip
                found += [(_utc(at), i, "user", text) for at, i, text in rows]
            if direction in (None, "bot"):
                rows = session.execute(
                    select(OutboundMessage.created_at, OutboundMessage.id, OutboundMessage.text)
                    .where(OutboundMessage.conversation_id == conversation_id)
                    .order_by(OutboundMessage.id.desc()).limit(limit)
                ).all()  # fmt: skip
                found += [(_utc(at), i, "bot", text) for at, i, text in rows]
        found.sort()
        return [(who, text) for _, _, who, text in found[-limit:]]

    def outbound_after(self, conversation_id: str, after_id: int) -> list[tuple[int, str]]:
        """What was sent to a conversation after row ``after_id`` (the local channel's
        terminal reads its messages this way)."""
        statement = (
            select(OutboundMessage.id, OutboundMessage.text)
            .where(OutboundMessage.conversation_id == conversation_id,
                   OutboundMessage.id > after_id)
            .order_by(OutboundMessage.id)
        )  # fmt: skip
        with self._transaction() as session:
            return [(int(i), text) for i, text in session.execute(statement).all()]

    # Outbound messages and delivery reports

    def record_outbound(
        self,
        conversation_id: str,
        channel: str,
        text: str,
        *,
        segments: int | None = None,
        encoding: str | None = None,
    ) -> int:
        """A message about to be sent, as a "pending" row: a failed send stays visible."""
        now = self._now()
        row = OutboundMessage(
            conversation_id=conversation_id,
            channel=channel,
            text=text,
            status="pending",
            segments=segments,
            encoding=encoding,
            created_at=now,
            updated_at=now,
        )
        with self._transaction() as session:
            session.add(row)
            session.flush()
            return int(row.id)

    def mark_outbound(
        self,
        outbound_id: int,
        status: str,
        *,
        provider_id: str | None = None,
        error_code: str | None = None,
    ) -> None:
        """What the provider's API answered. Reports that came before its id was known (a fast
        Twilio callback) are applied now, so the row ends at its furthest status."""
        if status not in OUTBOUND_STATUSES:
            raise ValueError(f"unknown outbound status {status!r}")
        values: dict[str, object] = {"status": status, "updated_at": self._now()}
        if provider_id is not None:
            values["provider_id"] = str(provider_id)
        if error_code is not None:
            values["error_code"] = str(error_code)[:16]
        with self._transaction() as session:
            _write(
                session,
                update(OutboundMessage).where(OutboundMessage.id == outbound_id).values(**values),
            )
            channel = session.scalar(
                select(OutboundMessage.channel).where(OutboundMessage.id == outbound_id)
            )
        if provider_id is None or channel is None:
            return
        # A second transaction: a report committed after the first one is applied by
        # record_status itself (it now finds the provider id), one committed before it is seen
        # here; either way none is lost.
        with self._transaction() as session:
            events = session.execute(
                select(StatusEvent.status, StatusEvent.error_code)
                .where(StatusEvent.channel == channel, StatusEvent.provider_id == str(provider_id))
                .order_by(StatusEvent.id)
            ).all()
            for reported, code in events:
                self._advance(
                    session, OutboundMessage.id == outbound_id, _REPORTED.get(reported), code
                )

    def record_status(
        self, channel: str, provider_id: str, status: str, error_code: str | None = None
    ) -> bool:
        """Keep a delivery report and move the message forward; False for an unknown message."""
        code = str(error_code)[:16] if error_code else None
        # The report is committed on its own first (see mark_outbound).
        with self._transaction() as session:
            session.add(
                StatusEvent(
                    channel=channel,
                    provider_id=str(provider_id),
                    status=status[:16],
                    error_code=code,
                    at=self._now(),
                )
            )
        match = (OutboundMessage.channel == channel) & (
            OutboundMessage.provider_id == str(provider_id)
        )
        with self._transaction() as session:
            self._advance(session, match, _REPORTED.get(status), code)
            found = session.scalar(select(func.count(OutboundMessage.id)).where(match))
        return bool(found)

    def _advance(
        self, session: Session, match: object, status: str | None, error_code: str | None
    ) -> None:
        """Move matching rows to ``status`` only from an earlier one, in one UPDATE (so two
        reports handled at once by two instances cannot move a row backwards)."""
        if status is None:
            return
        earlier = [s for s, rank in _RANK.items() if rank < _RANK[status]]
        values: dict[str, object] = {"status": status, "updated_at": self._now()}
        if error_code:
            values["error_code"] = error_code
        _write(
            session,
            update(OutboundMessage)
            .where(match, OutboundMessage.status.in_(earlier))
            .values(**values),
        )

    def outbound_conversation(self, channel: str, provider_id: str) -> str | None:
        """The conversation a sent message belongs to (a Twilio report names only the SID)."""
        statement = (
            select(OutboundMessage.conversation_id)
            .where(
                OutboundMessage.channel == channel,
                OutboundMessage.provider_id == str(provider_id),
            )
            .limit(1)
        )
        with self._transaction() as session:
            return session.scalar(statement)

    # Buttons

    def set_buttons(self, conversation_id: str, buttons: Sequence[tuple[str, str]]) -> None:
        """Replace the buttons offered to a conversation with ``(title, payload)`` pairs.

        An upsert by position, then a delete of the positions left over: two instances
        replacing them at once queue on the first row, and the last one wins whole (a delete
        then insert would fail one of them on the primary key).
        """
        now = self._now()
        rows = [
            {
                "conversation_id": conversation_id,
                "position": position,
                "title": title[:200],
                "payload": payload,
                "created_at": now,
            }
            for position, (title, payload) in enumerate(buttons, start=1)
        ]
        with self._transaction() as session:
            if rows:
                insert = _UPSERTS[self._engine.dialect.name](ButtonChoice).values(rows)
                session.execute(
                    insert.on_conflict_do_update(
                        index_elements=["conversation_id", "position"],
                        set_={
                            "title": insert.excluded.title,
                            "payload": insert.excluded.payload,
                            "created_at": insert.excluded.created_at,
                        },
                    )
                )
            _write(
                session,
                delete(ButtonChoice).where(
                    ButtonChoice.conversation_id == conversation_id,
                    ButtonChoice.position > len(rows),
                ),
            )

    def button_payload(self, conversation_id: str, position: int) -> str | None:
        """The payload of button ``position`` (1-based, as shown), or None."""
        choice = self.button_choice(conversation_id, position)
        return choice[1] if choice else None

    def button_choice(self, conversation_id: str, position: int) -> tuple[str, str] | None:
        """Button ``position`` as it was shown: (title, payload), or None."""
        with self._transaction() as session:
            row = session.get(ButtonChoice, (conversation_id, position))
            return (row.title, row.payload) if row is not None else None

    def clear_buttons(self, conversation_id: str) -> None:
        with self._transaction() as session:
            _write(
                session,
                delete(ButtonChoice).where(ButtonChoice.conversation_id == conversation_id),
            )


def remember_country(engine: Engine, conversation_id: str, country: str) -> None:
    """The country she gave in a conversation (the action server, which has no pseudonym
    key): kept with her contact, if she has one, for the next emergency and the relay."""
    with Session(engine, future=True) as session, session.begin():
        _write(session, update(Contact).where(Contact.id == conversation_id)
               .values(country=country.upper()))  # fmt: skip
