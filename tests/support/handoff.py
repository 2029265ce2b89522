"""The sandbox's SMS counsellors (``bot/handoff/counsellors.sandbox.yml``), texts as an SMS
carries them, and the end-to-end handoff helpers over the running stack: a user's SMS, the
stack's own database, the handoff and the owner of a conversation."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.channels.contacts import pseudonym
from bot.channels.sandbox import Sandbox, post
from bot.db.crypto import Keyring, is_encrypted
from bot.gsm7 import encode
from tests.support.env import CHANNEL_ENV

LUCIA, SOFIA = "+51900000101", "+33700000101"  # SMS counsellors


def folded(text: str) -> str:
    """A catalog text as an SMS carries it (GSM-7)."""
    return encode(text).text


def wait_for(check: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what or check}")


def conversation_of(address: str, channel: str = "sms") -> str:
    """Her conversation id (a phone number is never in the database in clear)."""
    return pseudonym(CHANNEL_ENV["PSEUDONYM_KEY"].encode(), channel, address)


def read_db(var_dir: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """A query on a stack's own database, its encrypted values (addresses, texts) shown
    decrypted with the stack's data key (``VAR_DIR/data.key``)."""
    key_file = var_dir / "data.key"
    keyring = Keyring([key_file.read_text(encoding="utf-8").strip().encode()]) \
        if key_file.is_file() else None
    with sqlite3.connect(var_dir / "app.db") as connection:
        rows = list(connection.execute(sql, args))
    if keyring is None:
        return rows
    return [tuple(keyring.decrypt(v) if isinstance(v, str) and is_encrypted(v) else v
                  for v in row) for row in rows]


def db(channels: Sandbox, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    return read_db(channels.stack.settings.var_dir, sql, *args)


def sms(channels: Sandbox, phone: str, text: str) -> None:
    assert post(*channels.sms_request(phone, text))[0] == 200


def handoff_of(channels: Sandbox, address: str, after: int = 0) -> tuple[int, str]:
    """The newest handoff of her phone number or Telegram chat: (id, conversation id)."""
    rows = db(channels, "SELECT id, conversation_id FROM handoffs WHERE conversation_id IN "
                        "(?, ?) AND id > ? ORDER BY id DESC", conversation_of(address),
              conversation_of(address, "telegram"), after)  # fmt: skip
    return rows[0] if rows else (0, "")


def owner(channels: Sandbox, conversation_id: str) -> tuple[str, str | None]:
    rows = db(channels, "SELECT state, counsellor_id FROM conversation_owners "
                        "WHERE conversation_id = ?", conversation_id)  # fmt: skip
    return rows[0] if rows else ("bot", None)
