"""The terminal chats: buttons as the numbered list an SMS user would see, every line sent,
and what arrives printed even while the terminal waits (a counsellor writes when she wants)."""

import threading
import time

from bot.chat import Inbox, chat, render


def test_render_numbers_buttons() -> None:
    message = {"text": "Choose:", "buttons": [{"title": "A", "payload": "/a"}, {"title": "B"}]}
    assert render(message) == "Choose:\n  1. A\n  2. B"


class FakeChannel:
    """The local channel: what was said, and messages that arrive by themselves."""

    def __init__(self, earlier: int = 0) -> None:
        self.said: list[tuple[str, str]] = []
        self.outbox: list[dict] = [{"id": i, "text": f"old {i}"} for i in range(1, earlier + 1)]
        self.lock = threading.Lock()

    def say(self, sender: str, text: str) -> None:
        self.said.append((sender, text))
        self.arrive(f"echo {text}")

    def arrive(self, text: str) -> None:
        with self.lock:
            self.outbox.append({"id": len(self.outbox) + 1, "text": text})

    def messages(self, sender: str, after: int = 0) -> list[dict]:
        with self.lock:
            return [m for m in self.outbox if m["id"] > after]


def test_chat_sends_each_line_prints_replies_and_stops_on_eof() -> None:
    lines = iter(["hola", "2"])
    out: list[str] = []
    channel = FakeChannel(earlier=3)

    def read(prompt: str) -> str:
        time.sleep(0.5)  # the inbox prints while the terminal waits
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    chat(channel, sender="s1", read=read, write=out.append)
    assert channel.said == [("s1", "hola"), ("s1", "2")]
    assert "echo hola" in out and "echo 2" in out
    assert not any(line.startswith("old") for line in out)  # an earlier run is not replayed


def test_inbox_prints_a_message_that_arrives_unasked() -> None:
    channel = FakeChannel()
    out: list[str] = []
    with Inbox(channel, "counsellor", out.append):
        channel.arrive("#3 fr: bonjour")
        deadline = time.monotonic() + 3
        while not out and time.monotonic() < deadline:
            time.sleep(0.05)
    assert out == ["#3 fr: bonjour"]
