"""A terminal chat over the REST channel, showing buttons as an SMS user sees them.

Buttons are printed as a numbered list and the user answers with the number, exactly as
on a feature phone; the assistant resolves the number itself (``bot.menu``).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from bot.local import LocalStack


def render(message: dict[str, Any]) -> str:
    """One reply as the terminal shows it: its text, then its buttons numbered."""
    lines = [message.get("text") or ""]
    for number, button in enumerate(message.get("buttons") or [], start=1):
        lines.append(f"  {number}. {button.get('title', '')}")
    if message.get("image"):
        lines.append(f"  [image] {message['image']}")
    return "\n".join(line for line in lines if line)


def chat(
    stack: LocalStack,
    sender: str | None = None,
    read: Callable[[str], str] = input,
    write: Callable[[str], None] = print,
) -> None:
    """Read lines, send them, print the replies, until Ctrl-D or Ctrl-C."""
    sender = sender or f"local-{secrets.token_hex(4)}"
    write("Chat with the assistant (Ctrl-D or Ctrl-C to quit). Say hello: bonjour, hola, i ni ce.")
    while True:
        try:
            text = read("> ")
        except (EOFError, KeyboardInterrupt):
            write("")
            return
        for message in stack.send(sender, text):
            write(render(message))
