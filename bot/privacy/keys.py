"""Rotating the keys that protect what we keep, without locking anyone out.

Two keys, two rotations:

- **Data keys** (``DATA_KEYS``, Fernet, newest first) encrypt addresses and message texts in
  our tables (:mod:`bot.db.crypto`). After a new key is put in front, :func:`reencrypt`
  re-encrypts, a batch at a time, every value still in plaintext (written before encryption
  or without a key) or under an older key; the periodic privacy worker runs it under a lease,
  ``python -m bot privacy rotate-data-keys`` runs it to the end. An older key may leave
  ``DATA_KEYS`` once :func:`pending_reencryption` says nothing is left.
- **The pseudonym key** (``PSEUDONYM_KEY``) hashes addresses for lookups (and made the
  conversation ids, which never change). After a new key, the old one goes to
  ``PSEUDONYM_KEYS_PREVIOUS``: a returning user is found under it and re-keyed on her next
  message (:class:`bot.channels.contacts.Contacts`); :func:`rotate_pseudonym_key` re-keys
  every contact at once, after which the previous key may go.

Each write is conditional on the value read (an UPDATE that a concurrent change makes a
no-op), so both run beside live traffic and beside each other. Nothing here logs or returns a
value: counts only.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Table, Text, and_, func, literal, not_, select, type_coerce, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql.expression import ColumnElement

from bot.channels.contacts import Contact, address_hash
from bot.channels.messages import InboundMessage, OutboundMessage
from bot.db.crypto import PREFIX, Keyring, keyring_of
from bot.handoff.models import HandoffMessage
from bot.safety.review import SafetyReview

logger = logging.getLogger(__name__)

# Every encrypted column (bot.db.crypto.EncryptedText) as (table, column); a test checks that
# the models declare no other.
ENCRYPTED: tuple[tuple[Table, str], ...] = (
    (Contact.__table__, "address"),
    (InboundMessage.__table__, "text"),
    (InboundMessage.__table__, "details"),
    (OutboundMessage.__table__, "text"),
    (HandoffMessage.__table__, "text"),
    (SafetyReview.__table__, "text"),
)
BATCH = 500


def _name(table: Table, column: str) -> str:
    return f"{table.name}.{column}"


def _stale(table: Table, column: str, keyring: Keyring) -> ColumnElement:
    """Values not under the newest key: plaintext, or another key's (read as stored)."""
    raw = type_coerce(table.c[column], Text)
    return and_(
        table.c[column].is_not(None), raw != "", not_(raw.like(f"{PREFIX}{keyring.current}:%"))
    )


def reencrypt(engine: Engine, batch: int = BATCH) -> dict[str, int]:
    """One pass: up to ``batch`` values of each encrypted column that are plaintext or under
    an older key, encrypted with the newest key. The counts per ``table.column``; all zero
    when nothing is left, or when ``engine`` has no keyring (no ``DATA_KEYS``: nothing to
    encrypt with). Call it again until it returns zeros: each pass leaves fewer.

    Raises:
        bot.db.crypto.DataKeyError: a value is under a key no longer in ``DATA_KEYS``.
    """
    keyring = keyring_of(engine.dialect)
    counts = {_name(table, column): 0 for table, column in ENCRYPTED}
    if keyring is None:
        return counts
    for table, column in ENCRYPTED:
        raw = type_coerce(table.c[column], Text)
        with engine.begin() as connection:
            rows = connection.execute(
                select(table.c.id, raw).where(_stale(table, column, keyring))
                .order_by(table.c.id).limit(batch)
            ).all()  # fmt: skip
            for row_id, stored in rows:
                fresh = keyring.reencrypt(stored)
                done = connection.execute(
                    update(table)
                    .where(table.c.id == row_id, raw == stored)  # unchanged since read
                    .values({column: literal(fresh, Text)})
                )
                counts[_name(table, column)] += int(done.rowcount or 0)
    if any(counts.values()):
        logger.info("Re-encrypted with the newest data key: %s.", counts)
    return counts


def pending_reencryption(engine: Engine) -> dict[str, int]:
    """How many values of each encrypted column are plaintext or under an older key (all
    zero without a keyring: nothing can be encrypted)."""
    keyring = keyring_of(engine.dialect)
    counts = {_name(table, column): 0 for table, column in ENCRYPTED}
    if keyring is None:
        return counts
    with engine.connect() as connection:
        for table, column in ENCRYPTED:
            statement = select(func.count()).select_from(table)
            found = connection.scalar(statement.where(_stale(table, column, keyring)))
            counts[_name(table, column)] = int(found or 0)
    return counts


def rotate_pseudonym_key(
    engine: Engine, key: bytes, previous_keys: Sequence[bytes] = (), batch: int = BATCH
) -> int:
    """Re-hash every contact's ``address_hash`` under ``key`` (the current
    ``PSEUDONYM_KEY``), reading her address (decrypted with the engine's keyring); fills the
    hashes that revision 0007 left empty. Returns how many rows changed. Conversation ids
    stay: her conversation continues.

    ``previous_keys`` (``PSEUDONYM_KEYS_PREVIOUS``) are not needed for this (every hash is
    made anew from the address): a current key listed among them is refused, a slip that
    would leave the operator thinking an old key was replaced.

    A row whose new hash another row of the same person already holds (she wrote while no
    previous key was configured and became a new contact) is left as it is and counted by
    :func:`stale_contacts`.
    """
    if not key:
        raise ValueError("PSEUDONYM_KEY is empty")
    if key in previous_keys:
        raise ValueError("PSEUDONYM_KEY is also in PSEUDONYM_KEYS_PREVIOUS")
    changed, conflicts = 0, 0
    table = Contact.__table__
    for rows in _contact_batches(engine, batch):
        for contact_id, channel, address, old in rows:
            new = address_hash(key, channel, address)
            if old == new:
                continue
            was = table.c.address_hash.is_(None) if old is None else table.c.address_hash == old
            try:
                with engine.begin() as connection:
                    done = connection.execute(
                        update(table).where(table.c.id == contact_id, was)
                        .values(address_hash=new)
                    )  # fmt: skip
                    changed += int(done.rowcount or 0)
            except IntegrityError:
                conflicts += 1
    logger.info("Pseudonym key: %d contact(s) re-keyed, %d left (duplicate).", changed, conflicts)
    return changed


def stale_contacts(engine: Engine, key: bytes, batch: int = BATCH) -> int:
    """Contacts whose ``address_hash`` is not under ``key``: found only through a previous
    key (or, with none configured, not at all). Zero: ``PSEUDONYM_KEYS_PREVIOUS`` may go."""
    return sum(1 for rows in _contact_batches(engine, batch)
               for _, channel, address, old in rows
               if old != address_hash(key, channel, address))  # fmt: skip


def _contact_batches(engine: Engine, batch: int) -> Iterator[list[Any]]:
    """Every contact as (id, channel, address, address_hash), ``batch`` rows at a time."""
    table, after = Contact.__table__, ""
    while True:
        with engine.connect() as connection:
            rows = connection.execute(
                select(table.c.id, table.c.channel, table.c.address, table.c.address_hash)
                .where(table.c.id > after).order_by(table.c.id).limit(batch)
            ).all()  # fmt: skip
        if not rows:
            return
        yield list(rows)
        after = rows[-1][0]
