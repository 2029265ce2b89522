"""How counsellors talk to the handoff: commands, and the Telegram staff group.

Text console (SMS and the local terminal), one request per message, in its exact form (a
counsellor's message is read by the console before anything else, so "#12 stop" goes to the
user and "Take 2 tablets..." is not a command)::

    TAKE 12              take request 12 (PRENDRE, TOMAR, TA also work); a supervisor takes
                         it over even from another counsellor
    #12 Bonjour Awa...   write to the user of request 12; lines starting with // are notes
                         between staff, kept in the transcript, never sent
    DONE 12 referred     hand back with an outcome (resolved, referred, booked, no_answer)
    RELEASE 12           back to the queue
    TRANSCRIPT 12        the last messages (its holder and supervisors only)
    ASSIGN 12 lucia      supervisors: give request 12 to a counsellor (id or first name)
    MISSED 12            her latest message should have raised the alarm (MANQUE, RATE,
                         OMITIDO, FALTO); kept masked for the risk check's review
    FALSEALARM 12        it should not have (FAUSSEALERTE, FALSAALARMA, FALSE; two words
                         too: FAUSSE ALERTE 12); both also on a closed request
    STOP / START / HELP  her own messages (STOP asks for a confirmation first)

Telegram console: a staff supergroup with forum topics, one topic per request; commands in
the topic (``/claim``, ``/release``, ``/close <outcome>``, ``/transcript``,
``/assign <counsellor>``, ``/missed``, ``/falsealarm``), ``//`` notes, and every other message
of the counsellor who holds it goes to the user. In the group's general chat, supervisors name
the request: ``/assign 12 lucia``, ``/close 12 resolved``, ``/missed 12``.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from telegram import Bot
from telegram.error import BadRequest, RetryAfter

from bot.channels.outbound import MAX_RETRIES, Pacer
from bot.channels.text import split_text, telegram_fits
from bot.handoff.models import Handoff
from bot.nlu.normalise import strip_format

logger = logging.getLogger(__name__)

_VERBS = {
    "TAKE": "claim", "PRENDRE": "claim", "TOMAR": "claim", "TA": "claim", "CLAIM": "claim",
    "DONE": "close", "FIN": "close", "CLOSE": "close", "FINI": "close", "LISTO": "close",
    "RELEASE": "release", "RENDRE": "release", "SOLTAR": "release",
    "TRANSCRIPT": "transcript", "ASSIGN": "assign", "ASSIGNER": "assign", "ASIGNAR": "assign",
    # The risk check's lessons (bot.safety.review): MANQUÉ, RATÉ, FALTÓ typed with accents too.
    "MISSED": "missed", "MANQUE": "missed", "RATE": "missed", "OMITIDO": "missed",
    "FALTO": "missed",
    "FALSEALARM": "false_alarm", "FAUSSEALERTE": "false_alarm", "FALSAALARMA": "false_alarm",
    "FALSE": "false_alarm",
}  # fmt: skip
_TOPIC_VERBS = {"claim": "claim", "release": "release", "close": "close",
                "transcript": "transcript", "assign": "assign", "missed": "missed",
                "falsealarm": "false_alarm", "false_alarm": "false_alarm"}  # fmt: skip
MARKS = ("missed", "false_alarm")  # verbs that also apply to a closed request
# What may follow the number: nothing (TAKE, RELEASE, TRANSCRIPT), one or two words (an
# outcome, a counsellor's name). Anything longer is not a command.
_TAKES_WORDS = {"close": 2, "assign": 2}
# A verb (one word, or two joined by a space, "-" or "_": FAUSSE ALERTE), then the number.
_COMMAND = re.compile(
    r"^\s*([^\W\d_]+(?:[ \t_-]+[^\W\d_]+)?)\s*#?\s*(\d{1,7})\s*(.*?)[\s.!]*$", re.DOTALL
)
_SAY = re.compile(r"^\s*#\s*(\d{1,7})\s*[:.,-]?\s*(.*)$", re.DOTALL)
_WORD = re.compile(r"[\w'-]+")
_OUTCOME_WORDS = {"noanswer": "no_answer", "no_answer": "no_answer", "no": "no_answer"}
NOTE_MARK = "//"


@dataclass(frozen=True)
class Command:
    """One console command: its verb, the request it names, and the rest of the line."""

    verb: str  # claim, say, close, release, transcript, assign, missed, false_alarm, help
    handoff_id: int | None
    argument: str = ""


def outcome_word(text: str) -> str:
    """``"No answer"`` -> ``"no_answer"``; other words lower-cased, as typed."""
    word = re.sub(r"[\s-]+", "_", text.strip().lower())
    return _OUTCOME_WORDS.get(word.replace("_", ""), _OUTCOME_WORDS.get(word, word))


def _argument(verb: str, rest: str) -> str | None:
    """The argument of ``verb`` from what follows its number, or None when what follows
    is not what the verb takes (``TAKE 2 tablets``)."""
    words = _WORD.findall(rest)
    if len(words) > _TAKES_WORDS.get(verb, 0) or (rest and not words):
        return None
    if verb == "assign":
        return rest.strip() if words else None
    return outcome_word(rest) if verb == "close" else ""


def _verb_key(word: str) -> str:
    """``"Fausse alerte"`` -> ``"FAUSSEALERTE"``, ``"Raté"`` -> ``"RATE"``: how a verb is
    looked up (phones add accents, people add a space)."""
    plain = unicodedata.normalize("NFKD", word)
    return "".join(ch for ch in plain if ch.isalpha() and ch.isascii()).upper()


def parse_text_command(text: str) -> Command | None:
    """A message of the text console in its exact form, or None (the console then
    answers with its short help)."""
    text = strip_format(text)
    said = _SAY.match(text)
    if said:
        return Command("say", int(said.group(1)), said.group(2).strip())
    found = _COMMAND.match(text)
    if not found or _verb_key(found.group(1)) not in _VERBS:
        return None
    verb = _VERBS[_verb_key(found.group(1))]
    argument = _argument(verb, found.group(3).strip())
    return None if argument is None else Command(verb, int(found.group(2)), argument)


def parse_topic_message(text: str) -> Command:
    """A message in the staff group: a command (``/close resolved``, ``/assign 12 awa``:
    ``handoff_id`` only when it names one), "say" for words to the user (notes included,
    see :func:`split_notes`), "help" for an unknown or malformed command."""
    text = strip_format(text)
    if not text.startswith("/") or text.startswith(NOTE_MARK):
        return Command("say", None, text)
    head, _, rest = text[1:].partition(" ")
    verb = _TOPIC_VERBS.get(head.split("@", 1)[0].lower())
    if verb is None:
        return Command("help", None)
    number = re.match(r"\s*#?(\d{1,7})\b\s*(.*)$", rest, re.DOTALL)
    handoff_id = int(number.group(1)) if number else None
    argument = _argument(verb, (number.group(2) if number else rest).strip())
    if argument is None:
        return Command("help", None)
    return Command(verb, handoff_id, argument)


def split_notes(text: str) -> tuple[str, list[str]]:
    """A counsellor's message: (the lines for the user, the ``//`` notes between staff)."""
    said, notes = [], []
    for line in text.splitlines():
        if line.lstrip().startswith(NOTE_MARK):
            notes.append(line.lstrip()[len(NOTE_MARK):].strip())
        else:
            said.append(line)
    return "\n".join(said).strip(), [note for note in notes if note]


def quoted(handoff_id: int, text: str) -> str:
    """Her words as staff read them: every line marked as hers (``#12: ...``), so that a
    line she writes cannot pass for another request's or for a command, and without control
    or invisible format characters."""
    clean = "".join(ch for ch in strip_format(text) if ch == "\n" or ch.isprintable())
    lines = [line.strip() for line in clean.splitlines() if line.strip()] or [""]
    return "\n".join(f"#{handoff_id}: {line}".rstrip() for line in lines)


def one_line(text: str) -> str:
    """Her words on one line (a summary in a notification)."""
    clean = "".join(ch if ch.isprintable() else " " for ch in strip_format(text))
    return " ".join(clean.split())


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
        self,
        bot: Callable[[], Bot],
        chat_id: int,
        language: str = "fr",
        per_minute: float = 20.0,
    ) -> None:
        self._bot = bot  # the sender's client, made on first use (TelegramSender.bot)
        self.chat_id = chat_id
        self.language = language
        self.pacer = Pacer(per_chat=60.0 / per_minute, overall_per_s=30)
        self._batches: dict[int, _Batch] = {}

    async def _call(self, method: str, *, paced: bool = False, **params: Any) -> Any:
        """One Bot API call in the group's pace (``paced``: its turn was already waited)."""
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

    async def open_topic(self, handoff: Handoff, title: str) -> int | None:
        """A new topic for the handoff; its id, or None when Telegram refused
        (the handoff goes on without one)."""
        try:
            topic = await self._call("create_forum_topic", name=title[:128])
        except Exception as error:
            logger.error("Could not open a topic for #%d (%s).", handoff.id, type(error).__name__)
            return None
        return int(topic.message_thread_id)

    async def post(self, handoff: Handoff, text: str) -> None:
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

    async def post_general(self, text: str) -> None:
        """A post in the group's general chat (answers to commands that name a request)."""
        for part in split_text(text, telegram_fits) or [text]:
            await self._call("send_message", text=part)

    async def delete_topic(self, topic: int) -> bool:
        """Delete a topic and every message in it (her words: retention, "forget me").
        True when it is gone (or was already)."""
        try:
            await self._call("delete_forum_topic", message_thread_id=topic)
            return True
        except BadRequest as error:  # deleted by hand already
            return "not found" in str(error).lower() or "invalid" in str(error).lower()
        except Exception as error:
            logger.warning("Could not delete a staff topic (%s).", type(error).__name__)
            return False

    async def retitle(self, handoff: Handoff, title: str, *, closed: bool) -> None:
        """The topic's title after a move, and the topic closed with the handoff
        (best effort: a title is not worth an error)."""
        try:
            await self._call("edit_forum_topic", message_thread_id=handoff.topic_id,
                             name=title[:128])  # fmt: skip
            if closed:
                await self._call("close_forum_topic", message_thread_id=handoff.topic_id)
        except Exception as error:
            logger.warning("Could not retitle the topic of #%d (%s).", handoff.id,
                           type(error).__name__)  # fmt: skip
