"""The people the channels talk to: one contact per address and channel, known to Rasa only by
a pseudonym.

The conversation id Rasa sees is a keyed HMAC of the address; the phone number or Telegram
chat id lives only in ``contacts.address``. Nothing here logs an address. Besides the address
a contact keeps what messages sent outside a Rasa turn need: her language, her country (it
chooses the emergency numbers), whether she opted out, and when she was last told she wrote
too much.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Boolean, Column, DateTime, String, UniqueConstraint, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.expression import ColumnElement

from bot.channels.rows import ChannelRows, write
from bot.db.base import Base, utcnow
from bot.db.transactions import session_factory

logger = logging.getLogger(__name__)

CHANNELS: tuple[str, ...] = ("sms", "telegram", "local")
# "local": the terminal chat and the local counsellor console of `make run` (no account).
_PREFIX = {"sms": "sms-", "telegram": "tg-", "local": "loc-"}
PSEUDONYM_CHARS = 26  # base32 characters of the digest: 130 bits


class Contact(Base):
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
    # Privacy: when she was told what is kept (first contact), and when she asked to be
    # forgotten and has not answered the confirmation yet.
    privacy_notice_at = Column(DateTime(timezone=True))
    erase_asked_at = Column(DateTime(timezone=True))
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    last_seen_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


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


def contact_view(contact: Contact) -> ContactView:
    """A row as a plain value, so that no caller holds an object bound to a session."""
    return ContactView(
        id=contact.id,
        channel=contact.channel,
        address=contact.address,
        country=contact.country,
        language=contact.language,
        opted_out=bool(contact.opted_out),
    )


class Contacts(ChannelRows):
    """The contacts' rows. Each method is one short transaction, correct when several server
    instances share the database: a duplicate insert fails and we re-read, and one-time
    claims are conditional UPDATEs whose row count says who won.

    Args:
        engine: from :func:`bot.db.database.make_engine` (which creates the tables).
        key: the secret behind pseudonyms; changing it orphans every conversation.
        clock: the time source (a fixed clock in tests).
    """

    def __init__(self, engine: Engine, key: bytes, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(engine, clock)
        self._key = key

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
                return contact_view(row)
        except IntegrityError:
            # Another instance created her between our read and our insert.
            found = self._touch(contact_id, country)
            if found is None:
                raise
            return found

    def _touch(self, contact_id: str, country: str | None) -> ContactView | None:
        """Mark a known contact as seen (and fill a missing country); None if she is new."""
        with self._transaction() as session:
            values: dict[str, object] = {"last_seen_at": self._now()}
            if not write(session, update(Contact).where(Contact.id == contact_id).values(**values)):
                return None
            if country:
                write(
                    session,
                    update(Contact)
                    .where(Contact.id == contact_id, Contact.country.is_(None))
                    .values(country=country),
                )
            row = session.scalars(select(Contact).where(Contact.id == contact_id)).one()
            return contact_view(row)

    def contact_by_id(self, conversation_id: str) -> ContactView | None:
        """The contact of a conversation id, or None (e.g. a REST or terminal conversation)."""
        with self._transaction() as session:
            row = session.get(Contact, conversation_id)
            return contact_view(row) if row is not None else None

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
        self, conversation_id: str, condition: ColumnElement | None, values: dict[str, object]
    ) -> None:
        """One UPDATE of her row, only while ``condition`` holds (if given)."""
        statement = update(Contact).where(Contact.id == conversation_id)
        if condition is not None:
            statement = statement.where(condition)
        with self._transaction() as session:
            write(session, statement.values(**values))

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
            return write(session, statement) == 1


def remember_country(engine: Engine, conversation_id: str, country: str) -> None:
    """The country she gave in a conversation (the action server, which has no pseudonym
    key): kept with her contact, if she has one, for the next emergency and the relay."""
    with session_factory(engine).begin() as session:
        write(session, update(Contact).where(Contact.id == conversation_id)
              .values(country=country.upper()))  # fmt: skip
