"""Safety while a person owns the conversation, and after a turn that crashed.

The relay (:mod:`bot.handoff.relay`) asks :meth:`HandoffSafety.check` about every message of
a queued or counsellor-held conversation, before anything is relayed; the channels ask
:meth:`HandoffSafety.emergency_outside_turn` about a message whose turn crashed. The verdict
is the lexicon's, then the risk model's (:mod:`bot.safety.verdict`: the running agent's
parse, the lexicon alone when that fails):

- ``clear``: the counsellor is warned first, then she gets the fixed reply and her
  country's numbers (her country asked first when it is unknown), and the handoff becomes a
  priority, in every state;
- ``possible``: the handoff becomes a priority and the staff are told "possible risk"; while
  she waits she also gets the check-in ("are you safe right now?", the same catalog text as
  in a turn), and within :data:`~bot.safety.context.CHECKIN_OPEN` her "2" / "no" / "help", or
  more risk, is ``clear``. With a counsellor the bot stays silent: her counsellor reads her.
- after a crashed turn in the bot's conversation there is no form to hold her answer to a
  check-in: ``possible`` is answered as ``clear`` (numbers and a priority handoff).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import ParamSpec, TypeVar

from bot import menu
from bot.channels.contacts import ContactView
from bot.channels.inbound import Inbound
from bot.channels.outbound import Button, Outbox
from bot.channels.store import ChannelStore
from bot.countries import PROGRAMME
from bot.handoff import messages as m
from bot.handoff.models import Handoff
from bot.handoff.notices import Notices
from bot.handoff.ownership import BOT, COUNSELLOR, Owner
from bot.handoff.registry import Registry
from bot.handoff.service import HandoffService
from bot.i18n import Translator
from bot.safety import GENERAL, emergency_messages, numbers_given, numbers_line, record_alert
from bot.safety.context import CHECKIN_ANSWERS, CHECKIN_OPEN, HELP, SAFE, checkin_answer
from bot.safety.risk import CLEAR, NONE, POSSIBLE
from bot.safety.verdict import RiskReader, verdict

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

WARN_FIRST_S = 1.0  # an emergency: the counsellor's warning first, her numbers within this
MAX_COUNTRY_ASKS = 2  # during a handoff; then her counsellor, warned, takes it from there


@dataclass
class HandoffSafety:
    """The safety check of messages that get no bot turn."""

    notices: Notices
    risk: RiskReader | None  # the risk model's level (the running agent), None: lexicon only
    keep: Callable[[asyncio.Task[None]], None]  # keeps a task running past its caller
    wake: Callable[[], None]  # the relay's timers: a handoff was just opened

    @property
    def service(self) -> HandoffService:
        """The handoff service the notices use."""
        return self.notices.service

    @property
    def registry(self) -> Registry:
        """The counsellor registry the notices use."""
        return self.notices.registry

    @property
    def store(self) -> ChannelStore:
        """The channel store the notices use."""
        return self.notices.store

    @property
    def outbox(self) -> Outbox:
        """The outbox the notices use."""
        return self.notices.outbox

    async def _db(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A call of the synchronous services on a worker thread (never on the loop)."""
        return await asyncio.to_thread(work, *args, **kwargs)

    async def check(
        self, contact: ContactView, handoff: Handoff, owner: Owner, inbound: Inbound, said: str
    ) -> None:
        """Her message in a handoff, before it is relayed or held: the emergency answer,
        the check-in, her answer to either, or nothing."""
        found = await verdict(said, self.risk)
        waiting = owner.state != COUNSELLOR or not owner.counsellor_id
        pending = waiting and self._checkin_open(handoff)
        answer = checkin_answer(said) if pending else None
        if found.level == CLEAR:
            await self.emergency(contact, handoff, owner, found.category or GENERAL)
        elif handoff.country_question:  # an emergency's question: read as her answer
            await self._country_answer(contact, handoff, inbound, said)
        elif pending and (found.level == POSSIBLE or answer == HELP):
            await self._db(self.service.checkin, handoff.id, None)
            await self.emergency(contact, handoff, owner, GENERAL)
        elif found.level == POSSIBLE:
            await self.possible(contact, handoff, owner, ask=waiting)
        elif answer == SAFE:
            await self._db(self.service.checkin, handoff.id, None)

    def _checkin_open(self, handoff: Handoff) -> bool:
        if handoff.checkin_at is None:
            return False
        return self.service.now() - handoff.checkin_at <= timedelta(seconds=CHECKIN_OPEN)

    async def possible(
        self, contact: ContactView, handoff: Handoff, owner: Owner, *, ask: bool
    ) -> None:
        """Possible risk in a handoff: first in line, the staff told (no text, as for an
        emergency), and, while she waits, the check-in."""
        await self._db(record_alert, self.store.engine, contact.id, GENERAL, handoff.language,
                       contact.country, POSSIBLE)  # fmt: skip
        if not handoff.priority:
            handoff, _ = await self._db(self.service.request, contact.id, "emergency",
                                        language=handoff.language, channel=handoff.channel)
            await self.notices.retitle(handoff, owner.state)
        await self.notices.console_notice(handoff, m.POSSIBLE_FLAG, id=handoff.id)
        if owner.state == COUNSELLOR:
            holder = await self._db(self.registry.get, owner.counsellor_id or "")
            await self.notices.tell_counsellor(holder, m.POSSIBLE_FLAG, id=handoff.id)
        if not ask:
            return
        translate = Translator(handoff.language)
        buttons = [Button(translate(key), payload) for key, payload in CHECKIN_ANSWERS]
        await self._send(contact.id, translate("safety.checkin"), buttons)
        await self._db(self.service.checkin, handoff.id, self.service.now())

    async def emergency(
        self, contact: ContactView, handoff: Handoff, owner: Owner, category: str
    ) -> None:
        """Danger signs while a person owns the conversation: priority, an alert (no text),
        the counsellor warned first, then her fixed reply and numbers, before any relay."""
        await self._db(record_alert, self.store.engine, contact.id, category, handoff.language,
                       contact.country)  # fmt: skip
        if not handoff.priority:  # first in line from now on, and said so in the topic title
            handoff, _ = await self._db(self.service.request, contact.id, "emergency",
                                        language=handoff.language, channel=handoff.channel)
            await self.notices.retitle(handoff, owner.state)
        warning = asyncio.ensure_future(self._warn(handoff, owner))
        try:  # a slow console (the staff group's pace) must not hold her numbers
            await asyncio.wait_for(asyncio.shield(warning), WARN_FIRST_S)
        except asyncio.TimeoutError:
            self.keep(warning)
        except Exception as error:
            logger.error("Emergency warning for #%d failed (%s).", handoff.id,
                         type(error).__name__)  # fmt: skip
        await self._numbers(contact, handoff, category)

    async def _warn(self, handoff: Handoff, owner: Owner) -> None:
        """The emergency flag in the topic, and to her counsellor's text console."""
        await self.notices.console_notice(handoff, m.EMERGENCY_FLAG, id=handoff.id)
        if owner.state == COUNSELLOR:
            holder = await self._db(self.registry.get, owner.counsellor_id or "")
            await self.notices.tell_counsellor(holder, m.EMERGENCY_FLAG, id=handoff.id)

    async def _numbers(self, contact: ContactView, handoff: Handoff, category: str) -> None:
        """The fixed reply and the numbers of her country; her country asked first (with
        the numbered list) when the channel did not tell it."""
        language = handoff.language
        reply, line = emergency_messages(category, language, contact.country)
        await self._send(contact.id, reply)
        if contact.country:
            await self._send(contact.id, line)
            await self._db(numbers_given, self.store.engine, contact.id)
            return
        await self._ask_country(contact, handoff, category, menu.ASK_COUNTRY)

    async def _ask_country(
        self, contact: ContactView, handoff: Handoff, category: str, intro: str
    ) -> None:
        """Her country, asked with the numbered list; the handoff remembers the
        question so that her next message is read as the answer."""
        translate = Translator(handoff.language)
        buttons = [Button(title, payload) for title, payload in menu.country_choices(translate)]
        await self._send(contact.id, translate(intro), buttons)
        await self._db(self.service.ask_country, handoff.id, category)

    async def _country_answer(
        self, contact: ContactView, handoff: Handoff, inbound: Inbound, said: str
    ) -> None:
        """Her answer to the country question asked during the handoff: the numbers, or
        the question again (twice at most: her counsellor was warned)."""
        answer = said
        if inbound.button is not None:
            payload = await self._db(self.store.button_payload, contact.id, inbound.button)
            answer = payload or said
        country = menu.country_answer(answer)
        category = handoff.country_question or "general"
        if country is not None:
            if country in PROGRAMME:  # kept for the next time ("another country" is not)
                await self._db(self.store.set_country, contact.id, country)
            await self._send(contact.id, numbers_line(category, handoff.language, country))
            await self._db(numbers_given, self.store.engine, contact.id)
            await self._db(self.service.country_settled, handoff.id)
        elif handoff.country_asks < MAX_COUNTRY_ASKS:
            await self._ask_country(contact, handoff, category, menu.ASK_COUNTRY_AGAIN)
        else:
            await self._db(self.service.country_settled, handoff.id)

    async def emergency_outside_turn(
        self, contact: ContactView, text: str, language: str
    ) -> bool:
        """A message whose turn crashed (or was cut by a restart), in a conversation the bot
        owns: if it shows danger signs (``clear``, or ``possible``: no check-in can be
        answered without a turn) she gets the fixed reply, her numbers and a priority
        handoff, as a turn would have given. False when it shows none."""
        found = await verdict(text, self.risk)
        if found.level == NONE:
            return False
        category = found.category or GENERAL
        owner = await self._db(self.service.owner, contact.id)
        if owner.state == BOT:
            on_duty = await self._db(self.registry.available, language)
            opens_at = None if on_duty else await self._db(self.registry.next_opening, language)
            await self._db(self.service.request, contact.id, "emergency", language=language,
                           channel=contact.channel, opens_at=opens_at)  # fmt: skip
            self.wake()
        handoff = await self._db(self.service.open_handoff, contact.id)
        if handoff is None:
            return False
        await self.emergency(contact, handoff, owner, category)
        position = await self._db(self.service.position, contact.id)
        if position is not None:
            await self.notices.say(contact.id, handoff.language, m.QUEUED, position=position)
        return True

    async def _send(self, conversation_id: str, text: str, buttons: list[Button] | None = None
                    ) -> None:  # fmt: skip
        """A message to her outside the transcript (the emergency answer): best effort."""
        try:
            await self.outbox.send(conversation_id, text, buttons or [])
        except Exception as error:
            logger.error("Could not reach %s (%s).", conversation_id, type(error).__name__)


