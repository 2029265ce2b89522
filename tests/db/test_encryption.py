"""Encryption at rest on SQLite and PostgreSQL: her number and her words (a message a
counsellor marked for the risk check's review too), written through the real stores, are read
back whole, yet neither a ``SELECT`` nor the database file shows them; after a new data key,
the background re-encryption leaves every value under it (plaintext written before
encryption too) and the older key may go."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.channels.messages import InboundMessage
from bot.channels.store import ChannelStore
from bot.db.crypto import DataKeyError, Keyring, attach_keyring, is_encrypted, key_id, new_key
from bot.db.database import make_engine
from bot.handoff.service import HandoffService
from bot.privacy.keys import ENCRYPTED, pending_reencryption, reencrypt
from bot.safety.review import MISSED, SafetyReviews
from bot.schema import metadata

PSEUDONYM_KEY = b"encryption-test-pseudonym-key-32b"


class Person:
    """One young person's number and words, each unlike any other test's."""

    def __init__(self, n: int) -> None:
        self.phone = f"+2237612345{n}"
        self.said = f"je crois que je suis enceinte {n} fois"
        self.caption = f"photo du test de grossesse {n}"
        self.answer = f"Voici les signes de grossesse, numero {n}"
        self.relayed = f"j ai peur de le dire a ma mere {n}"
        self.marked = f"le prof dit que je passe si je viens chez lui {n}"

    def secrets(self) -> list[str]:
        return [self.phone[1:], self.said, self.caption, self.answer, self.relayed, self.marked]


@pytest.fixture
def db(isolated: Engine) -> Iterator[Engine]:
    """The test's own tables (a schema of its own on PostgreSQL), no keyring to start."""
    yield isolated
    attach_keyring(isolated, None)


def write(engine: Engine, person: Person, sid: str) -> tuple[str, int]:
    """Her contact, a message with details, our answer and a transcript line, through the
    stores the channels and the handoff use: (conversation id, handoff id)."""
    store = ChannelStore(engine, PSEUDONYM_KEY)
    contact = store.contact("sms", person.phone, country="ML")
    store.record_inbound("sms", sid, contact.id, "media", person.said,
                         details={"caption": person.caption})  # fmt: skip
    store.record_outbound(contact.id, "sms", person.answer)
    service = HandoffService(engine)
    handoff, _ = service.request(contact.id, "asked", language="fr", channel="sms")
    service.record(handoff.id, "user", person.relayed, to_relay=True)
    SafetyReviews(engine).add(MISSED, "fr", person.marked, contact.id, "awa")
    return contact.id, handoff.id


def read(engine: Engine, person: Person, ids: tuple[str, int]) -> None:
    """Everything she and we said, read back through the same stores, whole."""
    store = ChannelStore(engine, PSEUDONYM_KEY)
    contact = store.contact_by_id(ids[0])
    assert contact is not None and contact.address == person.phone
    assert store.contact("sms", person.phone).id == ids[0]  # found by her hash
    assert store.recent_texts(ids[0], 10) == [("user", person.said), ("bot", person.answer)]
    with Session(engine, future=True) as session:
        details = session.scalar(
            select(InboundMessage.details).where(InboundMessage.conversation_id == ids[0])
        )
    assert json.loads(details) == {"caption": person.caption}
    assert [line.text for line in HandoffService(engine).transcript(ids[1])] == [person.relayed]
    assert person.marked in [review.text for review in SafetyReviews(engine).listed()]


def raw(engine: Engine, sql: str) -> list[Any]:
    """Rows as stored, with plain SQL (in the test's own schema on PostgreSQL)."""
    with engine.begin() as connection:
        schemas = engine.get_execution_options().get("schema_translate_map") or {}
        if schemas.get(None):
            connection.execute(text(f'SET LOCAL search_path TO "{schemas[None]}"'))
        return [value for row in connection.execute(text(sql)).all() for value in row]


def stored_values(engine: Engine) -> list[str]:
    """Every non-empty value of every encrypted column, as stored."""
    found: list[str] = []
    for table, column in ENCRYPTED:
        found += [v for v in raw(engine, f"SELECT {column} FROM {table.name}") if v]
    return found


def file_bytes(engine: Engine) -> bytes:
    """The SQLite file and its write-ahead log, after a checkpoint (what a copied disk or
    backup holds)."""
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    path = Path(str(engine.url.database))
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def assert_nowhere_in_plain(engine: Engine, people: list[Person]) -> None:
    values = stored_values(engine)
    dump = "\n".join(str(v) for v in values)
    for person in people:
        for secret in person.secrets():
            assert secret not in dump
    if engine.dialect.name == "sqlite":
        data = file_bytes(engine)
        for person in people:
            for secret in person.secrets():
                assert secret.encode() not in data, "plaintext in the database file"


def test_every_encrypted_column_is_listed_for_re_encryption() -> None:
    declared = {(t.name, c.name) for t in metadata.sorted_tables for c in t.columns
                if type(c.type).__name__ == "EncryptedText"}  # fmt: skip
    assert declared == {(t.name, c) for t, c in ENCRYPTED}


def test_her_number_and_words_are_read_back_but_never_stored_in_plain(db: Engine) -> None:
    keyring = Keyring([new_key().encode()])
    attach_keyring(db, keyring)
    her = Person(1)
    ids = write(db, her, "SM-enc-1")
    read(db, her, ids)
    values = stored_values(db)
    assert len(values) == 6 and all(v.startswith(f"f1:{keyring.current}:") for v in values)
    assert_nowhere_in_plain(db, [her])
    attach_keyring(db, None)  # a process without DATA_KEYS cannot read her
    with pytest.raises(DataKeyError, match="DATA_KEYS") as caught:
        ChannelStore(db, PSEUDONYM_KEY).contact_by_id(ids[0])
    assert her.phone[1:] not in str(caught.value)
    attach_keyring(db, Keyring([new_key().encode()]))  # nor one with another key
    with pytest.raises(DataKeyError, match="not in DATA_KEYS"):
        ChannelStore(db, PSEUDONYM_KEY).recent_texts(ids[0], 10)


def test_a_new_key_re_encrypts_everything_and_the_old_one_may_go(db: Engine) -> None:
    legacy, under_old, after = Person(2), Person(3), Person(4)
    written = {legacy.phone: write(db, legacy, "SM-enc-2")}  # before encryption: plaintext
    assert legacy.said in stored_values(db)
    old = new_key().encode()
    attach_keyring(db, Keyring([old]))
    written[under_old.phone] = write(db, under_old, "SM-enc-3")
    assert pending_reencryption(db) == {f"{t.name}.{c}": 1 for t, c in ENCRYPTED}  # legacy

    new = new_key().encode()
    attach_keyring(db, Keyring([new, old]))  # the new key in front; the old one still reads
    assert pending_reencryption(db) == {f"{t.name}.{c}": 2 for t, c in ENCRYPTED}
    written[after.phone] = write(db, after, "SM-enc-4")  # live traffic meanwhile
    passes, total = 0, dict.fromkeys(pending_reencryption(db), 0)
    while any((done := reencrypt(db, batch=1)).values()):
        passes += 1
        total = {k: total[k] + done[k] for k in total}
        assert passes < 20, "re-encryption does not converge"
    assert passes == 2 and set(total.values()) == {2}  # a batch of one, two values each
    assert reencrypt(db) == dict.fromkeys(total, 0)  # nothing left: a no-op pass
    assert set(pending_reencryption(db).values()) == {0}

    attach_keyring(db, Keyring([new]))  # the old key removed from DATA_KEYS
    assert all(v.startswith(f"f1:{key_id(new)}:") and is_encrypted(v) for v in stored_values(db))
    for person in (legacy, under_old, after):
        read(db, person, written[person.phone])
    # secure_delete: the plaintext the re-encryption replaced is not left in free pages.
    assert_nowhere_in_plain(db, [legacy, under_old, after])


def test_without_a_keyring_nothing_is_re_encrypted(db: Engine) -> None:
    write(db, Person(5), "SM-enc-5")
    assert set(reencrypt(db).values()) == {0}
    assert set(pending_reencryption(db).values()) == {0}


def test_sqlite_overwrites_what_it_frees(tmp_path: Path) -> None:
    """``secure_delete`` on every connection (bot.db.database._sqlite_pragmas): an erased
    transcript (here in plaintext, as before encryption) leaves no trace in the file's free
    pages (without it, these words stay readable with ``grep -a``)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    try:
        her = Person(6)
        write(engine, her, "SM-enc-6")
        assert her.relayed.encode() in file_bytes(engine)
        with engine.begin() as connection:
            assert connection.exec_driver_sql("PRAGMA secure_delete").scalar() == 1
            connection.execute(text("DELETE FROM handoff_messages"))
        assert her.relayed.encode() not in file_bytes(engine)
    finally:
        engine.dispose()
