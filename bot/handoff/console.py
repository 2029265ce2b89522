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


@dataclass
class _Batch:
    """Posts for one topic waiting for their turn: they go out as one message."""

    texts: list[str]
    done: asyncio.Future[None]
    open: bool = True


class TelegramConsole:
    """The staff supergroup: a forum topic per request, titled with its state.

    Telegram allows about 20 messages a minute in a group; ``per_minute`` paces every call
    (posts, title changes) so that a busy evening is slowed, not refused. While a post waits
    for its turn, later posts to the same topic join it and go out in the same message, in
    order: a chatty conversation costs one message per turn of the pacer, not one per line."""

    def __init__(
        self, bot: Any, chat_id: int, language: str = "fr", per_minute: float = 20.0
    ) -> None:
        self._bot = bot
        self.chat_id = chat_id
        self.language = language
        self.pacer = Pacer(per_chat=60.0 / per_minute, overall_per_s=30)
        self._batches: dict[int, _Batch] = {}

    async def _call(self, method: str, *, paced: bool = False, **params: Any) -> Any:
        """One Bot API call in the group's pace (``paced``: its turn was already waited)."""
        from telegram.error import RetryAfter

        for attempt in range(MAX_RETRIES + 1):
            if not (paced and attempt == 0):
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
        """Post in the handoff's topic; returns once the text is sent (raises if it could
        not be), whether it went alone or with others waiting for the same topic."""
        topic = handoff.topic_id
        if topic is None:
            return
        waiting = self._batches.get(topic)
        if waiting is not None and waiting.open:
            waiting.texts.append(text)
            await asyncio.shield(waiting.done)
            return
        batch = _Batch([text], asyncio.get_running_loop().create_future())
        self._batches[topic] = batch
        try:
            await self.pacer.wait(str(self.chat_id))  # others for this topic join meanwhile
            batch.open = False
            parts = split_text("\n".join(batch.texts), telegram_fits) or batch.texts
            for number, part in enumerate(parts):
                await self._call("send_message", paced=number == 0, text=part,
                                 message_thread_id=topic)  # fmt: skip
        except BaseException as error:
            logger.error("Could not post in the topic of #%d (%s).", handoff.id,
                         type(error).__name__)  # fmt: skip
            if len(batch.texts) > 1:  # the others who joined learn it too
                batch.done.set_exception(RuntimeError("topic post failed"))
            else:
                batch.done.set_result(None)
            raise
        else:
            batch.done.set_result(None)
        finally:
            batch.open = False
            if self._batches.get(topic) is batch:
                del self._batches[topic]

    async def retitle(self, handoff: Any, title: str, *, closed: bool) -> None:
        try:
            await self._call("edit_forum_topic", message_thread_id=handoff.topic_id,
                             name=title[:128])  # fmt: skip
            if closed:
                await self._call("close_forum_topic", message_thread_id=handoff.topic_id)
        except Exception as error:
            logger.warning("Could not retitle the topic of #%d (%s).", handoff.id,
                           type(error).__name__)  # fmt: skip
