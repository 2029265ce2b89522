"""Terminal chats over the local channel: a user (``make run``) or the local counsellor
(``make counsellor``), each reading what the assistant or the other side sends.

Messages arrive on their own (a counsellor may write at any time), so a thread polls the
channel while the terminal waits for a line. Buttons come as the numbered list an SMS user
sees, and the user answers with the number, exactly as on a feature phone.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

POLL_S = 0.3
USER_BANNER = (
    "Chat with the assistant (Ctrl-D or Ctrl-C to quit). Say hello: bonjour, hola, i ni ce."
)
COUNSELLOR_BANNER = (
    "Local counsellor console (Ctrl-D or Ctrl-C to quit). Requests appear here. "
    "TAKE 12, #12 text, DONE 12 resolved, RELEASE 12."
)


class LocalChannel(Protocol):
    def say(self, sender: str, text: str) -> None: ...

    def messages(self, sender: str, after: int = 0) -> list[dict[str, Any]]: ...


def render(message: dict[str, Any]) -> str:
    """One reply as the terminal shows it: its text, then its buttons numbered."""
    lines = [message.get("text") or ""]
    for number, button in enumerate(message.get("buttons") or [], start=1):
        lines.append(f"  {number}. {button.get('title', '')}")
    if message.get("image"):
        lines.append(f"  [image] {message['image']}")
    return "\n".join(line for line in lines if line)


class Inbox:
    """Prints what arrives for ``sender``, from a thread, until stopped."""

    def __init__(self, stack: LocalChannel, sender: str, write: Callable[[str], None]) -> None:
        self._stack, self._sender, self._write = stack, sender, write
        seen = stack.messages(sender)
        self.last = max((m["id"] for m in seen), default=0)  # earlier runs are not replayed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inbox", daemon=True)

    def poll(self) -> None:
        for message in self._stack.messages(self._sender, self.last):
            self._write(render(message))
            self.last = message["id"]

    def settle(self, quiet: float = 2.0, limit: float = 20.0) -> None:
        """Wait for answers still coming (piped input ends before the turns do): until
        nothing new arrived for ``quiet`` seconds, at most ``limit``."""
        deadline = time.monotonic() + limit
        last_change, seen = time.monotonic(), self.last
        while time.monotonic() < deadline and time.monotonic() - last_change < quiet:
            time.sleep(POLL_S)
            if self.last != seen:
                last_change, seen = time.monotonic(), self.last

    def _run(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                self.poll()
            except OSError:  # the server is stopping
                return

    def __enter__(self) -> Inbox:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


def chat(
    stack: LocalChannel,
    sender: str | None = None,
    read: Callable[[str], str] = input,
    write: Callable[[str], None] = print,
    banner: str = USER_BANNER,
) -> None:
    """Read lines and send them; print what arrives; until Ctrl-D or Ctrl-C."""
    sender = sender or f"terminal-{secrets.token_hex(4)}"
    write(banner)
    with Inbox(stack, sender, write) as inbox:
        while True:
            try:
                text = read("> ")
            except EOFError:  # the end of typed or piped input: let the answers arrive
                inbox.settle()
                write("")
                return
            except KeyboardInterrupt:
                write("")
                return
            stack.say(sender, text)
