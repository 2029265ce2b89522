"""The counsellors' side of a handoff: their commands, from a text console (SMS, the local
terminal) or the Telegram staff group, and what each may do.

- A counsellor claims a request in a language she speaks, writes to the user of the request
  she holds, releases or closes it, and reads its transcript.
- A supervisor (``role: supervisor`` in the registry) may also give any request to a
  counsellor who speaks its language (``ASSIGN 12 lucia``, ``/assign``), take over one held
  by someone else (``TAKE 12``, ``/claim``), release or close any, and read any transcript.
- Lines starting with ``//`` are notes between staff: kept in the transcript, never sent.
- A counsellor's own STOP asks for a confirmation: her phone would then get nothing, the
  requests she holds included (they go back to the queue).

Her messages reach the user through the relay's queue (``deliver``), in order, retried.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

from bot.channels.contacts import ContactView
from bot.channels.optout import HELP_WORDS, START_WORDS, STOP_WORDS, keyword
from bot.handoff import messages as m
from bot.handoff.console import Command, parse_text_command, parse_topic_message, split_notes
from bot.handoff.models import Handoff
from bot.handoff.moves import Moves
from bot.handoff.notices import Notices, Tell
from bot.handoff.ownership import COUNSELLOR, COUNSELLOR_OUTCOMES, Owner, OwnershipConflict
from bot.handoff.registry import Registry
from bot.handoff.registry_file import Counsellor
from bot.handoff.service import COUNSELLOR_SAID, NOTE, HandoffService
from bot.menu import yes_no

logger = logging.getLogger(__name__)

STOP_CONFIRM_WITHIN = timedelta(minutes=10)
OPTED_IN = "channel.opted_in"  # the same words a user gets back after START


@dataclass
class StaffConsole:
    """The counsellors' and supervisors' commands, from any console (a text console
    or the staff group): one place decides who may do what."""

    notices: Notices
    moves: Moves
    deliver: Callable[[int], Awaitable[bool]]  # the relay's queue: sends what is marked

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
        if command.verb == "help":
            await tell(m.HELP_TELEGRAM)
            return
        if command.handoff_id is None:
            if handoff is None:
                await tell(m.HELP_TELEGRAM)
                return
            command = Command(command.verb, handoff.id, command.argument)
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
