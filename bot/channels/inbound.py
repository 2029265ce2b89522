"""What happens to a user's message between the webhook and Rasa, for every channel.

The webhook only checks, stores and acknowledges (:meth:`TurnRunner.accept`); the turn runs
afterwards in a task, one at a time per conversation, and Rasa's part of it on a second
event loop (:class:`TurnLoop`) so that the webhooks never wait for a turn's computation.
Stored first means nothing is lost: a redelivery is recognised by the provider's id even
after a restart, a crash in the turn leaves the message in the database and the user gets
an apology in her language, a flood is stored and answered once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from rasa.core.channels.channel import OutputChannel, UserMessage
from sanic.response import HTTPResponse

from bot import LANGUAGES
from bot.channels.contacts import ContactView
from bot.channels.outbound import Button, Outbox
from bot.channels.store import ChannelStore
from bot.countries import default_language
from bot.db.base import utcnow
from bot.i18n import N_, Translator
from bot.nlu.normalise import normalise
from bot.settings import ChannelSettings

logger = logging.getLogger(__name__)

# What a message that carries no text becomes for Rasa: one intent, answered in the
# conversation's language ("I can only read text...").
MEDIA_PAYLOAD = "/media"
HELP_PAYLOAD = "/help"
_NUMBER = re.compile(r"^\s*(\d{1,2})\s*[.)]?\s*$")

SWITCH_INTERVAL_S = 0.001

APOLOGY = N_("channel.apology")
RATE_LIMITED = N_("channel.rate_limited")


def server_timing(answer: HTTPResponse, started: float) -> HTTPResponse:
    """The time the server spent on the webhook, in a ``Server-Timing`` header: the
    benchmark reports it beside what the client saw (which includes queueing)."""
    answer.headers["Server-Timing"] = f"ack;dur={(time.perf_counter() - started) * 1000:.1f}"
    return answer


@dataclass(frozen=True)
class Inbound:
    """One message from a provider, reduced to what the turn needs."""

    channel: str
    provider_id: str
    address: str
    kind: str  # text, media, voice, location, sticker, empty, callback, command, other
    text: str | None = None
    payload: str | None = None  # already resolved for Rasa (a button, a command)
    country: str | None = None
    button: int | None = None  # a Telegram button position, resolved from the store
    thread: int | None = None  # a staff-group message: the forum topic it was written in


class Gate(Protocol):
    """What a channel asks before, around and after every turn: the counsellor handoff
    (:class:`bot.handoff.relay.Relay`), given by the composition root (:mod:`bot.runtime`).
    The channels know this shape, never the handoff itself."""

    async def console(self, contact: ContactView, inbound: Inbound) -> str | None:
        """A counsellor's console message: handled ("console"), else None."""

    async def route(self, contact: ContactView, inbound: Inbound) -> str | None:
        """A message of a conversation a person owns: its inbound status, else None (a turn)."""

    async def emergency_outside_turn(self, contact: ContactView, text: str, language: str) -> bool:
        """A message that got no turn: the emergency answer when it shows danger signs."""

    async def opted_out(self, contact: ContactView) -> None:
        """She opted out (STOP): whoever holds her conversation is told."""

    def wake(self) -> None:
        """A turn may have opened a handoff: look now."""


# Words a user may send alone, whatever the state, and the payload each becomes (the
# handoff's "parler", the booking's "atelier"...): given by the composition root.
Keywords = Mapping[str, str]


class TurnLoop:
    """A second event loop, in its own thread, where Rasa's turns run.

    Why: Rasa computes NLU and policies synchronously inside its coroutines, so on the
    server's loop every running turn would hold every webhook for about 100 ms (measured by
    ``make bench-channels``). Here the server's loop only stores and acknowledges; replies
    come back to it (:class:`ContactOutput`), where the provider clients live. Turns still
    interleave with each other on this loop as they did on the server's.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._guard = threading.Lock()

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._guard:
            if self._loop is None:
                # Hand the GIL over every 1 ms instead of 5: while a turn computes here, the
                # server's loop gets it back sooner to acknowledge a webhook.
                sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_S))
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="rasa-turns", daemon=True).start()
                self._loop = loop
            return self._loop

    async def run(self, work: Awaitable[Any]) -> Any:
        """Await ``work`` on the turn loop; its result or its exception comes back here."""
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self.loop()))


@dataclass
class _Queue:
    """The turns of one conversation: one at a time, in the order they came."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0


@dataclass
class TurnRunner:
    """Runs the turns of one channel: ordered per conversation, bounded in number."""

    channel: str
    settings: ChannelSettings
    store: ChannelStore
    outbox: Outbox
    output: Callable[[], OutputChannel]
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    turns: TurnLoop = field(default_factory=TurnLoop)
    _ack_threads: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(2, thread_name_prefix="webhook-store")
    )
    _locks: dict[str, _Queue] = field(default_factory=dict)
    _slots: asyncio.Semaphore | None = None
    # The counsellor handoff: asked before every turn.
    gate: Gate | None = None
    # Words that stand for a payload on their own (normalised word -> payload).
    keywords: Keywords = field(default_factory=dict)

    async def accept(
        self,
        inbound: Inbound,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        agent: Any = None,
        *,
        keyword: Callable[[ContactView, Inbound], Awaitable[bool]] | None = None,
    ) -> bool:
        """Store the message and start its turn. False when it was a redelivery."""
        # One thread hop, on threads of its own: the acknowledgement never queues behind the
        # database work of running turns (which uses the loop's default executor).
        contact, row = await asyncio.get_running_loop().run_in_executor(
            self._ack_threads, self._store, inbound
        )
        if row is None:
            logger.info("Redelivery of a %s message ignored.", inbound.channel)
            return False
        work = self._run(row, contact, inbound, on_new_message, agent, keyword)
        task = asyncio.create_task(self._turn(row, contact, work, inbound.text))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return True

    def _store(self, inbound: Inbound) -> tuple[ContactView, int | None]:
        contact = self.store.contact(inbound.channel, inbound.address, country=inbound.country)
        row = self.store.record_inbound(
            inbound.channel, inbound.provider_id, contact.id, inbound.kind, inbound.text
        )
        return contact, row

    async def _turn(
        self, row: int, contact: ContactView, work: Awaitable[None], text: str | None = None
    ) -> None:
        """``work`` (:meth:`_run`) in order for the conversation, within the turn bound; a
        crash keeps the message, passes it through the safety check, and apologises."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.settings.turn_concurrency)
        # The lock is dropped when no turn of the conversation holds or awaits it (a released
        # lock looks free before its next waiter has taken it: "locked()" cannot tell).
        queue = self._locks.setdefault(contact.id, _Queue())
        queue.users += 1
        try:
            async with queue.lock, self._slots:
                try:
                    await work
                except Exception as error:
                    logger.exception("Turn failed on %s (%s).", self.channel, type(error).__name__)
                    await asyncio.to_thread(
                        self.store.set_inbound_status, row, "failed", type(error).__name__
                    )
                    if not await self._safety_first(contact, text):
                        await self._say(contact, APOLOGY)
        finally:
            queue.users -= 1
            if not queue.users:
                self._locks.pop(contact.id, None)

    async def _safety_first(self, contact: ContactView, text: str | None) -> bool:
        """A message that got no turn (a crash, a restart): danger signs in it get the
        emergency answer and a priority handoff instead of an apology. True when they did."""
        if self.gate is None or not text or contact.opted_out:
            return False
        fresh = await asyncio.to_thread(self.store.contact_by_id, contact.id) or contact
        try:
            return bool(await self.gate.emergency_outside_turn(fresh, text,
                                                                self.language_of(fresh)))
        except Exception as error:
            logger.error("Safety check after a failed turn failed (%s).", type(error).__name__)
            return False

    async def _run(
        self,
        row: int,
        contact: ContactView,
        inbound: Inbound,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        agent: Any,
        keyword: Callable[[ContactView, Inbound], Awaitable[bool]] | None,
    ) -> None:
        await asyncio.to_thread(self.store.set_inbound_status, row, "processing")
        if self.gate is not None:
            # A counsellor's console comes before any keyword: "#12 stop" is for the user.
            handled = await self.gate.console(contact, inbound)
            if handled is not None:
                await asyncio.to_thread(self.store.set_inbound_status, row, handled)
                return
        if keyword is not None:
            if await keyword(contact, inbound):
                await asyncio.to_thread(self.store.set_inbound_status, row, "done")
                return
            fresh = await asyncio.to_thread(self.store.contact_by_id, contact.id)
            contact = fresh or contact
        if contact.opted_out:
            await asyncio.to_thread(self.store.set_inbound_status, row, "opted_out")
            return
        if self.gate is not None:
            # A person owns the conversation: no bot turn. Before the channel's rate limit
            # (the handoff has its own, towards the counsellor).
            routed = await self.gate.route(contact, inbound)
            if routed is not None:
                await asyncio.to_thread(self.store.set_inbound_status, row, routed)
                return
        if await self._over_limit(contact, row):
            await asyncio.to_thread(self.store.set_inbound_status, row, "rate_limited")
            if await asyncio.to_thread(
                self.store.claim_rate_notice, contact.id, self.settings.rate_window
            ):
                await self._say(contact, RATE_LIMITED)
            return
        text = await self._rasa_text(contact, inbound)
        metadata = {"channel": self.channel, "kind": inbound.kind}
        if contact.country:
            metadata["country"] = contact.country
        message = UserMessage(
            text, self.output(), contact.id, input_channel=self.channel,
            message_id=f"{self.channel}-{inbound.provider_id}", metadata=metadata,
        )  # fmt: skip
        language = await self.turns.run(self._rasa_turn(on_new_message, message, agent))
        await asyncio.to_thread(self.store.set_inbound_status, row, "done")
        if self.gate is not None:
            self.gate.wake()  # the turn may have opened a handoff: notify now
        if language in LANGUAGES and language != contact.language:
            await asyncio.to_thread(self.store.set_language, contact.id, language)

    @staticmethod
    async def _rasa_turn(
        on_new_message: Callable[[UserMessage], Awaitable[Any]], message: UserMessage, agent: Any
    ) -> str | None:
        """Rasa's turn (on the turn loop), then the conversation's language: kept beside the
        contact for what is sent outside a turn (apologies, reminders, a counsellor's notice)."""
        await on_new_message(message)
        if agent is None or agent.tracker_store is None:
            return None
        tracker = await agent.tracker_store.retrieve(message.sender_id)
        return tracker.get_slot("language") if tracker else None

    async def _over_limit(self, contact: ContactView, row: int) -> bool:
        since = utcnow() - self.settings.rate_window
        count = await asyncio.to_thread(
            lambda: self.store.inbound_count_since(contact.id, since, up_to=row)
        )
        return count > self.settings.rate_limit

    async def _rasa_text(self, contact: ContactView, inbound: Inbound) -> str:
        """The text Rasa sees: a resolved payload, a chosen button, or the user's words."""
        if inbound.payload:
            return inbound.payload
        if inbound.button is not None:
            payload = await asyncio.to_thread(self.store.button_payload, contact.id, inbound.button)
            return payload or str(inbound.button)
        text = (inbound.text or "").strip()
        if not text:
            return MEDIA_PAYLOAD
        if text.startswith("/"):
            # Rasa reads "/name..." as an intent and skips NLU, the safety check with it
            # ("/greet je veux mourir"): her own words never reach Rasa that way.
            text = text.lstrip("/").strip() or "?"
        keyword = self.keywords.get(normalise(text))
        if keyword is not None:
            return keyword
        number = _NUMBER.match(text)
        if number:
            payload = await asyncio.to_thread(
                self.store.button_payload, contact.id, int(number.group(1))
            )
            if payload:
                return payload
        return text

    def language_of(self, contact: ContactView) -> str:
        """Her language, else her phone's country's (we know nothing else about her)."""
        return contact.language or default_language(contact.country) or "fr"

    async def _say(self, contact: ContactView, key: str) -> None:
        """A channel-level message (no Rasa turn) in the contact's language."""
        try:
            await self.outbox.send(contact.id, Translator(self.language_of(contact))(key))
        except Exception as error:
            logger.error("Could not reach %s (%s).", contact.id, type(error).__name__)

    async def recover(self, started_at: datetime) -> int:
        """After a restart: messages a stopped process accepted but never answered. A
        counsellor's are her console's; in a conversation a person owns they are relayed now
        (nothing lost, the bot silent); elsewhere danger signs get the emergency answer, and
        any other message the apology (she writes again, in context) and stays stored. How
        many contacts were told."""
        answered: set[str] = set()
        if self.gate is not None:
            answered = await self._relay_pending(self.gate, started_at)
        ids = await asyncio.to_thread(self.store.interrupt_pending, self.channel, started_at)
        told = 0
        for conversation_id in ids:
            if conversation_id in answered:
                continue
            contact = await asyncio.to_thread(self.store.contact_by_id, conversation_id)
            if contact is not None and not contact.opted_out:
                await self._say(contact, APOLOGY)
                told += 1
        if ids:
            logger.info("%s: %d conversation(s) interrupted by a restart told.", self.channel, told)
        return told

    async def _relay_pending(self, gate: Gate, started_at: datetime) -> set[str]:
        """The relay's part of :meth:`recover`; the conversations given an emergency answer."""
        answered: set[str] = set()
        rows = await asyncio.to_thread(self.store.pending, self.channel, started_at)
        for row, conversation_id, kind, text, provider_id in rows:
            contact = await asyncio.to_thread(self.store.contact_by_id, conversation_id)
            if contact is None:
                continue
            thread = provider_id.rpartition(":")[2] if kind == "staff" else ""
            inbound = Inbound(self.channel, provider_id, contact.address, kind, text=text,
                              thread=int(thread) if thread.isdigit() else None)  # fmt: skip
            routed = await gate.console(contact, inbound)
            if routed is None and not contact.opted_out:
                routed = await gate.route(contact, inbound)
            if routed is None and await self._safety_first(contact, text):
                routed = "emergency"
                answered.add(conversation_id)
            if routed is not None:
                await asyncio.to_thread(self.store.set_inbound_status, row, routed)
        return answered

    def start_recovery(self) -> None:
        """:meth:`recover` in the background, at server start (the webhook is already up)."""

        async def recover() -> None:
            try:
                await self.recover(utcnow())
            except Exception as error:
                logger.error("Recovery on %s failed (%s).", self.channel, type(error).__name__)

        task = asyncio.create_task(recover())
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def drain(self) -> None:
        """Wait for the running turns (tests, shutdown)."""
        while self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)


class ContactOutput(OutputChannel):  # type: ignore[misc]  # Rasa has no type information
    """Rasa's replies for one channel, through the outbox (which knows the address)."""

    def __init__(self, channel: str, outbox: Outbox) -> None:
        self._channel = channel
        self.outbox = outbox
        try:  # the server's loop, where the provider clients live
            self._home: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._home = None

    async def _send(self, recipient_id: str, text: str, buttons: Sequence[Button] = ()) -> None:
        """Send on the server's loop, also when the turn runs on the turn loop."""
        work = self.outbox.send(recipient_id, text, list(buttons))
        if self._home is None or self._home is asyncio.get_running_loop():
            await work
        else:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(work, self._home))

    def name(self) -> str:  # Rasa asks the instance too (its own is a class method)
        return self._channel

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._send(recipient_id, text)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: Sequence[dict[str, Any]], **kwargs: Any
    ) -> None:
        await self._send(
            recipient_id,
            text,
            [Button(str(b.get("title", "")), str(b.get("payload", ""))) for b in buttons],
        )

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        logger.debug("Custom JSON is not sent on %s.", self._channel)
