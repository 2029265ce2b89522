"""Who hears what during a handoff: the user on her channel, counsellors on their consoles
(a text console by SMS or the terminal, or the Telegram staff group's topic), supervisors.

Every sentence is a catalog key (:mod:`bot.handoff.messages`): the user's in her language,
a text console's in its counsellor's first language, the staff group's in its own. Her words
reach staff only through :func:`~bot.handoff.console.quoted` (each line marked as hers,
no invisible characters), and never with her address.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar

from bot.channels.outbound import Outbox
from bot.channels.store import ChannelStore
from bot.handoff import messages as m
from bot.handoff.console import TelegramConsole, one_line, quoted
from bot.handoff.models import Handoff
from bot.handoff.ownership import BOT, QUEUED
from bot.handoff.registry import Registry
from bot.handoff.registry_file import Counsellor
from bot.handoff.service import COUNSELLOR_SAID, NOTE, HandoffService
from bot.i18n import Translator

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

SUMMARY_CHARS = 80
TRANSCRIPT_LINES = 8  # of the conversation before the request, in a new topic
TRANSCRIPT_SHOWN = 20  # of a handoff's transcript, on /transcript


class Tell(Protocol):
    """Sends one console message: a catalog key with its values, or ``raw`` data."""

    def __call__(
        self, key: str | None, raw: str | None = None, **values: Any
    ) -> Awaitable[None]: ...


@dataclass
class Notices:
    """Sends the handoff's notices; owns no state but the clients it is given."""

    service: HandoffService
    registry: Registry
    store: ChannelStore
    outbox: Outbox
    telegram: TelegramConsole | None = None

    async def db(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A call of the synchronous services on a worker thread (never on the loop)."""
        return await asyncio.to_thread(work, *args, **kwargs)

    # To the user ------------------------------------------------------------------------

    async def say(self, conversation_id: str, language: str, key: str, **values: Any) -> bool:
        """One notice to her, in her language; False when it could not be sent."""
        try:
            return await self.outbox.send(conversation_id, Translator(language)(key, **values))
        except Exception as error:
            logger.error("Could not reach %s (%s).", conversation_id, type(error).__name__)
            return False

    # To staff ---------------------------------------------------------------------------

    def staff_text(self, key: str, **values: Any) -> str:
        """A sentence in the staff group's language."""
        language = self.telegram.language if self.telegram else "fr"
        return Translator(language)(key, **values)

    def in_topic(self, counsellor: Counsellor) -> bool:
        """Telegram counsellors read and write in the staff group's topics."""
        return counsellor.channel == "telegram" and self.telegram is not None

    async def topic_post(self, handoff: Handoff, text: str) -> None:
        """A post for the staff group to see; a failure is logged (the transcript keeps the
        words, ``/transcript`` shows them)."""
        if self.telegram is not None and handoff.topic_id is not None:
            try:
                await self.telegram.post(handoff, text)
            except Exception as error:
                logger.error("Topic of #%d not updated (%s).", handoff.id, type(error).__name__)

    async def console_notice(self, handoff: Handoff, key: str, **values: Any) -> None:
        """A state change, told in the handoff's topic (the Telegram counsellors' view)."""
        await self.topic_post(handoff, self.staff_text(key, **values))

    def group_teller(self, handoff: Handoff | None) -> Tell:
        """Answers in the staff group: in the handoff's topic, or (None) in the general chat
        where supervisors name the request."""

        async def tell(key: str | None, raw: str | None = None, **values: Any) -> None:
            if self.telegram is None:
                return
            text = (raw if key is None else self.staff_text(key, **values)) or ""
            if handoff is None:
                await self.telegram.post_general(text)
            else:
                await self.telegram.post(handoff, text)

        return tell

    def teller(self, counsellor: Counsellor, contact_id: str | None = None) -> Tell:
        """Sends console messages to one text-console counsellor, in her language."""
        translate = Translator(counsellor.language)

        async def tell(key: str | None, raw: str | None = None, **values: Any) -> None:
            target = contact_id
            if target is None:
                contact = await self.db(self.store.contact, counsellor.channel,
                                        counsellor.address)  # fmt: skip
                target = contact.id
            text = raw if key is None else translate(key, **values)
            if text is None:
                raise ValueError("a console message needs a catalog key or a raw text")
            await self.outbox.send(target, text)

        return tell

    async def tell_counsellor(
        self, counsellor: Counsellor | None, key: str | None, raw: str | None = None,
        **values: Any,
    ) -> None:  # fmt: skip
        """To her text console (Telegram counsellors read the topic instead); best effort."""
        if counsellor is None or self.in_topic(counsellor) or not counsellor.address:
            return
        try:
            await self.teller(counsellor)(key, raw=raw, **values)
        except Exception as error:
            logger.error("Could not reach counsellor %s (%s).", counsellor.id,
                         type(error).__name__)  # fmt: skip

    async def tell_staff(self, handoff: Handoff, key: str, *, also: str | None = None,
                         **values: Any) -> None:  # fmt: skip
        """Something every supervisor must know about a handoff (and its holder ``also``):
        the topic once, and each text-console supervisor."""
        await self.console_notice(handoff, key, **values)
        people = await self.db(self.registry.supervisors)
        if also is not None:
            holder = await self.db(self.registry.get, also)
            people = [*people, *([holder] if holder else [])]
        told: set[str] = set()
        for person in people:
            if person.id not in told:
                told.add(person.id)
                await self.tell_counsellor(person, key, **values)

    async def to_counsellor(self, handoff: Handoff, counsellor: Counsellor, text: str) -> bool:
        """Her words to the console of the counsellor who holds the handoff: True when sent,
        False when the counsellor cannot be reached (opted out); raises when the provider
        refuses (the relay retries)."""
        if self.in_topic(counsellor) and self.telegram is not None:
            await self.telegram.post(handoff, text)  # raises when Telegram fails
            return True
        if not counsellor.address:
            return False
        contact = await self.db(self.store.contact, counsellor.channel, counsellor.address)
        return await self.outbox.send(contact.id, text)

    async def name(self, counsellor_id: str | None) -> str:
        """A counsellor's name for a message ("?" when unknown): never her address."""
        counsellor = await self.db(self.registry.get, counsellor_id or "")
        return counsellor.name if counsellor else "?"

    # Titles and notifications -----------------------------------------------------------

    def title(self, handoff: Handoff, state: str) -> str:
        """A topic's title: number, language, channel, priority and state, so that the
        staff see the queue in the group's list of topics."""
        priority = f" {self.staff_text(m.PRIORITY)}" if handoff.priority else ""
        return (f"#{handoff.id} {handoff.language.upper()} {handoff.channel}{priority}"
                f" · {self.staff_text(m.STATE[state])}")  # fmt: skip

    async def retitle(self, handoff: Handoff, state: str) -> None:
        """The topic's title after a move (closed with the handoff)."""
        if self.telegram is not None and handoff.topic_id is not None:
            await self.telegram.retitle(handoff, self.title(handoff, state), closed=state == BOT)

    async def notify(
        self, handoff: Handoff, *, again: bool = False, exclude: str | None = None
    ) -> None:
        """A new (or still unclaimed, or returned) request: its Telegram topic, and an SMS
        to each text-console counsellor on duty who speaks her language (but ``exclude``,
        who just left it)."""
        if self.telegram is not None:
            if handoff.topic_id is None:
                topic = await self.telegram.open_topic(handoff, self.title(handoff, QUEUED))
                if topic is not None:
                    await self.db(self.service.set_topic, handoff.id, topic)
                    fresh = await self.db(self.service.get, handoff.id)
                    if fresh is None:  # rows are never deleted: only a broken database
                        raise LookupError(handoff.id)
                    handoff = fresh
                    await self.telegram.post(
                        handoff, self.staff_text(m.TOPIC_INTRO, **await self._intro(handoff))
                    )
            elif again:
                await self.topic_post(handoff, self.staff_text(
                    m.RENOTIFY, id=handoff.id, minutes=self.waited(handoff)))  # fmt: skip
        on_duty = await self.db(self.registry.available, handoff.language)
        summary = await self._summary(handoff)
        for counsellor in on_duty:
            if counsellor.channel == "telegram" or counsellor.id == exclude:
                continue  # the topic is their notification
            translate = Translator(counsellor.language)
            if again:
                text = translate(m.RENOTIFY, id=handoff.id, minutes=self.waited(handoff))
            else:
                priority = f" {translate(m.PRIORITY)}" if handoff.priority else ""
                text = translate(m.NEW_REQUEST_SMS, id=handoff.id, language=handoff.language,
                                 priority=priority, summary=summary)  # fmt: skip
            try:
                contact = await self.db(self.store.contact, counsellor.channel,
                                        counsellor.address)  # fmt: skip
                await self.outbox.send(contact.id, text)
            except Exception as error:  # one unreachable counsellor must not stop the others
                logger.error("Could not notify counsellor %s (%s).", counsellor.id,
                             type(error).__name__)  # fmt: skip

    def waited(self, handoff: Handoff) -> int:
        """Minutes since the request (at least 1), for the staff's notices."""
        return max(1, int((self.service.now() - handoff.opened_at).total_seconds() // 60))

    async def _intro(self, handoff: Handoff) -> dict[str, Any]:
        """The values of a new topic's first post: the request and the last messages."""
        lines = await self.db(self._recent_lines, handoff)
        return {"id": handoff.id, "language": handoff.language, "channel": handoff.channel,
                "reason": handoff.reason, "transcript": "\n".join(lines)}  # fmt: skip

    def _recent_lines(self, handoff: Handoff) -> list[str]:
        """The last messages before the request, from the channel store (texts only: no
        address ever reaches a counsellor), each on one line."""
        return [
            f"{'>' if who == 'user' else '<'} {one_line(text)}"
            for who, text in self.store.recent_texts(handoff.conversation_id, TRANSCRIPT_LINES)
        ]

    async def _summary(self, handoff: Handoff) -> str:
        """Her last message on one short line (or the reason): what an SMS
        notification can show of the request."""
        lines = await self.db(self.store.recent_texts, handoff.conversation_id, 1, "user")
        text = one_line(lines[-1][1]) if lines else handoff.reason
        return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"

    async def transcript_text(self, handoff: Handoff) -> str:
        """The last lines of the handoff for a console: hers quoted, notes marked."""
        lines = await self.db(self.service.transcript, handoff.id)
        shown = []
        for line in lines[-TRANSCRIPT_SHOWN:]:
            if line.direction == NOTE:
                shown.append(f"// {await self.name(line.counsellor_id)}: {one_line(line.text)}")
            elif line.direction == COUNSELLOR_SAID:
                shown.append(f"< {one_line(line.text)}")
            else:
                shown.append(quoted(handoff.id, line.text).replace(f"#{handoff.id}: ", "> "))
        return f"#{handoff.id}\n" + "\n".join(shown)
