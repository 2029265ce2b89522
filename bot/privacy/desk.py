"""The privacy words and questions, answered by the channels before any turn.

Why here and not in Rasa: "forget me" must work in every state (with the bot, queued for a
counsellor, with one, inside a form), and erasing her tracker during a Rasa turn would be
undone by the turn's own save. The turn runner (:mod:`bot.channels.inbound`) asks
:meth:`PrivacyDesk.before_turn` after a counsellor's console and the channel's own words,
and :meth:`PrivacyDesk.after_turn` once a turn answered her.

A "yes" erases only within :data:`CONFIRM_WITHIN` of the question, only as a short answer
without danger signs: "non, je veux mourir" is not an answer to it, it goes on to the safety
check like any message.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from bot.channels.contacts import ContactView
from bot.channels.optout import keyword
from bot.channels.outbound import Button, Outbox
from bot.channels.store import ChannelStore
from bot.db.base import utcnow
from bot.i18n import Translator
from bot.menu import yes_no
from bot.nlu.normalise import words
from bot.privacy import (
    FORGET_ASK,
    FORGET_DONE,
    FORGET_KEPT,
    FORGET_NO,
    FORGET_WORDS,
    FORGET_YES,
    NOTICE,
    NOTICE_WORDS,
)
from bot.privacy.erase import Eraser
from bot.privacy.requests import PrivacyRequests
from bot.safety import load_lexicon

logger = logging.getLogger(__name__)

CONFIRM_WITHIN = timedelta(minutes=30)
MAX_ANSWER_WORDS = 4  # "oui", "si claro", "awɔ, a jɔsi": longer is a message, not an answer


@dataclass
class PrivacyDesk:
    """Answers EFFACER / BORRAR / JOSI, CONFIDENTIALITE / PRIVACIDAD / GUNDO and /privacy,
    the yes or no that follows "forget me", and the notice of a first contact.

    ``ended`` ends her open handoff before she is erased (its counsellor is told: the relay);
    ``delete_topic`` deletes a staff-group topic that holds her words (None: no group).
    """

    requests: PrivacyRequests
    store: ChannelStore
    outbox: Outbox
    eraser: Eraser
    retention_days: int
    ended: Callable[[ContactView], Awaitable[None]] | None = None
    delete_topic: Callable[[int], Awaitable[bool]] | None = None

    async def before_turn(self, contact: ContactView, text: str | None, button: int | None,
                          language: str) -> str | None:  # fmt: skip
        """The inbound status when the message was a privacy word or the answer to "forget
        me?"; None for any other message (its turn, or the relay, comes next)."""
        word = keyword(text)
        if word in FORGET_WORDS:
            language = FORGET_WORDS[word] or language
            if contact.opted_out:  # STOP first: no question can reach her, so no question
                await self._erase(contact, language, tell=False)
                return "erased"
            await self.ask(contact, language)
            return "privacy"
        if word in NOTICE_WORDS:
            await self.notice(contact, NOTICE_WORDS[word] or language)
            return "privacy"
        asked = contact.erase_asked_at
        if asked is None:
            return None
        answer = await self._answer(contact, text, button)
        verdict = None
        short = len(words(answer)) <= MAX_ANSWER_WORDS
        # Danger signs are never an answer: they go on to the safety check.
        if utcnow() - asked <= CONFIRM_WITHIN and short and load_lexicon().category(answer) is None:
            verdict = yes_no(answer)
        if verdict is True:
            await self._erase(contact, language, tell=True)
            return "erased"
        await asyncio.to_thread(self.requests.clear_erase, contact.id)
        if verdict is False:
            await self._say(contact, language, FORGET_KEPT)
            return "privacy"
        return None

    async def _answer(self, contact: ContactView, text: str | None, button: int | None) -> str:
        """Her words, or the yes/no a Telegram button carries."""
        if button is not None:
            payload = await asyncio.to_thread(self.store.button_payload, contact.id, button)
            return payload or ""
        return (text or "").strip()

    async def ask(self, contact: ContactView, language: str) -> None:
        """Say what will be erased and ask for a yes (1) or a no (2)."""
        await asyncio.to_thread(self.requests.ask_erase, contact.id)
        translate = Translator(language)
        buttons = [Button(translate(FORGET_YES), "1"), Button(translate(FORGET_NO), "2")]
        await self._say(contact, language, FORGET_ASK, buttons=buttons)

    async def notice(self, contact: ContactView, language: str) -> None:
        """What is kept, for how long, and how to erase it."""
        await self._say(contact, language, NOTICE, days=self.retention_days)

    async def after_turn(self, contact: ContactView, language: str) -> None:
        """Her first contact: the notice, once (across instances)."""
        if contact.privacy_noticed or contact.opted_out:
            return
        if await asyncio.to_thread(self.requests.claim_notice, contact.id):
            await self.notice(contact, language)

    async def erase_by_staff(self, conversation_id: str, *, tell: bool) -> dict[str, int]:
        """``python -m bot privacy erase``: the same as her own "forget me"; what went."""
        contact = await asyncio.to_thread(self.store.contact_by_id, conversation_id)
        if contact is None:  # her contact went already (retention): the rest still goes
            return await asyncio.to_thread(self.eraser.erase, conversation_id)
        language = contact.language or "fr"
        return await self._erase(contact, language, tell=tell and not contact.opted_out)

    async def _erase(self, contact: ContactView, language: str, *, tell: bool) -> dict[str, int]:
        """End her handoff, delete her staff-group topics, erase, then say goodbye.

        Erased before she is told: a crash in between leaves her untold, never told and
        not erased (her "yes" is then run again by the recovery, and erasing twice is the
        same). The goodbye goes to the address held in ``contact``, and the row it leaves
        is anonymised like the others."""
        if self.ended is not None:
            await self.ended(contact)
        topics = 0
        if self.delete_topic is not None:
            for topic in await asyncio.to_thread(self.eraser.topics, contact.id):
                topics += bool(await self.delete_topic(topic))
        counts = await asyncio.to_thread(self.eraser.erase, contact.id)
        counts["staff_topics"] = topics
        logger.info("A conversation was erased at the user's request.")
        sender = self.outbox.senders.get(contact.channel)
        if tell and sender is not None:
            try:
                await sender.send(contact, Translator(language)(FORGET_DONE), ())
            except Exception as error:  # erased all the same
                logger.error("Could not send the last message (%s).", type(error).__name__)
            await asyncio.to_thread(self.eraser.forget_sends, contact.id)
        return counts

    async def _say(self, contact: ContactView, language: str, key: str,
                   buttons: list[Button] | None = None, **values: Any) -> None:  # fmt: skip
        try:
            await self.outbox.send(contact.id, Translator(language)(key, **values), buttons or ())
        except Exception as error:  # she is still answered by what follows, or erased
            logger.error("Could not send a privacy message (%s).", type(error).__name__)
