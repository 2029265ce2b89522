"""The people the channels talk to: one contact per address and channel, known to Rasa only by
a pseudonym.

The conversation id Rasa sees is a keyed HMAC of the address; the phone number or Telegram
chat id lives only in ``contacts.address``, encrypted at rest (:mod:`bot.db.crypto`). Since
ciphertext cannot be compared, a contact is found by ``address_hash``, an HMAC of
"channel:address" under ``PSEUDONYM_KEY``, unique per channel. Nothing here logs an address.
Besides the address a contact keeps what messages sent outside a Rasa turn need: her
language, her country (it chooses the emergency numbers), whether she opted out, and when she
was last told she wrote too much.

Changing ``PSEUDONYM_KEY`` never locks her out: she is looked up under the current key, then
under each previous one (``PSEUDONYM_KEYS_PREVIOUS``), by hash or by conversation id; found,
her row's hash is re-keyed to the current key and her conversation goes on under the same id.
Found under no key she becomes a new contact (a new conversation), never an error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Boolean, Column, DateTime, String, UniqueConstraint, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import ColumnElement

from bot.channels.rows import ChannelRows, as_utc, write
from bot.db.base import Base, utcnow
from bot.db.crypto import EncryptedText
from bot.db.transactions import session_factory

logger = logging.getLogger(__name__)

CHANNELS: tuple[str, ...] = ("sms", "telegram", "local")
# "local": the terminal chat and the local counsellor console of `make run` (no account).
_PREFIX = {"sms": "sms-", "telegram": "tg-", "local": "loc-"}
PSEUDONYM_CHARS = 26  # base32 characters of the digest: 130 bits
MAX_ADDRESS = 64  # a phone number in E.164, a Telegram chat id: far less
LOOKUP_ATTEMPTS = 4  # a lookup that lost this many races in a row (re-key, insert) gives up


class Contact(Base):
    """One person on one channel. ``id`` is the pseudonym Rasa knows her by."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("channel", "address_hash", name="uq_contacts_channel_address_hash"),
    )

    id = Column(String(40), primary_key=True)
    channel = Column(String(16), nullable=False)
    address = Column(EncryptedText, nullable=False)  # the only place the real address lives
    country = Column(String(2))
    language = Column(String(8))
    opted_out = Column(Boolean, nullable=False, default=False)
    opted_out_at = Column(DateTime(timezone=True))
    rate_notice_at = Column(DateTime(timezone=True))
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    last_seen_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    # Columns in the order the revisions added them (a migrated table is then exactly
    # what create_all makes: tests/db/test_migrations.py).
    # Privacy (0006): when she was told what is kept (first contact), and when she asked to
    # be forgotten and has not answered the confirmation yet.
    privacy_notice_at = Column(DateTime(timezone=True))
    erase_asked_at = Column(DateTime(timezone=True))
    # How she is found (0007): address_hash(PSEUDONYM_KEY, channel, address). NULL on rows
    # older than 0007, filled by their first lookup or `privacy rotate-pseudonym-key`.
    address_hash = Column(String(64))


@dataclass(frozen=True)
class ContactView:
    """A contact as read, detached from any session (safe to pass between threads)."""

    id: str
    channel: str
    address: str = field(repr=False)  # kept out of reprs, hence out of tracebacks and logs
    country: str | None
    language: str | None
    opted_out: bool
    privacy_noticed: bool = False  # told what is kept (first contact)
    erase_asked_at: datetime | None = None  # "forget me" waiting for her yes


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


def address_hash(key: bytes, channel: str, address: str) -> str:
    """How a contact is found without reading addresses (which are encrypted): the HMAC of
    "channel:address" under the pseudonym key, in hex."""
    if not key:
        raise ValueError("a pseudonym key is required (PSEUDONYM_KEY)")
    return hmac.new(key, f"{channel}:{address}".encode(), hashlib.sha256).hexdigest()


def contact_view(contact: Contact) -> ContactView:
    """A row as a plain value, so that no caller holds an object bound to a session."""
    return ContactView(
        id=contact.id,
        channel=contact.channel,
        address=contact.address,
        country=contact.country,
        language=contact.language,
        opted_out=bool(contact.opted_out),
        privacy_noticed=contact.privacy_notice_at is not None,
        erase_asked_at=as_utc(contact.erase_asked_at) if contact.erase_asked_at else None,
    )


class Contacts(ChannelRows):
    """The contacts' rows. Each method is one short transaction, correct when several server
    instances share the database: a duplicate insert fails and we look again, and one-time
    claims (a re-key included) are conditional UPDATEs whose row count says who won.

    Args:
        engine: from :func:`bot.db.database.make_engine` (which creates the tables).
        key: the secret behind pseudonyms and address hashes (``PSEUDONYM_KEY``).
        clock: the time source (a fixed clock in tests).
        previous_keys: the keys ``key`` replaced, newest first (``PSEUDONYM_KEYS_PREVIOUS``):
            a returning user hashed under one of them is still found, and re-keyed.
    """

    def __init__(
        self,
        engine: Engine,
        key: bytes,
        clock: Callable[[], datetime] = utcnow,
        previous_keys: Sequence[bytes] = (),
    ) -> None:
        super().__init__(engine, clock)
        self._key = key
        self._previous = tuple(k for k in dict.fromkeys(previous_keys) if k and k != key)

    def pseudonym(self, channel: str, address: str) -> str:
        """The conversation id for ``address`` on ``channel`` (no database access)."""
        return pseudonym(self._key, channel, address)

    def address_hash(self, channel: str, address: str) -> str:
        """The lookup hash of ``address`` under the current key (no database access)."""
        return address_hash(self._key, channel, address)

    def contact(self, channel: str, address: str, *, country: str | None = None) -> ContactView:
        """The contact behind ``address``, created on first contact; marks her as seen.

        ``country`` fills a missing country only: a country she chose is never overwritten.
        Two instances creating the same contact at once both get the one row; a contact
        found under a previous pseudonym key keeps her id (her conversation) and is
        re-keyed to the current one.
        """
        if not address or len(address) > MAX_ADDRESS:
            raise ValueError(f"an address of 1 to {MAX_ADDRESS} characters is required")
        current = self.address_hash(channel, address)
        country = country.upper() if country else None
        for _ in range(LOOKUP_ATTEMPTS):
            try:
                with self._transaction() as session:
                    found = self._find(session, channel, address, current)
                    if found is not None:
                        contact_id, old_hash = found
                        rekey = None if old_hash == current else (old_hash, current)
                        view = self._touch(session, contact_id, country, rekey)
                if found is None:
                    view = self._create(channel, address, current, country)
            except IntegrityError:
                # Another instance created her, or took the hash, between our read and our
                # write: look again.
                view = None
            if view is not None:
                return view
        raise RuntimeError(f"no {channel} contact after {LOOKUP_ATTEMPTS} lookups (races)")

    def _find(
        self, session: Session, channel: str, address: str, current: str
    ) -> tuple[str, str | None] | None:
        """Her row's (id, address_hash), or None if she is new.

        One query over every key (current first): by hash, or by id, which is the pseudonym
        of her address under the key her row was made with (rows older than address hashes
        have none). Of several rows (she became a new contact while a previous key was not
        configured), the one under the current key, else the newest key's."""
        keys = (self._key, *self._previous)
        hashes = [address_hash(k, channel, address) for k in keys]
        ids = [pseudonym(k, channel, address) for k in keys]
        statement = select(Contact.id, Contact.address_hash).where(
            Contact.channel == channel,
            or_(Contact.address_hash.in_(hashes), Contact.id.in_(ids)),
        )
        rows = [(str(i), h) for i, h in session.execute(statement).all()]

        def rank(row: tuple[str, str | None]) -> int:
            if row[1] in hashes:
                return hashes.index(row[1])
            return len(hashes) + (ids.index(row[0]) if row[0] in ids else len(ids))

        return min(rows, key=rank) if rows else None

    def _create(
        self, channel: str, address: str, current: str, country: str | None
    ) -> ContactView:
        """Her new row; IntegrityError when another instance made it first."""
        with self._transaction() as session:
            now = self._now()
            row = Contact(
                id=self.pseudonym(channel, address),
                channel=channel,
                address=address,
                address_hash=current,
                country=country,
                opted_out=False,
                created_at=now,
                last_seen_at=now,
            )
            session.add(row)
            session.flush()
            logger.debug("New %s contact %s.", channel, row.id)
            return contact_view(row)

    def _touch(
        self,
        session: Session,
        contact_id: str,
        country: str | None,
        rekey: tuple[str | None, str] | None = None,
    ) -> ContactView | None:
        """Mark a known contact as seen (and fill a missing country); None if her row is gone
        or, with ``rekey`` (old hash, new hash), if another instance re-keyed it first."""
        values: dict[str, object] = {"last_seen_at": self._now()}
        statement = update(Contact).where(Contact.id == contact_id)
        if rekey is not None:
            old, values["address_hash"] = rekey
            statement = statement.where(
                Contact.address_hash.is_(None) if old is None else Contact.address_hash == old
            )
        if not write(session, statement.values(**values)):
            return None
        if rekey is not None:
            logger.info("Contact %s re-keyed to the current pseudonym key.", contact_id)
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
