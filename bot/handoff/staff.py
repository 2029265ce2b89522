"""The counsellors' side of a handoff: their commands, from a text console (SMS, the local
terminal) or the Telegram staff group, and what each may do.

- A counsellor claims a request in a language she speaks, writes to the user of the request
  she holds, releases or closes it, and reads its transcript.
- A supervisor (``role: supervisor`` in the registry) may also give any request to a
  counsellor who speaks its language (``ASSIGN 12 lucia``, ``/assign``), take over one held
  by someone else (``TAKE 12``, ``/claim``), release or close any, and read any transcript.
- Lines starting with ``//`` are notes between staff: kept in the transcript, never sent.
- The counsellor who holds or held a request, or a supervisor, marks her latest message as
  one the risk check missed (``MISSED 12``, ``/missed``) or flagged wrongly (``FALSEALARM
  12``, ``/falsealarm``), also once the request is closed. That deliberate command is her
  consent that this message, masked (:func:`bot.safety.review.mask`), leaves the
  conversation for the review queue; the answer shows her exactly what was kept.
- A counsellor's own STOP asks for a confirmation: her phone would then get nothing, the
  requests she holds included (they go back to the queue).

Her messages reach the user through the relay's queue (``deliver``), in order, retried.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta

from bot.channels.contacts import ContactView
from bot.channels.optout import HELP_WORDS, START_WORDS, STOP_WORDS, keyword
from bot.handoff import messages as m
from bot.handoff.console import (
    MARKS,
    Command,
    parse_text_command,
    parse_topic_message,
    split_notes,
)
from bot.handoff.models import Handoff, utc
from bot.handoff.moves import Moves
from bot.handoff.notices import Notices, Tell
from bot.handoff.ownership import COUNSELLOR, COUNSELLOR_OUTCOMES, Owner, OwnershipConflict
from bot.handoff.registry import Registry
from bot.handoff.registry_file import Counsellor
from bot.handoff.service import COUNSELLOR_SAID, NOTE, USER, HandoffService
from bot.menu import yes_no
from bot.safety.review import MISSED, SafetyReviews

logger = logging.getLogger(__name__)

STOP_CONFIRM_WITHIN = timedelta(minutes=10)
OPTED_IN = "channel.opted_in"  # the same words a user gets back after START
# What the transcript keeps of a photo or a voice note ("[voice]", "[media] caption"): the
# mark is not her words, a caption is.
_MEDIA_MARK = re.compile(r"^\[(?:media|voice|location|sticker|other|empty|callback)\]\s*")


@dataclass
class StaffConsole:
    """The counsellors' and supervisors' commands, from any console (a text console
    or the staff group): one place decides who may do what."""

    notices: Notices
    moves: Moves
    deliver: Callable[[int], Awaitable[bool]]  # the relay's queue: sends what is marked
    reviews: SafetyReviews | None = field(default=None)  # the risk check's review queue

    def __post_init__(self) -> None:
        if self.reviews is None:  # on the handoffs' database, dated by their clock
            self.reviews = SafetyReviews(self.service.engine, self.service.now)

    @property
    def service(self) -> HandoffService:
        """The handoff service the notices use."""
        return self.notices.service

    @property
    def registry(self) -> Registry:
        """The counsellor registry the notices use."""
        return self.notices.registry

    # Text console ---------------------------------------------------------------------

    async def text_console(self, counsellor: Counsellor, contact: ContactView, text: str) -> None:
        """One message of an SMS or terminal counsellor: her own STOP / START / HELP, the
        answer to a STOP confirmation, or a command in its exact form; anything else gets a
        short help line."""
        db, tell = self.notices.db, self.notices.teller(counsellor, contact.id)
        word, command = keyword(text), parse_text_command(text)
        if contact.opted_out:
            if word in START_WORDS:
                await db(self.notices.store.set_opted_out, contact.id, False)
                await tell(OPTED_IN)
            return  # nothing can reach her phone: commands wait until she is back
        asked = await db(self.registry.stop_asked, counsellor.id, STOP_CONFIRM_WITHIN)
        if asked:
            await db(self.registry.clear_stop, counsellor.id)
        if command is not None and command.handoff_id is not None:
            await self.command(counsellor, command, tell)  # "#12 stop" is for the user
            return
        if asked:
            answer = True if word in STOP_WORDS else yes_no(text)
            if answer is not None:
                await self._stop(counsellor, contact, answer, tell)
                return
        if word in STOP_WORDS:
            await db(self.registry.ask_stop, counsellor.id)
            await tell(m.STOP_CONFIRM)
        elif word in HELP_WORDS:
            await tell(m.HELP_SMS)
            await tell(m.HELP_MARKS)
        else:
            await tell(m.HELP_SHORT)

    async def _stop(
        self, counsellor: Counsellor, contact: ContactView, confirmed: bool, tell: Tell
    ) -> None:
        """Her answer to the STOP confirmation: kept, or stopped (her handoffs go
        back to the queue, as nothing reaches her phone any more)."""
        if not confirmed:
            await tell(m.STOP_KEPT)
            return
        await tell(m.STOPPED)  # the last message she gets
        await self.notices.db(self.notices.store.set_opted_out, contact.id, True)
        for handoff in await self.notices.db(self.service.held_by, counsellor.id):
            await self.moves.requeue(handoff, counsellor.id, "unreachable")

    # Staff group ----------------------------------------------------------------------

    async def staff_group(self, sender: str, thread: int | None, text: str) -> None:
        """A message in the staff group: in a request's topic, a command, notes or words
        for the user; in the general chat, only commands that name their request."""
        if self.notices.telegram is None:
            return
        command = parse_topic_message(text)
        handoff = await self.notices.db(self.service.by_topic, thread) if thread else None
        if handoff is None and (thread is not None or command.verb == "say"):
            return  # a topic we did not open, or the general chat's conversation
        tell = self.notices.group_teller(handoff)
        counsellor = await self.notices.db(self.registry.find, "telegram", sender)
        if counsellor is None or not counsellor.active:
            await tell(m.NOT_REGISTERED)
            return
        if command.verb == "help" or (command.handoff_id is None and handoff is None):
            await tell(m.HELP_TELEGRAM)
            await tell(m.HELP_MARKS)
            return
        named_id = command.handoff_id
        if handoff is not None and named_id is None:  # the topic's request
            command = Command(command.verb, handoff.id, command.argument)
        elif named_id is not None and command.verb in MARKS and (
            handoff is None or handoff.id != named_id
        ):
            # Her words are answered in her request's topic (deleted with it), not in the
            # general chat, which the retention purge does not reach, nor in another topic.
            named = await self.notices.db(self.service.get, named_id)
            if named is not None and named.topic_id is not None:
                tell = self.notices.group_teller(named)
        await self.command(counsellor, command, tell)

    # Commands -------------------------------------------------------------------------

    async def command(self, counsellor: Counsellor, command: Command, tell: Tell) -> None:
        """One command, whichever console it came from."""
        handoff = (
            None if command.handoff_id is None
            else await self.notices.db(self.service.get, command.handoff_id)
        )  # fmt: skip
        if handoff is None:
            await tell(m.UNKNOWN_REQUEST, id=command.handoff_id)
            return
        if command.verb in MARKS:  # counsellors often mark after the conversation
            await self.mark(counsellor, handoff, command.verb, tell)
            return
        if not handoff.open:
            await tell(m.NOT_OPEN, id=handoff.id)
            return
        owner = await self.notices.db(self.service.owner, handoff.conversation_id)
        verb, argument = command.verb, command.argument
        if verb == "claim":
            await self.claim(counsellor, handoff, owner, tell)
        elif verb == "say":
            await self.say(counsellor, handoff, owner, argument, tell)
        elif verb == "release":
            await self.release(counsellor, handoff, owner, tell)
        elif verb == "close":
            await self.close(counsellor, handoff, owner, argument, tell)
        elif verb == "assign":
            await self.assign(counsellor, handoff, argument, tell)
        elif verb == "transcript":
            if counsellor.supervisor or owner.counsellor_id == counsellor.id:
                await tell(None, raw=await self.notices.transcript_text(handoff))
            else:
                await tell(m.TRANSCRIPT_REFUSED, id=handoff.id)

    async def claim(
        self, counsellor: Counsellor, handoff: Handoff, owner: Owner, tell: Tell
    ) -> None:
        """From the queue; a supervisor also takes over from another counsellor."""
        if not counsellor.speaks(handoff.language):
            await tell(m.WRONG_LANGUAGE, id=handoff.id, language=handoff.language)
            return
        if owner.state == COUNSELLOR and owner.counsellor_id != counsellor.id:
            if counsellor.supervisor:
                await self._assign(counsellor, handoff, counsellor, tell)
            else:
                await tell(m.HELD_BY_OTHER, id=handoff.id,
                           name=await self.notices.name(owner.counsellor_id))  # fmt: skip
            return
        if owner.state == COUNSELLOR:  # hers already: what she needs, again
            await self.moves.claimed(handoff, counsellor, tell, new=False)
            return
        try:
            handoff = await self.notices.db(self.service.claim, handoff.id, counsellor.id)
        except OwnershipConflict:
            owner = await self.notices.db(self.service.owner, handoff.conversation_id)
            await tell(m.HELD_BY_OTHER, id=handoff.id,
                       name=await self.notices.name(owner.counsellor_id))  # fmt: skip
            return
        await self.moves.claimed(handoff, counsellor, tell)

    async def assign(
        self, supervisor: Counsellor, handoff: Handoff, name: str, tell: Tell
    ) -> None:
        """A supervisor gives the handoff to a counsellor she names (who must speak
        the user's language)."""
        if not supervisor.supervisor:
            await tell(m.SUPERVISORS_ONLY)
            return
        target = await self.notices.db(self.registry.named, name)
        if target is None:
            await tell(m.UNKNOWN_COUNSELLOR, name=name)
            return
        if not target.speaks(handoff.language):
            await tell(m.WRONG_LANGUAGE, id=handoff.id, language=handoff.language)
            return
        await self._assign(supervisor, handoff, target, tell)

    async def _assign(
        self, supervisor: Counsellor, handoff: Handoff, target: Counsellor, tell: Tell
    ) -> None:
        """The assignment, conditional on the owner she saw; everyone concerned told."""
        try:
            handoff, previous = await self.notices.db(
                self.service.assign, handoff.id, target.id, actor=f"supervisor:{supervisor.id}"
            )
        except OwnershipConflict:
            await tell(m.NOT_OPEN, id=handoff.id)
            return
        await self.moves.assigned(handoff, target, previous, supervisor.name)
        if target.id != supervisor.id and not self.notices.in_topic(supervisor):
            await tell(m.ASSIGNED, id=handoff.id, name=target.name, by=supervisor.name)

    async def say(
        self, counsellor: Counsellor, handoff: Handoff, owner: Owner, text: str, tell: Tell
    ) -> None:
        """Notes are kept from anyone of the staff; words for the user only from the
        counsellor who holds the conversation, queued for the relay."""
        words, notes = split_notes(text)
        for note in notes:
            await self.notices.db(self.service.record, handoff.id, NOTE, note, counsellor.id)
        if not words:
            return
        if owner.state != COUNSELLOR:
            await tell(m.CLAIM_FIRST, id=handoff.id)
            return
        if owner.counsellor_id != counsellor.id:
            await tell(m.HELD_BY_OTHER, id=handoff.id,
                       name=await self.notices.name(owner.counsellor_id))  # fmt: skip
            return
        await self.notices.db(self.service.record, handoff.id, COUNSELLOR_SAID, words,
                              counsellor.id, to_relay=True)  # fmt: skip
        await self.deliver(handoff.id)

    async def release(
        self, counsellor: Counsellor, handoff: Handoff, owner: Owner, tell: Tell
    ) -> None:
        """Back to the queue: by its holder, or a supervisor for her."""
        holder = owner.counsellor_id if owner.state == COUNSELLOR else None
        if holder is None or (holder != counsellor.id and not counsellor.supervisor):
            await tell(m.CLAIM_FIRST, id=handoff.id)
            return
        try:
            handoff = await self.notices.db(self.service.release, handoff.id, holder)
        except OwnershipConflict:
            await tell(m.CLAIM_FIRST, id=handoff.id)
            return
        await self.moves.released(handoff, counsellor, tell)

    async def close(
        self, counsellor: Counsellor, handoff: Handoff, owner: Owner, outcome: str, tell: Tell
    ) -> None:
        """Back to the bot with an outcome; out of another counsellor's hands only
        by a supervisor."""
        if outcome not in COUNSELLOR_OUTCOMES:
            await tell(m.BAD_OUTCOME, outcomes=", ".join(COUNSELLOR_OUTCOMES))
            return
        held_by_other = owner.state == COUNSELLOR and owner.counsellor_id != counsellor.id
        if held_by_other and not counsellor.supervisor:
            await tell(m.HELD_BY_OTHER, id=handoff.id,
                       name=await self.notices.name(owner.counsellor_id))  # fmt: skip
            return
        role = "supervisor" if counsellor.supervisor else "counsellor"
        try:
            handoff = await self.notices.db(
                self.service.close, handoff.id, outcome, actor=f"{role}:{counsellor.id}"
            )
        except OwnershipConflict:
            await tell(m.NOT_OPEN, id=handoff.id)
            return
        holder = owner.counsellor_id if owner.state == COUNSELLOR else None
        await self.moves.closed(handoff, outcome, holder=holder, by=counsellor)

    # The risk check's lessons ---------------------------------------------------------

    async def mark(self, counsellor: Counsellor, handoff: Handoff, kind: str, tell: Tell) -> None:
        """Her latest message into the review queue as ``missed`` or ``false_alarm``, by
        the counsellor who holds or held the request, or a supervisor; the answer shows
        exactly what was kept (masked): the counsellor sees what leaves the conversation."""
        db = self.notices.db
        if not counsellor.supervisor and not await db(self._held_by, handoff, counsellor.id):
            await tell(m.MARK_REFUSED, id=handoff.id)
            return
        text = await db(self._her_latest, handoff)
        if text is None:
            await tell(m.MARK_NOTHING, id=handoff.id)
            return
        assert self.reviews is not None  # made by __post_init__
        review = await db(self.reviews.add, kind, handoff.language, text,
                          handoff.conversation_id, counsellor.id)  # fmt: skip
        key = m.MARKED_MISSED if kind == MISSED else m.MARKED_FALSE_ALARM
        await tell(key, id=handoff.id, text=review.text)

    def _held_by(self, handoff: Handoff, counsellor_id: str) -> bool:
        """Whether she holds the request or held it at any time while it was open (the
        owner history: a request released or closed keeps who had it)."""
        if handoff.counsellor_id == counsellor_id:
            return True
        for change in self.service.ownership.history(handoff.conversation_id):
            at = utc(change.at)
            if (change.to_state == COUNSELLOR and change.counsellor_id == counsellor_id
                    and at >= handoff.opened_at
                    and (handoff.closed_at is None or at <= handoff.closed_at)):  # fmt: skip
                return True
        return False

    def _her_latest(self, handoff: Handoff) -> str | None:
        """Her latest message of the request; before her first one, her last message before
        the request (the channel's message log, as in the topic's first post). None when
        there is none (or the retention purge or her erasure took the words)."""
        for line in reversed(self.service.transcript(handoff.id)):
            text = _MEDIA_MARK.sub("", line.text).strip() if line.direction == USER else ""
            if text:
                return text
        before = self.notices.store.recent_texts(handoff.conversation_id, 1, "user",
                                                 before=handoff.opened_at)  # fmt: skip
        if not before or not before[-1][1].strip():
            return None
        return before[-1][1].strip()
