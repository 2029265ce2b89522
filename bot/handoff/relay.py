"""The handoff in the Rasa server: every inbound message asks its owner first, then goes to
the bot, the queue or the counsellor; counsellors answer from their consoles; timers fire.

- With a counsellor, a user's message is kept in the transcript, marked for relay, then
  relayed to her console by :meth:`Relay.flush` (in order, one sender across instances; a
  failed send is retried by the worker, she is not asked to write again); the bot says
  nothing. Queued, it is kept for the counsellor (and shown in the Telegram topic), and
  the user hears "you are number N" at most every few minutes. The
  deterministic safety check still runs on every message: an emergency while waiting gets
  the fixed reply and the numbers at once, and is flagged to the counsellors.
- Consoles: a Telegram staff supergroup with one forum topic per handoff
  (:mod:`bot.handoff.console`), and the text console for counsellors on SMS or on the local
  terminal (``TAKE 12``, ``#12 text``, ``DONE 12 resolved``).
- Rasa: the tracker is paused by the action that opened the handoff; relayed messages are
  appended to it, and the hand-back resumes it with an ``action_listen`` so that the next
  turn is an ordinary one. The gate here does not rely on the pause: a session expiry
  cannot make the bot speak over a counsellor.
- Timers (:class:`~bot.handoff.service.HandoffService`): one worker task per process wakes
  after each turn and when the next timer is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from bot.channels.outbound import Outbox
from bot.channels.store import ChannelStore, ContactView
from bot.handoff import messages as m
from bot.handoff.console import TelegramConsole, parse_text_command, parse_topic_message
from bot.handoff.ownership import (
    BOT,
    COUNSELLOR,
    COUNSELLOR_OUTCOMES,
    QUEUED,
    Owner,
    OwnershipConflict,
)
from bot.handoff.registry import Counsellor, Registry
from bot.handoff.service import GIVE_UP, IDLE, NOTIFY, RENOTIFY, Handoff, HandoffService, Timer
from bot.i18n import Translator
from bot.safety import emergency_messages, load_lexicon

logger = logging.getLogger(__name__)

POLL_S = 5.0  # the worker also looks for timers other instances scheduled
SUMMARY_CHARS = 80
TRANSCRIPT_LINES = 8
# The user's time zone for "counsellors are back on ...", from her country.
COUNTRY_ZONES = {"ML": "Africa/Bamako", "PE": "America/Lima", "FR": "Europe/Paris"}
# What a counsellor cannot receive (she sees "[voice]"): the user is asked to write instead.
NOT_TEXT = frozenset({"media", "voice", "location", "sticker", "other"})


class TrackerHistory(Protocol):
    """Rasa's side (:class:`bot.handoff.tracker.RasaHistory`): best effort, never the gate."""

    async def user(self, conversation_id: str, text: str) -> None: ...

    async def counsellor(self, conversation_id: str, text: str, counsellor_id: str) -> None: ...

    async def resume(self, conversation_id: str) -> None: ...


class NoHistory:
    async def user(self, conversation_id: str, text: str) -> None:
        return None

    async def counsellor(self, conversation_id: str, text: str, counsellor_id: str) -> None:
        return None

    async def resume(self, conversation_id: str) -> None:
        return None


def user_zone(country: str | None) -> ZoneInfo | None:
    zone = COUNTRY_ZONES.get(country or "")
    return ZoneInfo(zone) if zone else None


@dataclass
class Relay:
    """Routes messages by owner, runs the consoles and the timers, in one server process."""

    service: HandoffService
    registry: Registry
    store: ChannelStore
    outbox: Outbox
    telegram: TelegramConsole | None = None
    history: TrackerHistory = field(default_factory=NoHistory)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _wake: asyncio.Event | None = None
    _worker: asyncio.Task[None] | None = None
    _relays_looked_at: float = 0.0  # monotonic: the worker's last look for left relays

    async def _db(self, work: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await asyncio.to_thread(work, *args, **kwargs)

    # Inbound --------------------------------------------------------------------------

    async def route(self, contact: ContactView, inbound: Any) -> str | None:
        """Before Rasa: a counsellor's console message, or a message of a conversation a
        person owns. The inbound status to record when handled, None for a normal turn."""
        if inbound.kind == "staff":
            await self.staff(contact, inbound)
            return "console"
        if contact.channel != "telegram":  # Telegram counsellors use the staff group
            counsellor = await self._db(self.registry.find, contact.channel, contact.address)
            if counsellor is not None and counsellor.active:
                await self.text_console(counsellor, contact, inbound.text or "")
                return "console"
        text = inbound.text or inbound.payload
        kind = inbound.kind
        owner = await self._db(self.service.owner, contact.id)
        if owner.state == BOT:
            return None
        handoff = await self._db(self.service.open_handoff, contact.id)
        if handoff is None:  # owned without a handoff row: never leave her unanswered
            logger.warning("Conversation %s is %s with no open handoff.", contact.id, owner.state)
            return None
        said = (text or "").strip()
        if kind in NOT_TEXT or not said:  # "[voice]", "[media] look at this": she sees it came
            said = f"[{kind}] {said}".strip()
        with_counsellor = owner.state == COUNSELLOR and bool(owner.counsellor_id)
        await self._db(self.service.record, handoff.id, "user", said, to_relay=with_counsellor)
        await self.history.user(contact.id, said)
        category = load_lexicon().category(said)
        if category is not None:
            await self._emergency(contact, handoff, category, owner)
        if kind in NOT_TEXT:
            await self._say(contact.id, handoff.language, m.MEDIA_NOT_RELAYED)
        if with_counsellor:
            return "relayed" if await self.flush(handoff.id) else "relay_pending"
        await self._topic_post(handoff, f"#{handoff.id}: {said}")
        if await self._db(self.service.claim_waiting_notice, handoff.id):
            position = await self._db(self.service.position, contact.id) or 1
            await self._say(contact.id, handoff.language, m.WAITING, position=position)
        return "held"

    async def _emergency(
        self, contact: ContactView, handoff: Handoff, category: str, owner: Owner
    ) -> None:
        """Danger signs during a handoff: priority, a flag to counsellors (before the
        message itself), and while she waits, the fixed reply and the numbers at once."""
        await self._db(self.service.ownership.request, contact.id, "emergency")
        if owner.state == QUEUED:
            for text in emergency_messages(category, handoff.language, contact.country):
                await self.outbox.send(contact.id, text)
        await self._console_notice(handoff, m.EMERGENCY_FLAG, id=handoff.id)
        if owner.state == COUNSELLOR:
            counsellor = await self._db(self.registry.get, owner.counsellor_id or "")
            if counsellor is not None and not self._in_topic(counsellor):
                await self._teller(counsellor)(m.EMERGENCY_FLAG, id=handoff.id)

    async def flush(self, handoff_id: int) -> bool:
        """Her messages waiting for the counsellor, sent in order by the holder of the
        handoff's relay lease. True when this call sent them all; False when a send failed
        (they stay marked: the worker tries again after ``RELAY_RETRY``) or another sender
        holds them."""
        token = await self._db(self.service.take_relay, handoff_id)
        if token is None:
            return False
        try:
            while pending := await self._db(self.service.to_relay, handoff_id):
                handoff = await self._db(self.service.get, handoff_id)
                counsellor = await self._holder(handoff)
                for message_id, text in pending:
                    line = f"#{handoff_id}: {text}"
                    if counsellor is not None:
                        if not await self._db(self.service.renew_relay, handoff_id, token):
                            return False  # the lease expired: its new holder goes on
                        await self._to_counsellor(handoff, counsellor, line)
                    elif handoff is not None and handoff.open:  # back in the queue meanwhile
                        await self._topic_post(handoff, line)  # as a queued message is
                    await self._db(self.service.relayed, message_id)
        except Exception as error:
            logger.error("Relay of #%d to its counsellor failed (%s); retrying.", handoff_id,
                         type(error).__name__)  # fmt: skip
            await self._db(self.service.release_relay, handoff_id, token, retry=True)
            return False
        await self._db(self.service.release_relay, handoff_id, token)
        return True

    async def retry_relays(self) -> None:
        """The worker's part: her messages a failed send (or a dead instance) left behind."""
        for handoff_id in await self._db(self.service.relay_due):
            await self.flush(handoff_id)

    async def _holder(self, handoff: Handoff | None) -> Counsellor | None:
        """The counsellor who holds this open handoff now, if any."""
        if handoff is None or not handoff.open:
            return None
        owner = await self._db(self.service.owner, handoff.conversation_id)
        if owner.state != COUNSELLOR or not owner.counsellor_id:
            return None
        return await self._db(self.registry.get, owner.counsellor_id)

    # Consoles -------------------------------------------------------------------------

    async def staff(self, contact: ContactView, inbound: Any) -> None:
        """A message in the staff group: a command or words for the user, in a topic."""
        if self.telegram is None or inbound.thread is None:
            return
        handoff = await self._db(self.service.by_topic, inbound.thread)
        if handoff is None:
            return  # the group's general chat, or a topic we did not open
        tell = self._topic_teller(handoff)
        counsellor = await self._db(self.registry.find, "telegram", contact.address)
        if counsellor is None or not counsellor.active:
            await tell(m.NOT_REGISTERED)
            return
        verb, argument = parse_topic_message(inbound.text or "")
        if verb == "help":
            await tell(m.HELP_TELEGRAM)
            return
        await self.command(counsellor, verb, handoff.id, argument, tell)

    def _topic_teller(self, handoff: Handoff) -> Callable[..., Awaitable[None]]:
        async def tell(key: str | None, raw: str | None = None, **values: Any) -> None:
            if self.telegram is not None:
                text = raw if key is None else self._staff(key, **values)
                await self.telegram.post(handoff, text)

        return tell

    async def text_console(self, counsellor: Counsellor, contact: ContactView, text: str) -> None:
        """The SMS and local console: ``TAKE 12``, ``#12 text``, ``DONE 12 outcome``,
        ``RELEASE 12``; anything else gets the list of commands."""
        command = parse_text_command(text)
        tell = self._teller(counsellor, contact.id)
        if command is None:
            await tell(m.HELP_SMS)
            return
        await self.command(counsellor, command.verb, command.handoff_id, command.argument, tell)

    async def command(
        self,
        counsellor: Counsellor,
        verb: str,
        handoff_id: int,
        argument: str,
        tell: Callable[..., Awaitable[None]],
    ) -> None:
        """One console command, whichever console it came from."""
        handoff = await self._db(self.service.get, handoff_id)
        if handoff is None:
            await tell(m.UNKNOWN_REQUEST, id=handoff_id)
            return
        if not handoff.open:
            await tell(m.NOT_OPEN, id=handoff_id)
            return
        if verb == "claim":
            await self.claim(counsellor, handoff, tell)
        elif verb == "say":
            await self.to_user(counsellor, handoff, argument, tell)
        elif verb == "release":
            await self.release(counsellor, handoff, tell)
        elif verb == "close":
            await self.close(counsellor, handoff, argument, tell)
        elif verb == "transcript":
            await tell_raw(tell, await self._transcript_text(handoff))

    async def claim(
        self, counsellor: Counsellor, handoff: Handoff, tell: Callable[..., Awaitable[None]]
    ) -> None:
        owner = await self._db(self.service.owner, handoff.conversation_id)
        if owner.state == COUNSELLOR:
            if owner.counsellor_id != counsellor.id:
                await tell(m.HELD_BY_OTHER, id=handoff.id, name=await self._name(owner))
                return
        else:
            try:
                handoff = await self._db(self.service.claim, handoff.id, counsellor.id)
            except OwnershipConflict:
                owner = await self._db(self.service.owner, handoff.conversation_id)
                await tell(m.HELD_BY_OTHER, id=handoff.id, name=await self._name(owner))
                return
            await self._say(handoff.conversation_id, handoff.language, m.JOINED)
            await self._retitle(handoff, COUNSELLOR)
        await self._console_notice(handoff, m.CLAIMED, id=handoff.id, name=counsellor.name)
        if not self._in_topic(counsellor):
            await tell(m.CLAIMED, id=handoff.id, name=counsellor.name)
            # What she wrote while waiting, so that the counsellor starts with the context.
            if await self._db(self.service.transcript, handoff.id):
                await tell_raw(tell, await self._transcript_text(handoff))

    async def to_user(
        self,
        counsellor: Counsellor,
        handoff: Handoff,
        text: str,
        tell: Callable[..., Awaitable[None]],
    ) -> None:
        """A counsellor's words to the user: kept in the transcript, then sent on her
        channel. Only the counsellor who holds the conversation may write."""
        owner = await self._db(self.service.owner, handoff.conversation_id)
        if owner.state != COUNSELLOR:
            await tell(m.CLAIM_FIRST, id=handoff.id)
            return
        if owner.counsellor_id != counsellor.id:
            await tell(m.HELD_BY_OTHER, id=handoff.id, name=await self._name(owner))
            return
        text = text.strip()
        if not text:
            return
        await self._db(self.service.record, handoff.id, "counsellor", text, counsellor.id)
        if not await self.outbox.send(handoff.conversation_id, text):
            await tell(m.USER_LEFT, id=handoff.id)
            return
        await self.history.counsellor(handoff.conversation_id, text, counsellor.id)

    async def release(
        self, counsellor: Counsellor, handoff: Handoff, tell: Callable[..., Awaitable[None]]
    ) -> None:
        try:
            handoff = await self._db(self.service.release, handoff.id, counsellor.id)
        except OwnershipConflict:
            await tell(m.CLAIM_FIRST, id=handoff.id)
            return
        await self._retitle(handoff, QUEUED)
        await self._console_notice(handoff, m.RELEASED, id=handoff.id)
        if not self._in_topic(counsellor):
            await tell(m.RELEASED, id=handoff.id)
        self.wake()

    async def close(
        self,
        counsellor: Counsellor,
        handoff: Handoff,
        outcome: str,
        tell: Callable[..., Awaitable[None]],
    ) -> None:
        if outcome not in COUNSELLOR_OUTCOMES:
            await tell(m.BAD_OUTCOME, outcomes=", ".join(COUNSELLOR_OUTCOMES))
            return
        owner = await self._db(self.service.owner, handoff.conversation_id)
        if owner.state == COUNSELLOR and owner.counsellor_id != counsellor.id:
            await tell(m.HELD_BY_OTHER, id=handoff.id, name=await self._name(owner))
            return
        try:
            handoff = await self._db(
                self.service.close, handoff.id, outcome, actor=f"counsellor:{counsellor.id}"
            )
        except OwnershipConflict:
            await tell(m.NOT_OPEN, id=handoff.id)
            return
        await self._hand_back(handoff, [m.BACK_TO_BOT, *filter(None, [m.FOLLOWUP.get(outcome)])])
        await self._console_notice(handoff, m.CLOSED, id=handoff.id, outcome=outcome)
        if not self._in_topic(counsellor):
            await tell(m.CLOSED, id=handoff.id, outcome=outcome)

    async def _hand_back(self, handoff: Handoff, keys: list[str]) -> None:
        """Rasa resumes first, so that an answer she sends right after is the bot's again."""
        await self.history.resume(handoff.conversation_id)
        await self._retitle(handoff, BOT)
        for key in keys:
            await self._say(handoff.conversation_id, handoff.language, key)

    # Notifications --------------------------------------------------------------------

    async def notify(self, handoff: Handoff, *, again: bool = False) -> None:
        """A new (or still unclaimed) request: its Telegram topic, and an SMS to each text
        console counsellor on duty who speaks her language."""
        if self.telegram is not None:
            if handoff.topic_id is None:
                topic = await self.telegram.open_topic(handoff, self._title(handoff, QUEUED))
                if topic is not None:
                    await self._db(self.service.set_topic, handoff.id, topic)
                    handoff = await self._db(self.service.get, handoff.id)
                    await self.telegram.post(
                        handoff, self._staff(m.TOPIC_INTRO, **await self._intro(handoff))
                    )
            elif again:
                minutes = self._waited(handoff)
                await self.telegram.post(handoff, self._staff(m.RENOTIFY, id=handoff.id,
                                                              minutes=minutes))  # fmt: skip
        on_duty = await self._db(self.registry.available, handoff.language)
        summary = await self._summary(handoff)
        for counsellor in on_duty:
            if counsellor.channel == "telegram":
                continue  # the topic is their notification
            contact = await self._db(self.store.contact, counsellor.channel, counsellor.address)
            translate = Translator(counsellor.languages[0])
            if again:
                text = translate(m.RENOTIFY, id=handoff.id, minutes=self._waited(handoff))
            else:
                priority = f" {translate(m.PRIORITY)}" if handoff.priority else ""
                text = translate(m.NEW_REQUEST_SMS, id=handoff.id, language=handoff.language,
                                 priority=priority, summary=summary)  # fmt: skip
            await self.outbox.send(contact.id, text)

    def _waited(self, handoff: Handoff) -> int:
        return max(1, int((self.service.now() - handoff.opened_at).total_seconds() // 60))

    async def _intro(self, handoff: Handoff) -> dict[str, Any]:
        lines = await self._db(self._recent_lines, handoff)
        return {"id": handoff.id, "language": handoff.language, "channel": handoff.channel,
                "reason": handoff.reason, "transcript": "\n".join(lines)}  # fmt: skip

    def _recent_lines(self, handoff: Handoff) -> list[str]:
        """The last messages before the request, from the channel store (texts only: no
        address ever reaches a counsellor)."""
        return [
            f"{'>' if who == 'user' else '<'} {text}"
            for who, text in self.store.recent_texts(handoff.conversation_id, TRANSCRIPT_LINES)
        ]

    async def _summary(self, handoff: Handoff) -> str:
        lines = await self._db(self.store.recent_texts, handoff.conversation_id, 1, "user")
        text = lines[-1][1] if lines else handoff.reason
        return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"

    async def _transcript_text(self, handoff: Handoff) -> str:
        lines = await self._db(self.service.transcript, handoff.id)
        shown = [f"{'>' if line.direction == 'user' else '<'} {line.text}" for line in lines]
        return f"#{handoff.id}\n" + "\n".join(shown[-20:])

    # Timers ---------------------------------------------------------------------------

    async def fire(self, timer: Timer) -> None:
        handoff = await self._db(self.service.get, timer.handoff_id)
        if handoff is None or not handoff.open:
            return
        owner = await self._db(self.service.owner, handoff.conversation_id)
        if timer.kind == NOTIFY and owner.state == QUEUED:
            await self.notify(handoff)
        elif timer.kind == RENOTIFY and owner.state == QUEUED:
            await self.notify(handoff, again=True)
            settings = self.service.settings
            later = max(settings.give_up_after - settings.renotify_after, timedelta(0))
            await self._db(self.service.schedule, handoff.id, GIVE_UP, self.service.now() + later)
        elif timer.kind == GIVE_UP and owner.state == QUEUED:
            handoff = await self._db(self.service.close, handoff.id, "unclaimed", actor="system")
            await self._hand_back(handoff, [m.NOBODY_FREE])
            await self._console_notice(handoff, m.CLOSED, id=handoff.id, outcome="unclaimed")
        elif timer.kind == IDLE and owner.state == COUNSELLOR:
            quiet_until = handoff.last_activity_at + self.service.settings.idle_after
            if quiet_until > self.service.now():
                await self._db(self.service.schedule, handoff.id, IDLE, quiet_until)
                return
            handoff = await self._db(self.service.close, handoff.id, "timeout", actor="system")
            await self._hand_back(handoff, [m.IDLE_CLOSED])
            counsellor = await self._db(self.registry.get, owner.counsellor_id or "")
            if counsellor is not None and not self._in_topic(counsellor):
                await self._teller(counsellor)(m.CLOSED, id=handoff.id, outcome="timeout")
            await self._console_notice(handoff, m.CLOSED, id=handoff.id, outcome="timeout")

    def wake(self) -> None:
        """Look at the timers now (a turn may just have opened a handoff)."""
        if self._wake is not None:
            self._wake.set()

    def start(self) -> None:
        """The timer worker, on the server's loop."""
        if self._worker is None:
            self._wake = asyncio.Event()
            self._worker = asyncio.create_task(self._run_timers())

    async def _run_timers(self) -> None:
        assert self._wake is not None
        while True:
            self._wake.clear()
            try:
                for timer in await self._db(self.service.take_due):
                    try:
                        await self.fire(timer)
                    except Exception as error:  # one bad timer must not stop the others
                        logger.error("Handoff timer %s #%d failed (%s).", timer.kind,
                                     timer.handoff_id, type(error).__name__)  # fmt: skip
                    await self._db(self.service.done, timer.id)
                if time.monotonic() - self._relays_looked_at >= POLL_S:  # not after every turn
                    self._relays_looked_at = time.monotonic()
                    await self.retry_relays()
                due = await self._db(self.service.next_due)
            except Exception as error:
                logger.error("Handoff timers: %s; retrying.", type(error).__name__)
                due = None
            delay = POLL_S
            if due is not None:
                delay = min(POLL_S, max(0.0, (due - self.service.now()).total_seconds()))
            if delay > 0:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=delay)

    # Sending --------------------------------------------------------------------------

    async def _say(self, conversation_id: str, language: str, key: str, **values: Any) -> None:
        try:
            await self.outbox.send(conversation_id, Translator(language)(key, **values))
        except Exception as error:
            logger.error("Could not reach %s (%s).", conversation_id, type(error).__name__)

    def _staff(self, key: str, **values: Any) -> str:
        language = self.telegram.language if self.telegram else "fr"
        return Translator(language)(key, **values)

    def _title(self, handoff: Handoff, state: str) -> str:
        priority = f" {self._staff(m.PRIORITY)}" if handoff.priority else ""
        return (f"#{handoff.id} {handoff.language.upper()} {handoff.channel}{priority}"
                f" · {self._staff(m.STATE[state])}")  # fmt: skip

    async def _retitle(self, handoff: Handoff, state: str) -> None:
        if self.telegram is not None and handoff.topic_id is not None:
            await self.telegram.retitle(handoff, self._title(handoff, state), closed=state == BOT)

    async def _topic_post(self, handoff: Handoff, text: str) -> None:
        """A post for the staff group to see; a failure is logged (the transcript keeps the
        words, ``/transcript`` shows them)."""
        if self.telegram is not None and handoff.topic_id is not None:
            try:
                await self.telegram.post(handoff, text)
            except Exception as error:
                logger.error("Topic of #%d not updated (%s).", handoff.id, type(error).__name__)

    async def _console_notice(self, handoff: Handoff, key: str, **values: Any) -> None:
        """A state change, told in the handoff's topic (the Telegram counsellors' view)."""
        await self._topic_post(handoff, self._staff(key, **values))

    async def _to_counsellor(
        self, handoff: Handoff, counsellor: Counsellor | None, text: str
    ) -> None:
        if counsellor is None:
            return
        if self._in_topic(counsellor) and self.telegram is not None:
            await self.telegram.post(handoff, text)  # raises when Telegram fails
            return
        contact = await self._db(self.store.contact, counsellor.channel, counsellor.address)
        await self.outbox.send(contact.id, text)

    def _in_topic(self, counsellor: Counsellor) -> bool:
        """Telegram counsellors read and write in the staff group's topics."""
        return counsellor.channel == "telegram" and self.telegram is not None

    def _teller(
        self, counsellor: Counsellor, contact_id: str | None = None
    ) -> Callable[..., Awaitable[None]]:
        """Sends console messages to one text-console counsellor, in her language."""
        translate = Translator(counsellor.languages[0])

        async def tell(key: str | None, raw: str | None = None, **values: Any) -> None:
            target = contact_id
            if target is None:
                contact = await self._db(
                    self.store.contact, counsellor.channel, counsellor.address
                )
                target = contact.id
            await self.outbox.send(target, raw if key is None else translate(key, **values))

        return tell

    async def _name(self, owner: Any) -> str:
        counsellor = await self._db(self.registry.get, owner.counsellor_id or "")
        return counsellor.name if counsellor else "?"


async def tell_raw(tell: Callable[..., Awaitable[None]], text: str) -> None:
    """Console output that is data, not a sentence (a transcript)."""
    await tell(None, raw=text)


def next_opening_text(
    registry: Registry, language: str, country: str | None, at: datetime | None = None
) -> str | None:
    """When counsellors speaking ``language`` are back, in her language and time zone."""
    from bot.i18n import format_datetime

    when = registry.next_opening(language, at)
    return format_datetime(when, language, user_zone(country)) if when else None


def build_relay(runtime: Any, turns: Any) -> Relay:
    """The relay of a channel runtime: its store and outbox, the registry in the same
    database, the staff group when configured, Rasa's trackers through the agent."""
    from bot.handoff.tracker import RasaHistory

    settings = runtime.handoff_settings
    engine = runtime.store.engine
    telegram = None
    if settings.staff_chat_id is not None and runtime.settings.telegram_ready:
        telegram = TelegramConsole(runtime.outbox.senders["telegram"].bot,
                                   settings.staff_chat_id, settings.staff_language,
                                   settings.staff_per_minute)  # fmt: skip
    registry = Registry(engine)
    if settings.counsellors_file:
        changes = registry.import_file(settings.counsellors_file)
        logger.info("Counsellor registry: %d change(s) from the data file.", len(changes))
    return Relay(HandoffService(engine, settings), registry, runtime.store, runtime.outbox,
                 telegram, RasaHistory(lambda: runtime.agent, turns.run))  # fmt: skip
