"""The handoff in the Rasa server: every inbound message asks its owner first, then goes to
the bot, the queue or the counsellor; counsellors answer from their consoles; timers fire.

- Consoles first: a registered counsellor's message (SMS, terminal) or a staff-group post is
  a console message (:mod:`bot.handoff.staff`), before any opt-out keyword, so that
  "#12 stop" reaches the user and her own STOP asks for a confirmation.
- The safety check answers her in every state (:mod:`bot.handoff.emergency`): queued or
  with a counsellor, an emergency gets the fixed reply and her country's numbers at once (her
  country asked first when it is unknown), after the counsellor is warned and before her
  message is relayed; a possible risk makes the handoff a priority and, while she waits,
  gets the check-in.
- With a counsellor, her message is kept in the transcript, marked, and relayed by
  :meth:`Relay.flush`: both directions, in order, one sender across instances, a failed send
  retried by the worker and, after :data:`~bot.handoff.service.MAX_RELAY_ATTEMPTS`, reported
  to the holder and the supervisors. Towards the console her words are quoted (each line
  marked as hers), cut at :data:`RELAY_MAX_CHARS`, and sent from a small budget per handoff
  (:data:`RELAY_BURST`, then one every :data:`RELAY_EVERY`; what waits goes together, and she
  is told once). Queued, her
  messages are kept for the counsellor and she hears "you are number N" now and then.
- No stranded conversation: a counsellor silent while the user writes, removed from the
  registry, or unreachable gives the handoff back to the queue, first in line.
- Rasa: the tracker is paused by the action that opened the handoff; relayed messages are
  appended to it, and the hand-back resumes it. The gate here does not rely on the pause.
- Timers (:class:`~bot.handoff.service.HandoffService`): one worker task per process wakes
  after each turn and when the next timer is due.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import ParamSpec, TypeVar

from bot.channels.contacts import ContactView
from bot.channels.inbound import Inbound
from bot.channels.outbound import Outbox
from bot.channels.store import ChannelStore
from bot.countries import zone
from bot.handoff import messages as m
from bot.handoff.console import TelegramConsole, quoted
from bot.handoff.emergency import HandoffSafety
from bot.handoff.models import Handoff, Pending, Timer
from bot.handoff.moves import Moves, NoHistory, TrackerHistory
from bot.handoff.notices import Notices
from bot.handoff.ownership import BOT, COUNSELLOR, QUEUED, OwnershipConflict
from bot.handoff.registry import Registry
from bot.handoff.registry_file import Counsellor
from bot.handoff.service import (
    ASSIGNED,
    CLOSED,
    GIVE_UP,
    IDLE,
    MAX_RELAY_ATTEMPTS,
    NOTIFY,
    RENOTIFY,
    RETURNED,
    SILENT,
    USER,
    HandoffService,
)
from bot.handoff.staff import StaffConsole
from bot.i18n import format_datetime
from bot.safety.verdict import RiskReader

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

POLL_S = 5.0  # the worker also looks for timers other instances scheduled
# What a counsellor cannot receive (she sees "[voice]"): the user is asked to write instead.
NOT_TEXT = frozenset({"media", "voice", "location", "sticker", "other"})
# Her words to the console: at most this long each (the transcript keeps them whole), and
# sent from a bucket of RELAY_BURST sends per handoff that refills one every RELAY_EVERY
# (what waits is sent together): a flood from Telegram cannot make an SMS counsellor's phone
# receive dozens of segments. She is told at most once per SLOW_NOTICE_EVERY.
RELAY_MAX_CHARS = 400
RELAY_BURST, RELAY_EVERY = 8, timedelta(seconds=10)
SLOW_NOTICE_EVERY = timedelta(minutes=1)


class Sent(enum.Enum):
    """What one relay attempt came to."""

    DONE = "done"  # delivered (or kept for the queue's topic)
    WAIT = "wait"  # the handoff's budget is spent: later, together
    RETRY = "retry"  # the provider refused: again after RELAY_RETRY, in order
    GONE = "gone"  # the recipient cannot be reached at all (opted out, removed)


@dataclass
class Relay:
    """Routes messages by owner, runs the consoles and the timers, in one server process."""

    service: HandoffService
    registry: Registry
    store: ChannelStore
    outbox: Outbox
    telegram: TelegramConsole | None = None
    history: TrackerHistory = field(default_factory=NoHistory)
    risk: RiskReader | None = None  # the risk model outside turns; None: the lexicon alone
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _wake: asyncio.Event | None = None
    _worker: asyncio.Task[None] | None = None
    _relays_looked_at: float = 0.0  # monotonic: the worker's last look for left relays

    def __post_init__(self) -> None:
        self.notices = Notices(self.service, self.registry, self.store, self.outbox,
                               self.telegram)  # fmt: skip
        self.moves = Moves(self.notices, self.history)
        self.staff = StaffConsole(self.notices, self.moves, self.flush)
        self.safety = HandoffSafety(self.notices, self.risk, self._keep, self.wake)

    async def _db(self, work: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """A call of the synchronous services, on a worker thread: the database never
        blocks the server's loop, and the call keeps its types."""
        return await asyncio.to_thread(work, *args, **kwargs)

    # Inbound --------------------------------------------------------------------------

    async def console(self, contact: ContactView, inbound: Inbound) -> str | None:
        """A counsellor's console message (the staff group, or a registered counsellor by
        SMS or the terminal): handled, "console"; None for anyone else. Asked before any
        keyword of the channel."""
        if inbound.kind == "staff":
            await self.staff.staff_group(contact.address, inbound.thread, inbound.text or "")
            return "console"
        if contact.channel != "telegram":  # Telegram counsellors use the staff group
            counsellor = await self._db(self.registry.find, contact.channel, contact.address)
            if counsellor is not None and counsellor.active:
                await self.staff.text_console(counsellor, contact, inbound.text or "")
                return "console"
        return None

    async def route(self, contact: ContactView, inbound: Inbound) -> str | None:
        """Before Rasa (after :meth:`console` and the channel's keywords): a message of a
        conversation a person owns. The inbound status to record when handled, None for a
        normal turn."""
        owner = await self._db(self.service.owner, contact.id)
        if owner.state == BOT:
            return None
        handoff = await self._db(self.service.open_handoff, contact.id)
        if handoff is None:  # owned without a handoff row: never leave her unanswered
            logger.warning("Conversation %s is %s with no open handoff.", contact.id, owner.state)
            return None
        said = await self._said(contact, inbound)
        with_counsellor = owner.state == COUNSELLOR and bool(owner.counsellor_id)
        await self._db(self.service.record, handoff.id, USER, said, to_relay=with_counsellor)
        await self.history.user(contact.id, said)
        await self.safety.check(contact, handoff, owner, inbound, said)
        if inbound.kind in NOT_TEXT:
            await self.notices.say(contact.id, handoff.language, m.MEDIA_NOT_RELAYED)
        if with_counsellor:
            if len(said) > RELAY_MAX_CHARS:
                await self.notices.say(contact.id, handoff.language, m.RELAY_CUT)
            return "relayed" if await self.flush(handoff.id) else "relay_pending"
        await self.notices.topic_post(handoff, quoted(handoff.id, said))
        if await self._db(self.service.claim_waiting_notice, handoff.id):
            position = await self._db(self.service.position, contact.id) or 1
            await self.notices.say(contact.id, handoff.language, m.WAITING, position=position)
        return "held"

    async def opted_out(self, contact: ContactView) -> None:
        """She sent STOP: her handoff ends, and her counsellor (the staff group) knows that
        nothing can reach her any more."""
        await self._ended_by_her(contact, "opted_out", m.USER_LEFT)

    async def erased(self, contact: ContactView) -> None:
        """She asked to be forgotten: her handoff ends before her data goes, and her
        counsellor (the staff group) is told it ended at her request. She hears nothing
        from the handoff: the privacy desk says goodbye."""
        handoff = await self._ended_by_her(contact, "erased", m.USER_ERASED)
        if handoff is not None and handoff.topic_id is not None:
            # The topic goes with her words: said in the general chat too.
            await self.notices.group_teller(None)(m.USER_ERASED, id=handoff.id)

    async def _ended_by_her(self, contact: ContactView, outcome: str,
                            staff_key: str) -> Handoff | None:  # fmt: skip
        """Close her open handoff with ``outcome`` and tell its holder; the handoff closed,
        or None when there was none (or someone closed it meanwhile)."""
        handoff = await self._db(self.service.open_handoff, contact.id)
        if handoff is None:
            return None
        owner = await self._db(self.service.owner, contact.id)
        try:
            handoff = await self._db(self.service.close, handoff.id, outcome, actor="user")
        except (OwnershipConflict, LookupError):
            return None
        holder = owner.counsellor_id if owner.state == COUNSELLOR else None
        await self.moves.closed(handoff, outcome, holder=holder, user_keys=(),
                                staff_key=staff_key)  # fmt: skip
        return handoff

    async def emergency_outside_turn(
        self, contact: ContactView, text: str, language: str
    ) -> bool:
        """A message whose turn crashed, in the bot's conversation (:class:`HandoffSafety`)."""
        return await self.safety.emergency_outside_turn(contact, text, language)

    async def delete_topic(self, topic: int) -> bool:
        """Delete a staff-group topic (her words are in it); False without a group."""
        return False if self.telegram is None else await self.telegram.delete_topic(topic)

    async def _said(self, contact: ContactView, inbound: Inbound) -> str:
        """Her message as the transcript keeps it: her words, a button's title, or a mark
        for what a counsellor cannot receive ("[voice]", "[media] look at this")."""
        said = (inbound.text or inbound.payload or "").strip()
        if inbound.button is not None and not said:
            choice = await self._db(self.store.button_choice, contact.id, inbound.button)
            said = choice[0] if choice else str(inbound.button)
        if inbound.kind in NOT_TEXT or not said:
            said = f"[{inbound.kind}] {said}".strip()
        return said

    # The relay queue ------------------------------------------------------------------

    async def flush(self, handoff_id: int) -> bool:
        """What waits for delivery in this handoff, both directions, sent in order by the
        holder of the handoff's relay lease. True when this call delivered it all; False
        when something waits (a refused send, the budget) or another sender holds it."""
        token = await self._db(self.service.take_relay, handoff_id)
        if token is None:
            return False
        stopped: set[str] = set()  # directions that wait: the other one still goes
        refused = False
        try:
            while True:
                pending = [p for p in await self._db(self.service.to_relay, handoff_id)
                           if p.direction not in stopped]  # fmt: skip
                if not pending:
                    break
                if not await self._db(self.service.renew_relay, handoff_id, token):
                    return False  # the lease expired: its new holder goes on
                handoff = await self._db(self.service.get, handoff_id)
                if handoff is None:  # rows are never deleted: only a broken database
                    raise LookupError(handoff_id)
                batch = _head(pending)
                sent = await self._deliver(handoff, batch)
                if sent in (Sent.DONE, Sent.GONE):
                    continue
                stopped.add(batch[0].direction)
                refused |= sent is Sent.RETRY
        except Exception as error:
            logger.error("Relay of #%d failed (%s); retrying.", handoff_id, type(error).__name__)
            refused = True
        await self._db(self.service.release_relay, handoff_id, token, retry=refused)
        return not stopped and not refused

    async def _deliver(self, handoff: Handoff, batch: list[Pending]) -> Sent:
        """One send of ``batch`` (consecutive messages of one direction), and its marks."""
        ids = [p.id for p in batch]
        send = self._to_console if batch[0].direction == USER else self._to_user
        try:
            sent = await send(handoff, batch)
        except Exception as error:
            logger.warning("Relay of #%d refused (%s).", handoff.id, type(error).__name__)
            sent = Sent.RETRY
        if sent is Sent.DONE:
            await self._db(self.service.relayed, *ids)
        elif sent is Sent.RETRY:
            final = max(p.attempts for p in batch) + 1 >= MAX_RELAY_ATTEMPTS
            await self._db(self.service.relay_failed, ids, final=final)
            if final:
                await self._report_failure(handoff, batch)
                return Sent.GONE
        elif sent is Sent.GONE:
            await self._db(self.service.relay_failed, ids, final=True)
        return sent

    async def _to_console(self, handoff: Handoff, batch: list[Pending]) -> Sent:
        """Her words to the holder's console; back in the queue meanwhile, to the topic."""
        holder = await self._holder(handoff)
        lines = "\n".join(quoted(handoff.id, _cut(p.text)) for p in batch)
        if holder is None:
            if handoff.open:
                await self.notices.topic_post(handoff, lines)
            return Sent.DONE  # kept in the transcript for whoever claims it next
        if not await self._db(self.service.take_relay_budget, handoff.id, RELAY_BURST,
                              RELAY_EVERY):  # fmt: skip
            if await self._db(self.service.claim_slow_notice, handoff.id, SLOW_NOTICE_EVERY):
                await self.notices.say(handoff.conversation_id, handoff.language, m.SLOW_DOWN)
            return Sent.WAIT
        if await self.notices.to_counsellor(handoff, holder, lines):
            return Sent.DONE
        # Her phone refuses everything (opted out): the request goes to someone else, who
        # gets these words with the transcript.
        await self.moves.requeue(handoff, holder.id, "unreachable")
        return Sent.DONE

    async def _to_user(self, handoff: Handoff, batch: list[Pending]) -> Sent:
        """A counsellor's words to the user, on her channel."""
        message = batch[0]
        if not await self.outbox.send(handoff.conversation_id, message.text):
            await self._tell_writer(handoff, message.counsellor_id, m.USER_LEFT, id=handoff.id)
            return Sent.GONE  # she opted out (STOP): nothing can reach her
        await self.history.counsellor(handoff.conversation_id, message.text,
                                      message.counsellor_id or "")  # fmt: skip
        return Sent.DONE

    async def _report_failure(self, handoff: Handoff, batch: list[Pending]) -> None:
        """Given up after MAX_RELAY_ATTEMPTS: the holder and the supervisors learn what did
        not arrive (the transcript keeps it)."""
        text = _cut(" / ".join(p.text for p in batch), 160)
        owner = await self._db(self.service.owner, handoff.conversation_id)
        holder = owner.counsellor_id if owner.state == COUNSELLOR else None
        if batch[0].direction == USER:
            name = await self.notices.name(holder)
            await self.notices.tell_staff(handoff, m.RELAY_FAILED_COUNSELLOR, also=holder,
                                          id=handoff.id, name=name, text=text)  # fmt: skip
        else:
            await self.notices.tell_staff(handoff, m.RELAY_FAILED_USER, also=holder,
                                          id=handoff.id, text=text)  # fmt: skip

    async def _tell_writer(
        self, handoff: Handoff, counsellor_id: str | None, key: str, **values: object
    ) -> None:
        """Tell the counsellor who wrote a message: in the topic when she reads it
        there, else on her text console."""
        counsellor = await self._db(self.registry.get, counsellor_id or "")
        if counsellor is not None and self.notices.in_topic(counsellor):
            await self.notices.console_notice(handoff, key, **values)
        else:
            await self.notices.tell_counsellor(counsellor, key, None, **values)

    async def retry_relays(self) -> None:
        """The worker's part: what a failed send, the budget or a dead instance left."""
        for handoff_id in await self._db(self.service.relay_due):
            await self.flush(handoff_id)

    async def _holder(self, handoff: Handoff | None) -> Counsellor | None:
        """The counsellor who holds this open handoff now, if any. One who was removed
        from the registry gives it back to the queue here."""
        if handoff is None or not handoff.open:
            return None
        owner = await self._db(self.service.owner, handoff.conversation_id)
        if owner.state != COUNSELLOR or not owner.counsellor_id:
            return None
        counsellor = await self._db(self.registry.get, owner.counsellor_id)
        if counsellor is None or not counsellor.active:
            await self.moves.requeue(handoff, owner.counsellor_id, "deactivated")
            return None
        return counsellor

    # Timers ---------------------------------------------------------------------------

    async def fire(self, timer: Timer) -> None:
        """One due timer: its move when the handoff is still in the state the timer
        expects (a claim or a close in between makes it a no-op); a staff command's move
        (RETURNED, ASSIGNED, CLOSED) is announced."""
        handoff = await self._db(self.service.get, timer.handoff_id)
        if handoff is None:
            return
        if timer.kind == CLOSED:  # a staff command's move: already made, to announce
            outcome, _, holder = (timer.detail or "").partition(":")
            await self.moves.closed(handoff, outcome, holder=holder or None)
            return
        if not handoff.open:
            return
        owner = await self._db(self.service.owner, handoff.conversation_id)
        settings = self.service.settings
        if timer.kind == NOTIFY and owner.state == QUEUED:
            await self.notices.notify(handoff)
        elif timer.kind == RENOTIFY and owner.state == QUEUED:
            await self.notices.notify(handoff, again=True)
            later = max(settings.give_up_after - settings.renotify_after, timedelta(0))
            await self._db(self.service.schedule, handoff.id, GIVE_UP, self.service.now() + later)
        elif timer.kind == GIVE_UP and owner.state == QUEUED:
            handoff = await self._db(self.service.close, handoff.id, "unclaimed", actor="system")
            await self.moves.closed(handoff, "unclaimed", holder=None, user_keys=(m.NOBODY_FREE,))
        elif timer.kind == IDLE and owner.state == COUNSELLOR:
            quiet_until = handoff.last_activity_at + settings.idle_after
            if quiet_until > self.service.now():
                await self._db(self.service.schedule, handoff.id, IDLE, quiet_until)
                return
            handoff = await self._db(self.service.close, handoff.id, "timeout", actor="system")
            await self.moves.closed(handoff, "timeout", holder=owner.counsellor_id,
                                    user_keys=(m.IDLE_CLOSED,))  # fmt: skip
        elif timer.kind == SILENT and owner.state == COUNSELLOR and handoff.user_waiting_since:
            due = handoff.user_waiting_since + settings.counsellor_silent
            if due > self.service.now():
                await self._db(self.service.schedule, handoff.id, SILENT, due)
                return
            await self.moves.requeue(handoff, owner.counsellor_id or "", "silent")
        elif timer.kind == RETURNED and owner.state == QUEUED:
            why, _, holder = (timer.detail or "").partition(":")
            await self.moves.requeued(handoff, holder, why)
        elif timer.kind == ASSIGNED and owner.state == COUNSELLOR:
            previous, _, by = (timer.detail or "").partition(":")
            counsellor = await self._db(self.registry.get, owner.counsellor_id or "")
            if counsellor is not None:
                await self.moves.assigned(handoff, counsellor, previous or None, by)

    def wake(self) -> None:
        """Look at the timers now (a turn may just have opened a handoff)."""
        if self._wake is not None:
            self._wake.set()

    def start(self) -> None:
        """The timer worker, on the server's loop."""
        if self._worker is None:
            self._wake = asyncio.Event()
            self._worker = asyncio.create_task(self._run_timers())

    def stop(self) -> None:
        """At shutdown: the timer worker stops (a timer it had taken is retried elsewhere
        when its lease runs out)."""
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None

    async def _run_timers(self) -> None:
        """The worker: due timers, then left relays, then sleep until the next timer,
        a wake-up or :data:`POLL_S` (other instances schedule timers too)."""
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

    def _keep(self, task: asyncio.Task[None]) -> None:
        """A task left running past its caller (a slow console warning): kept referenced
        until done, so that it is not collected half-way."""
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)


def _head(pending: list[Pending]) -> list[Pending]:
    """The next send: her consecutive messages at the head, as many as fit in one relayed
    message (those that waited for the budget go together); a counsellor's one by one."""
    first = pending[0]
    if first.direction != USER:
        return [first]
    batch, size = [first], len(_cut(first.text))
    for message in pending[1:]:
        size += len(_cut(message.text)) + 1
        if message.direction != USER or size > RELAY_MAX_CHARS:
            break
        batch.append(message)
    return batch


def _cut(text: str, limit: int = RELAY_MAX_CHARS) -> str:
    """``text`` within ``limit`` characters, an ellipsis showing the cut."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def next_opening_text(
    registry: Registry, language: str, country: str | None, at: datetime | None = None
) -> str | None:
    """When counsellors speaking ``language`` are back, in her language and time zone."""
    when = registry.next_opening(language, at)
    return format_datetime(when, language, zone(country)) if when else None
