"""A new ``PSEUDONYM_KEY`` locks nobody out (SQLite and PostgreSQL): a returning user is found
under the previous key, keeps her conversation id and is re-keyed; with no previous key she
becomes a new contact, never an error; ``rotate_pseudonym_key`` re-keys everyone at once;
instances racing on one address make one row. Addresses are encrypted throughout."""

from __future__ import annotations

import argparse
import asyncio
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TypeVar

import pytest
from rasa.core.channels.channel import UserMessage
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from bot.channels.contacts import Contact, ContactView, address_hash, pseudonym
from bot.channels.inbound import ContactOutput, Inbound, TurnRunner
from bot.channels.messages import InboundMessage
from bot.channels.outbound import Button, Outbox
from bot.channels.store import ChannelStore
from bot.db import database
from bot.db.crypto import Keyring, attach_keyring, new_key
from bot.db.database import make_engine
from bot.privacy.keys import rotate_pseudonym_key, stale_contacts
from bot.privacy.keys_cli import add_commands
from bot.settings import ChannelSettings, settings_from_env

OLD, NEW, OLDER = (b"old-pseudonym-key-0123456789abcdef", b"new-pseudonym-key-0123456789abcdef",
                   b"older-pseudonym-key-0123456789abcd")  # fmt: skip
PHONE = "+22376123456"
T = TypeVar("T")


@pytest.fixture
def db(isolated: Engine) -> Iterator[Engine]:
    """The test's own tables (rotation scans every contact), addresses encrypted."""
    attach_keyring(isolated, Keyring([new_key().encode()]))
    yield isolated
    attach_keyring(isolated, None)


def hashes(engine: Engine) -> dict[str, str | None]:
    """Every contact's lookup hash, by conversation id."""
    with engine.connect() as connection:
        return dict(connection.execute(select(Contact.id, Contact.address_hash)).all())


def at_once(count: int, call: Callable[[], T]) -> list[T]:
    """``call`` from ``count`` threads released together, as several instances would."""
    barrier, results, errors = threading.Barrier(count), [], []

    def run() -> None:
        barrier.wait()
        try:
            results.append(call())
        except Exception as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    return results


def test_a_returning_user_keeps_her_conversation_under_a_new_key(db: Engine) -> None:
    before = ChannelStore(db, OLD).contact("sms", PHONE, country="ML")
    after = ChannelStore(db, NEW, previous_keys=(OLD,))
    again = after.contact("sms", PHONE)
    assert again.id == before.id == pseudonym(OLD, "sms", PHONE)  # her conversation goes on
    assert (again.address, again.country) == (PHONE, "ML")
    assert hashes(db) == {before.id: address_hash(NEW, "sms", PHONE)}  # re-keyed
    assert ChannelStore(db, NEW).contact("sms", PHONE).id == before.id  # the old key may go
    newcomer = after.contact("sms", "+22376000001")  # a new contact: as before any rotation
    assert newcomer.id == after.pseudonym("sms", "+22376000001")


def test_without_the_previous_key_she_becomes_a_new_contact_not_an_error(db: Engine) -> None:
    """Before: the unique (channel, address) made every returning user's webhook fail."""
    before = ChannelStore(db, OLD).contact("telegram", "5012345678")
    store = ChannelStore(db, NEW)
    fresh = store.contact("telegram", "5012345678")
    assert fresh.id == store.pseudonym("telegram", "5012345678") != before.id
    assert store.contact("telegram", "5012345678").id == fresh.id  # and stays so
    # Her old key given back later: the contact under the current key still wins.
    assert ChannelStore(db, NEW, previous_keys=(OLD,)).contact("telegram", "5012345678").id == (
        fresh.id)  # fmt: skip
    assert len(hashes(db)) == 2


def test_rows_older_than_address_hashes_are_found_by_their_id(db: Engine) -> None:
    """Revision 0007 left their hash empty (it has no key): the first lookup fills it."""
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    with db.begin() as connection:
        for key, address in ((OLD, "+22376000002"), (OLDER, "+22376000003")):
            connection.execute(Contact.__table__.insert(), [{
                "id": pseudonym(key, "sms", address), "channel": "sms", "address": address,
                "opted_out": False, "created_at": now, "last_seen_at": now}])  # fmt: skip
    same = ChannelStore(db, OLD).contact("sms", "+22376000002")
    assert same.id == pseudonym(OLD, "sms", "+22376000002")
    rotated = ChannelStore(db, NEW, previous_keys=(OLD, OLDER)).contact("sms", "+22376000003")
    assert rotated.id == pseudonym(OLDER, "sms", "+22376000003")
    assert hashes(db) == {same.id: address_hash(OLD, "sms", "+22376000002"),
                          rotated.id: address_hash(NEW, "sms", "+22376000003")}  # fmt: skip


def test_rotate_pseudonym_key_re_keys_every_contact(db: Engine) -> None:
    old = ChannelStore(db, OLD)
    people = {old.contact("sms", f"+2237600001{n}").id: f"+2237600001{n}" for n in range(5)}
    people[old.contact("telegram", "5012345679").id] = "5012345679"
    assert stale_contacts(db, NEW) == 6
    with pytest.raises(ValueError, match="PSEUDONYM_KEYS_PREVIOUS"):
        rotate_pseudonym_key(db, NEW, (NEW, OLD))  # the current key listed as previous
    assert rotate_pseudonym_key(db, NEW, (OLD,), batch=4) == 6  # in batches
    assert stale_contacts(db, NEW) == 0
    assert rotate_pseudonym_key(db, NEW, (OLD,)) == 0  # nothing left
    new = ChannelStore(db, NEW)  # the previous key dropped: everyone still found
    for contact_id, address in people.items():
        channel = "telegram" if address.isdigit() else "sms"
        assert new.contact(channel, address).id == contact_id


def test_instances_racing_on_one_address_make_one_row(db: Engine) -> None:
    store = ChannelStore(db, NEW)
    first = at_once(8, lambda: store.contact("sms", PHONE, country="ML"))
    assert len({c.id for c in first}) == 1
    ChannelStore(db, OLD).contact("sms", "+22376000004")  # re-keyed by racing instances
    rekeyed = at_once(8, lambda: ChannelStore(db, NEW, previous_keys=(OLD,)).contact(
        "sms", "+22376000004"))  # fmt: skip
    assert {c.id for c in rekeyed} == {pseudonym(OLD, "sms", "+22376000004")}
    with db.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(Contact)) == 2


class Recording:
    """Stands in for Twilio: what was sent, to whom."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, contact: ContactView, text: str, buttons: Sequence[Button]) -> bool:
        self.sent.append((contact.address, text))
        return True


def turns(engine: Engine, key: bytes, previous: tuple[bytes, ...], *texts: str) -> list[str]:
    """Her SMS through a turn runner (what the webhook runs once the signature is checked)
    of an instance with these keys: the conversation ids Rasa was given."""
    store = ChannelStore(engine, key, previous_keys=previous)
    outbox = Outbox(store, {"sms": Recording()})
    settings = ChannelSettings(pseudonym_key=key, rate_limit=100)
    runner = TurnRunner("sms", settings, store, outbox, lambda: ContactOutput("sms", outbox))
    seen: list[str] = []

    async def on_new_message(message: UserMessage) -> None:
        seen.append(message.sender_id)

    async def go() -> None:
        for n, said in enumerate(texts):
            inbound = Inbound("sms", f"SM{key[:3]!r}{n}", PHONE, "text", text=said, country="ML")
            assert await runner.accept(inbound, on_new_message)
        await runner.drain()

    asyncio.run(go())
    return seen


def test_her_messages_before_and_after_the_switch_are_one_conversation(db: Engine) -> None:
    before = turns(db, OLD, (), "bonjour", "j'ai une question")
    after = turns(db, NEW, (OLD,), "je suis encore la", "tu m'entends ?")
    assert set(before) == set(after) == {pseudonym(OLD, "sms", PHONE)}
    with db.connect() as connection:
        stored = connection.execute(
            select(InboundMessage.conversation_id, InboundMessage.text, InboundMessage.status)
            .order_by(InboundMessage.id)
        ).all()  # fmt: skip
    assert [(c, t) for c, t, _ in stored] == [(before[0], t) for t in (
        "bonjour", "j'ai une question", "je suis encore la", "tu m'entends ?")]  # fmt: skip
    assert {s for _, _, s in stored} == {"done"}


@pytest.fixture
def settings_reread(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """The environment changed by the test, read afresh, and forgotten afterwards."""
    yield monkeypatch
    settings_from_env.cache_clear()
    database.engine_from_env.cache_clear()


def test_the_commands_rotate_both_keys_and_print_counts_only(
    tmp_path: Path, settings_reread: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``privacy new-key``, ``rotate-data-keys``, ``rotate-pseudonym-key`` as an operator
    runs them after changing the settings (a SQLite file of their own)."""
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    old_data = new_key()
    engine = make_engine(url, keyring=Keyring([old_data.encode()]))
    contact = ChannelStore(engine, OLD).contact("sms", PHONE)
    ChannelStore(engine, OLD).record_inbound("sms", "SM-cli", contact.id, "text", "au secours")
    engine.dispose()

    def run(*argv: str, **env: str) -> tuple[int, str]:
        for name, value in env.items():
            settings_reread.setenv(name, value)
        settings_from_env.cache_clear()
        database.engine_from_env.cache_clear()
        parser = argparse.ArgumentParser()
        add_commands(parser.add_subparsers(dest="command", required=True))
        args = parser.parse_args(argv)
        capsys.readouterr()
        try:
            status = int(args.func(args, settings_from_env().stack))
        finally:
            database.engine_from_env().dispose()
            database.engine_from_env.cache_clear()
        out, err = capsys.readouterr()
        assert "22376123456" not in out + err and "secours" not in out + err
        return status, out

    status, key = run("new-key", DATABASE_URL=url)  # never the working tree's var/app.db
    assert status == 0 and Keyring([key.strip().encode()]).current
    new_data = key.strip()
    status, out = run("rotate-data-keys", DATA_KEYS=f"{new_data},{old_data}",
                      PSEUDONYM_KEY=NEW.decode(), PSEUDONYM_KEYS_PREVIOUS=OLD.decode())  # fmt: skip
    assert status == 0
    assert "contacts.address: 1 re-encrypted, 0 left" in out
    assert "inbound_messages.text: 1 re-encrypted, 0 left" in out
    status, out = run("rotate-pseudonym-key")
    assert (status, out.splitlines()[0]) == (
        0, "1 contact(s) re-keyed to PSEUDONYM_KEY; 0 still need an old key")
    settings_from_env.cache_clear()
    engine = make_engine(url, keyring=Keyring([new_data.encode()]))  # the old data key gone
    try:
        assert ChannelStore(engine, NEW).contact("sms", PHONE).id == contact.id
    finally:
        engine.dispose()
