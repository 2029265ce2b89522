"""The sandbox's SMS counsellors (``bot/handoff/counsellors.sandbox.yml``), texts as an SMS
carries them, and the end-to-end handoff helpers over the running stack: a user's SMS, the
stack's own database, the handoff and the owner of a conversation."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from typing import Any

from bot.channels.sandbox import Sandbox, post
from bot.gsm7 import encode

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


def db(channels: Sandbox, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(channels.stack.settings.var_dir / "app.db") as connection:
        return list(connection.execute(sql, args))


def sms(channels: Sandbox, phone: str, text: str) -> None:
    assert post(*channels.sms_request(phone, text))[0] == 200


def handoff_of(channels: Sandbox, conversation_prefix: str, after: int = 0) -> tuple[int, str]:
    """The newest handoff of a conversation: (id, conversation id)."""
    rows = db(channels, "SELECT h.id, h.conversation_id FROM handoffs h JOIN contacts c "
                        "ON c.id = h.conversation_id WHERE c.address = ? AND h.id > ? "
                        "ORDER BY h.id DESC", conversation_prefix, after)  # fmt: skip
    return rows[0] if rows else (0, "")


def owner(channels: Sandbox, conversation_id: str) -> tuple[str, str | None]:
    rows = db(channels, "SELECT state, counsellor_id FROM conversation_owners "
                        "WHERE conversation_id = ?", conversation_id)  # fmt: skip
    return rows[0] if rows else ("bot", None)
