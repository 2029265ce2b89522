"""The terminal chat shows buttons as the numbered list an SMS user would see."""

from bot.chat import chat, render


def test_render_numbers_buttons() -> None:
    message = {"text": "Choose:", "buttons": [{"title": "A", "payload": "/a"}, {"title": "B"}]}
    assert render(message) == "Choose:\n  1. A\n  2. B"


class FakeStack:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, sender: str, text: str) -> list[dict]:
        self.sent.append((sender, text))
        return [{"text": f"echo {text}"}]


def test_chat_sends_each_line_and_stops_on_eof() -> None:
    lines = iter(["hola", "2"])
    out: list[str] = []

    def read(prompt: str) -> str:
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None

    stack = FakeStack()
    chat(stack, sender="s1", read=read, write=out.append)  # type: ignore[arg-type]
    assert stack.sent == [("s1", "hola"), ("s1", "2")]
    assert "echo 2" in out
