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
import json
import logging
import re
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, NamedTuple, Protocol

from rasa.core.channels.channel import OutputChannel, UserMessage
from sanic.response import HTTPResponse

from bot import LANGUAGES
from bot.channels.contacts import ContactView
from bot.channels.leases import Leases, default_holder
from bot.channels.messages import InboundMessage
from bot.channels.outbound import Button, Outbox
from bot.channels.rows import as_utc
from bot.channels.store import ChannelStore
from bot.countries import default_language
from bot.db.base import utcnow
from bot.i18n import N_, Translator
from bot.metrics import TURN_SECONDS, TURNS
from bot.nlu.normalise import normalise
from bot.settings import ChannelSettings

logger = logging.getLogger(__name__)

# What a message that carries no text becomes for Rasa: one intent, answered in the
# conversation's language ("I can only read text...").
MEDIA_PAYLOAD = "/media"
HELP_PAYLOAD = "/help"
_NUMBER = re.compile(r"^\s*(\d{1,2})\s*[.)]?\s*$")

SWITCH_INTERVAL_S = 0.001
# A message stored this long ago and never started (its instance was down) is not replayed
# out of context: it is treated as interrupted (safety check, relay, else the apology).
STALE_AFTER = timedelta(minutes=10)

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


class Privacy(Protocol):
    """Her privacy words and the "forget me" question, in every state
    (:class:`bot.privacy.desk.PrivacyDesk`, given by the composition root)."""

    async def before_turn(self, contact: ContactView, text: str | None, button: int | None,
                          language: str) -> str | None:  # fmt: skip
        """Handled: the inbound status; None for any other message."""

    async def after_turn(self, contact: ContactView, language: str) -> None:
        """A turn answered her: the notice of a first contact."""


# Words a user may send alone, whatever the state, and the payload each becomes (the
# handoff's "parler", the booking's "atelier"...): given by the composition root.
Keywords = Mapping[str, str]
# A channel's own words handled before the turn (SMS STOP...): True when handled.
KeywordHandler = Callable[[ContactView, "Inbound"], Awaitable[bool]]


class Handler(NamedTuple):
    """What runs a channel's turns: Rasa's message handler, its agent, the channel's words."""

    on_new_message: Callable[[UserMessage], Awaitable[Any]]
    agent: Any
    keyword: KeywordHandler | None


def inbound_of(row: InboundMessage, contact: ContactView) -> Inbound:
    """A stored message as its turn needs it, whichever instance received it."""
    details = json.loads(row.details) if row.details else {}
    thread = details.get("thread")
    if thread is None and row.kind == "staff":  # stored before details existed
        tail = str(row.provider_id).rpartition(":")[2]
        thread = int(tail) if tail.isdigit() else None
    return Inbound(row.channel, row.provider_id, contact.address, row.kind, text=row.text,
                   payload=details.get("payload"), country=contact.country,
                   button=details.get("button"), thread=thread)  # fmt: skip


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
class TurnRunner:
    """Runs the turns of one channel: one at a time and in arrival order per conversation,
    across every instance (:mod:`bot.channels.leases`), bounded in number per process."""

    channel: str
    settings: ChannelSettings
    store: ChannelStore
    outbox: Outbox
    output: Callable[[], OutputChannel]
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    turns: TurnLoop = field(default_factory=TurnLoop)
    _ack_threads: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(2, thread_name_prefix="webhook-store")
    )
    _slots: asyncio.Semaphore | None = None
    # The counsellor handoff: asked before every turn.
    gate: Gate | None = None
    # Words that stand for a payload on their own (normalised word -> payload).
    keywords: Keywords = field(default_factory=dict)
    # Which instance runs which conversation now; shared by the channels of a process.
    leases: Leases | None = None
    # "Forget me" and the privacy notice: asked after a counsellor's console and the
    # channel's words, before the opt-out, the handoff and the rate limit.
    privacy: Privacy | None = None
    # Conversations this process is running, and whether a message came meanwhile.
    _draining: dict[str, bool] = field(default_factory=dict)
    _handler: Handler | None = None
    # Shutting down: messages are still stored and acknowledged, their turns left to the
    # next instance that runs the conversation (:meth:`recover`).
    stopping: bool = False

    def __post_init__(self) -> None:
        if self.leases is None:
            self.leases = Leases(self.store.engine, default_holder())

    @property
    def _leases(self) -> Leases:
        assert self.leases is not None  # set in __post_init__
        return self.leases

    def bind(
        self,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        agent: Any = None,
        keyword: KeywordHandler | None = None,
    ) -> None:
        """What runs a turn on this channel (Rasa's handler, the agent, the channel's own
        words): also for messages another instance stored and this one recovers."""
        self._handler = Handler(on_new_message, agent, keyword)

    async def accept(
        self,
        inbound: Inbound,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        agent: Any = None,
        *,
        keyword: KeywordHandler | None = None,
    ) -> bool:
        """Store the message and start its conversation's turns. False for a redelivery."""
        self.bind(on_new_message, agent, keyword)
        # One thread hop, on threads of its own: the acknowledgement never queues behind the
        # database work of running turns (which uses the loop's default executor).
        contact, row = await asyncio.get_running_loop().run_in_executor(
            self._ack_threads, self._store, inbound
        )
        if row is None:
            logger.info("Redelivery of a %s message ignored.", inbound.channel)
            return False
        if not self.stopping:
            self.kick(contact.id)
        return True

    def _store(self, inbound: Inbound) -> tuple[ContactView, int | None]:
        contact = self.store.contact(inbound.channel, inbound.address, country=inbound.country)
        details = {k: v for k, v in (("payload", inbound.payload), ("button", inbound.button),
                                     ("thread", inbound.thread)) if v is not None}  # fmt: skip
        row = self.store.record_inbound(inbound.channel, inbound.provider_id, contact.id,
                                        inbound.kind, inbound.text, details)  # fmt: skip
        return contact, row

    def kick(self, conversation_id: str) -> None:
        """A message of the conversation was stored: run its turns, unless this process
        already does (then it looks again before letting go)."""
        if conversation_id in self._draining:
            self._draining[conversation_id] = True
            return
        self._draining[conversation_id] = True
        self._keep(asyncio.create_task(self._drain(conversation_id)))

    def _keep(self, task: asyncio.Task[Any]) -> None:
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _drain(self, conversation_id: str) -> int:
        """Run the conversation's stored messages under its lease, oldest first, until none
        is left; how many times she got the apology for an interrupted turn."""
        told = 0
        try:
            while self._draining.get(conversation_id):
                self._draining[conversation_id] = False
                if not await asyncio.to_thread(self._leases.acquire, conversation_id):
                    return told  # another instance runs it and looks again before letting go
                try:
                    told += await self._run_queued(conversation_id, told > 0)
                finally:
                    await asyncio.to_thread(self._leases.release, conversation_id)
                # Stored by an instance that could not take the lease while we held it.
                left = await asyncio.to_thread(self._leases.queued, conversation_id)
                if left and not self._draining[conversation_id]:
                    self._draining[conversation_id] = True
            return told
        finally:
            self._draining.pop(conversation_id, None)

    async def _run_queued(self, conversation_id: str, told: bool) -> int:
        apologies = 0
        while rows := await asyncio.to_thread(self._leases.queued, conversation_id):
            for row in rows:
                if not await asyncio.to_thread(self._leases.holds, conversation_id):
                    logger.warning("Lost the lease of %s: another instance goes on.",
                                   conversation_id)  # fmt: skip
                    return apologies
                apologies += await self._one(row, told or apologies > 0)
        return apologies

    async def _one(self, row: InboundMessage, told: bool) -> int:
        """One stored message: its turn, or, when its turn was cut off by a crash (or it
        waited too long), what an interrupted message gets. 1 when that was the apology."""
        contact = await asyncio.to_thread(self.store.contact_by_id, row.conversation_id)
        if contact is None:
            await asyncio.to_thread(self.store.set_inbound_status, row.id, "ignored")
            return 0
        inbound = inbound_of(row, contact)
        if row.status == "processing":  # its turn was cut off: a crash, a kill
            await self._free_rasa_lock(row.conversation_id)
        received = as_utc(row.received_at)
        fresh = row.status == "received" and received >= utcnow() - STALE_AFTER
        if fresh and self._handler is not None:
            await self._turn(row.id, contact, inbound, received)
            return 0
        return await self._interrupted(row.id, contact, inbound, told)

    async def _free_rasa_lock(self, conversation_id: str) -> None:
        """A turn cut off by a crash may have left Rasa's lock of the conversation taken
        (in Redis, across instances): it would hold her next turn up to its lifetime (60 s).
        Ours is the conversation's lease now, so the dead turn's lock is freed."""
        agent = self._handler.agent if self._handler is not None else None
        lock_store = getattr(agent, "lock_store", None)
        if lock_store is None:
            return
        try:
            await asyncio.to_thread(lock_store.delete_lock, conversation_id)
        except Exception as error:  # its lifetime ends it anyway
            logger.warning("Could not free Rasa's lock (%s).", type(error).__name__)

    async def _turn(
        self, row: int, contact: ContactView, inbound: Inbound, received: datetime
    ) -> None:
        """The turn (:meth:`_run`) within the process's bound; a crash keeps the message,
        passes it through the safety check, and apologises."""
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.settings.turn_concurrency)
        async with self._slots:
            try:
                outcome = await self._run(row, contact, inbound)
            except Exception as error:
                outcome = "failed"
                logger.exception("Turn failed on %s (%s).", self.channel, type(error).__name__)
                await asyncio.to_thread(
                    self.store.set_inbound_status, row, "failed", type(error).__name__
                )
                if not await self._safety_first(contact, inbound.text):
                    await self._say(contact, APOLOGY)
        TURNS.labels(self.channel, outcome).inc()
        TURN_SECONDS.labels(self.channel).observe((utcnow() - received).total_seconds())

    async def _interrupted(
        self, row: int, contact: ContactView, inbound: Inbound, told: bool
    ) -> int:
        """A message whose turn a stopped process left unfinished (or that waited longer
        than :data:`STALE_AFTER`): never replayed out of context. A counsellor's goes to her
        console; in a conversation a person owns it is relayed (nothing lost, the bot
        silent); elsewhere danger signs get the emergency answer, and any other message the
        apology, once (she writes again, in context)."""
        routed: str | None = None
        if self.gate is not None:
            try:
                routed = await self.gate.console(contact, inbound)
                if routed is None and self.privacy is not None:
                    # Her "yes" to "forget me" cut off by a crash: the erasure is done now
                    # (she may hear "erased" twice, never "erased" without it).
                    routed = await self.privacy.before_turn(
                        contact, inbound.text, inbound.button, self.language_of(contact))
                if routed is None and not contact.opted_out:
                    routed = await self.gate.route(contact, inbound)
            except Exception as error:  # never left unanswered, nor retried forever
                logger.error("Relay of an interrupted message failed (%s).",
                             type(error).__name__)  # fmt: skip
        if routed is None and await self._safety_first(contact, inbound.text):
            routed = "emergency"
        await asyncio.to_thread(self.store.set_inbound_status, row, routed or "interrupted")
        TURNS.labels(self.channel, routed or "interrupted").inc()
        if routed is not None or told or contact.opted_out:
            return 0
        await self._say(contact, APOLOGY)
        return 1

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

    async def _status(self, row: int, status: str) -> str:
        await asyncio.to_thread(self.store.set_inbound_status, row, status)
        return status

    async def _run(self, row: int, contact: ContactView, inbound: Inbound) -> str:
        """The turn of one message; the status it ends with."""
        assert self._handler is not None  # _one runs a turn only with a handler
        on_new_message, agent, keyword = self._handler
        await asyncio.to_thread(self.store.set_inbound_status, row, "processing")
        if self.gate is not None:
            # A counsellor's console comes before any keyword: "#12 stop" is for the user.
            handled = await self.gate.console(contact, inbound)
            if handled is not None:
                return await self._status(row, handled)
        if keyword is not None:
            if await keyword(contact, inbound):
                return await self._status(row, "done")
            fresh = await asyncio.to_thread(self.store.contact_by_id, contact.id)
            contact = fresh or contact
        if self.privacy is not None:
            handled = await self.privacy.before_turn(contact, inbound.text, inbound.button,
                                                     self.language_of(contact))  # fmt: skip
            if handled is not None:
                return await self._status(row, handled)
        if contact.opted_out:
            return await self._status(row, "opted_out")
        if self.gate is not None:
            # A person owns the conversation: no bot turn. Before the channel's rate limit
            # (the handoff has its own, towards the counsellor).
            routed = await self.gate.route(contact, inbound)
            if routed is not None:
                return await self._status(row, routed)
        if await self._over_limit(contact, row):
            await asyncio.to_thread(self.store.set_inbound_status, row, "rate_limited")
            if await asyncio.to_thread(
                self.store.claim_rate_notice, contact.id, self.settings.rate_window
            ):
                await self._say(contact, RATE_LIMITED)
            return "rate_limited"
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
        if self.privacy is not None:
            await self.privacy.after_turn(contact, language if language in LANGUAGES
                                          else self.language_of(contact))  # fmt: skip
        return "done"

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

    async def recover(self, received_before: datetime, *, wait: bool = True) -> int:
        """Run the conversations of this channel that hold messages stored before
        ``received_before`` and that no instance runs (their instance stopped before
        answering them, or died holding them: its lease ran out). Waited for, how many
        conversations got the apology for an interrupted turn; with ``wait=False`` (the
        periodic sweep) they run in the background, and how many were started."""
        ids = await asyncio.to_thread(self._leases.orphans, self.channel, received_before)
        if ids:
            logger.info("%s: %d conversation(s) nobody runs, taken here.", self.channel, len(ids))
        if not wait:
            for conversation_id in ids:
                self.kick(conversation_id)
            return len(ids)
        told = await asyncio.gather(*(self._recover(c) for c in ids))
        return sum(told)

    async def _recover(self, conversation_id: str) -> int:
        if conversation_id in self._draining:
            self._draining[conversation_id] = True
            return 0
        self._draining[conversation_id] = True
        return await self._drain(conversation_id)

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
