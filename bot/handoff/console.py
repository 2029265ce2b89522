"""How counsellors talk to the handoff: commands, and the Telegram staff group.

Text console (SMS and the local terminal), one request per line, the number first::

    TAKE 12              take request 12 (PRENDRE, TOMAR, TA also work)
    #12 Bonjour Awa...   write to the user of request 12
    DONE 12 referred     hand back with an outcome (resolved, referred, booked, no_answer)
    RELEASE 12           back to the queue

Telegram console: a staff supergroup with forum topics, one topic per request; commands in
the topic (``/claim``, ``/release``, ``/close <outcome>``, ``/transcript``), and every other
message of the counsellor who claimed it goes to the user.
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass
from typing import Any

from bot.channels.outbound import MAX_RETRIES, Pacer
from bot.channels.text import split_text, telegram_fits

logger = logging.getLogger(__name__)

_VERBS = {
    "TAKE": "claim", "PRENDRE": "claim", "TOMAR": "claim", "TA": "claim", "CLAIM": "claim",
    "DONE": "close", "FIN": "close", "CLOSE": "close", "FINI": "close", "LISTO": "close",
    "RELEASE": "release", "RENDRE": "release", "SOLTAR": "release",
    "TRANSCRIPT": "transcript",
}  # fmt: skip
_COMMAND = re.compile(r"^\s*([A-Za-z]+)\s*#?\s*(\d{1,7})\b\s*(.*)$", re.DOTALL)
_SAY = re.compile(r"^\s*#\s*(\d{1,7})\s*[:.,-]?\s*(.*)$", re.DOTALL)
_OUTCOME_WORDS = {"noanswer": "no_answer", "no_answer": "no_answer", "no": "no_answer"}


@dataclass(frozen=True)
class Command:
    verb: str  # claim, say, close, release, transcript
    handoff_id: int
    argument: str = ""


def outcome_word(text: str) -> str:
    """``"No answer"`` -> ``"no_answer"``; other words lower-cased, as typed."""
    word = re.sub(r"[\s-]+", "_", text.strip().lower())
    return _OUTCOME_WORDS.get(word.replace("_", ""), _OUTCOME_WORDS.get(word, word))


def parse_text_command(text: str) -> Command | None:
    """A line of the text console, or None (the console then shows its commands)."""
    said = _SAY.match(text)
    if said:
        return Command("say", int(said.group(1)), said.group(2).strip())
    found = _COMMAND.match(text)
    if not found or found.group(1).upper() not in _VERBS:
        return None
    verb = _VERBS[found.group(1).upper()]
    rest = found.group(3).strip()
    return Command(verb, int(found.group(2)), outcome_word(rest) if verb == "close" else rest)


def parse_topic_message(text: str) -> tuple[str, str]:
    """A message in a request's topic: (verb, argument); verb "say" for plain text,
    "help" for an unknown command."""
    if not text.startswith("/"):
        return "say", text
    head, _, rest = text[1:].partition(" ")
    name = head.split("@", 1)[0].lower()
    verb = {"claim": "claim", "release": "release", "close": "close",
            "transcript": "transcript"}.get(name, "help")  # fmt: skip
    return verb, outcome_word(rest) if verb == "close" else rest.strip()


class TelegramConsole:
    """The staff supergroup: a forum topic per request, titled with its state.

    Telegram allows about 20 messages a minute in a group; ``per_minute`` paces every call
    (posts, title changes) so that a busy evening is slowed, not refused."""

    def __init__(
        self, bot: Any, chat_id: int, language: str = "fr", per_minute: float = 20.0
    ) -> None:
        self._bot = bot
        self.chat_id = chat_id
        self.language = language
        self.pacer = Pacer(per_chat=60.0 / per_minute, overall_per_s=30)

    async def _call(self, method: str, **params: Any) -> Any:
        from telegram.error import RetryAfter

        for _ in range(MAX_RETRIES + 1):
            await self.pacer.wait(str(self.chat_id))
            try:
                return await getattr(self._bot(), method)(chat_id=self.chat_id, **params)
            except RetryAfter as error:
                delay = error.retry_after
                seconds = delay.total_seconds() if hasattr(delay, "total_seconds") else delay
                await asyncio.sleep(float(seconds))
        raise RuntimeError(f"Telegram kept refusing {method}")

    async def open_topic(self, handoff: Any, title: str) -> int | None:
        try:
            topic = await self._call("create_forum_topic", name=title[:128])
        except Exception as error:
            logger.error("Could not open a topic for #%d (%s).", handoff.id, type(error).__name__)
            return None
        return int(topic.message_thread_id)

    async def post(self, handoff: Any, text: str) -> None:
        if handoff.topic_id is None:
            return
        for part in split_text(text, telegram_fits) or [text]:
            try:
                await self._call("send_message", text=part, message_thread_id=handoff.topic_id)
            except Exception as error:
                logger.error("Could not post in the topic of #%d (%s).", handoff.id,
                             type(error).__name__)  # fmt: skip
                raise

    async def retitle(self, handoff: Any, title: str, *, closed: bool) -> None:
        try:
            await self._call("edit_forum_topic", message_thread_id=handoff.topic_id,
                             name=title[:128])  # fmt: skip
            if closed:
                await self._call("close_forum_topic", message_thread_id=handoff.topic_id)
        except Exception as error:
            logger.warning("Could not retitle the topic of #%d (%s).", handoff.id,
                           type(error).__name__)  # fmt: skip
