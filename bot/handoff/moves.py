"""The moves of a handoff and what each one tells whom.

A move is first a change of rows (:class:`~bot.handoff.service.HandoffService`, conditional
on the owner the caller saw); then this module announces it: the user, the counsellors
concerned, the staff group's topic and its title. A move made outside the server (the staff
command line) is written there with a timer due now, and the server's worker announces it
with the same functions, so every path tells the same people the same things.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from bot.handoff import messages as m
from bot.handoff.models import Handoff
from bot.handoff.notices import Notices, Tell
from bot.handoff.ownership import BOT, COUNSELLOR, QUEUED, OwnershipConflict
from bot.handoff.registry_file import Counsellor
from bot.handoff.service import HandoffService

logger = logging.getLogger(__name__)

# Why a handoff went back to the queue without its counsellor's word, and what staff read.
RETURNED_KEYS = {
    "silent": m.RETURNED_SILENT,
    "deactivated": m.RETURNED_INACTIVE,
    "unreachable": m.RETURNED_UNREACHABLE,
}


class TrackerHistory(Protocol):
    """Rasa's side (:class:`bot.handoff.tracker.RasaHistory`): best effort, never the gate."""

    async def user(self, conversation_id: str, text: str) -> None: ...

    async def counsellor(self, conversation_id: str, text: str, counsellor_id: str) -> None: ...

    async def resume(self, conversation_id: str) -> None: ...


class NoHistory:
    """No Rasa trackers to write (tests, the command line): the gate never needs them."""

    async def user(self, conversation_id: str, text: str) -> None:
        return None

    async def counsellor(self, conversation_id: str, text: str, counsellor_id: str) -> None:
        return None

    async def resume(self, conversation_id: str) -> None:
        return None


@dataclass
class Moves:
    """What follows each move of a handoff, whoever made it (a console, a timer, the
    command line): who is told, and Rasa's tracker."""

    notices: Notices
    history: TrackerHistory

    @property
    def service(self) -> HandoffService:
        """The handoff service the notices use."""
        return self.notices.service

    async def claimed(
        self, handoff: Handoff, counsellor: Counsellor, tell: Tell, *, new: bool = True
    ) -> None:
        """She took it from the queue (``new``; else she asked again for one she holds):
        the user hears a person is there; the counsellor gets what was written meanwhile."""
        notices = self.notices
        if new:
            await notices.say(handoff.conversation_id, handoff.language, m.JOINED)
            await notices.retitle(handoff, COUNSELLOR)
        await notices.console_notice(handoff, m.CLAIMED, id=handoff.id, name=counsellor.name)
        if not notices.in_topic(counsellor):
            await tell(m.CLAIMED, id=handoff.id, name=counsellor.name)
            if await notices.db(self.service.transcript, handoff.id):
                await tell(None, raw=await notices.transcript_text(handoff))

    async def assigned(
        self, handoff: Handoff, counsellor: Counsellor, previous: str | None, by: str
    ) -> None:
        """A supervisor gave it to ``counsellor`` (from the queue, or from ``previous``)."""
        notices = self.notices
        key = m.CHANGED if previous else m.JOINED
        await notices.say(handoff.conversation_id, handoff.language, key)
        await notices.retitle(handoff, COUNSELLOR)
        await notices.console_notice(handoff, m.ASSIGNED, id=handoff.id, name=counsellor.name,
                                     by=by)  # fmt: skip
        if not notices.in_topic(counsellor):
            await notices.tell_counsellor(counsellor, m.ASSIGNED, id=handoff.id,
                                          name=counsellor.name, by=by)  # fmt: skip
            transcript = await notices.transcript_text(handoff)
            await notices.tell_counsellor(counsellor, None, raw=transcript)
        if previous and previous != counsellor.id:
            before = await notices.db(self.notices.registry.get, previous)
            await notices.tell_counsellor(before, m.TAKEN_OVER, id=handoff.id,
                                          name=counsellor.name)  # fmt: skip

    async def requeue(self, handoff: Handoff, holder: str, why: str) -> Handoff | None:
        """Back to the queue without its holder's word (silent, deactivated, unreachable):
        the move, then who is told. None when someone moved it first."""
        try:
            handoff = await self.notices.db(self.service.requeue, handoff.id, holder, why)
        except (OwnershipConflict, LookupError):
            return None
        await self.requeued(handoff, holder, why)
        return handoff

    async def requeued(self, handoff: Handoff, holder: str, why: str) -> None:
        """She is told someone else will answer; the staff group and the counsellor who
        left read why; the others on duty are notified as for an urgent request."""
        notices = self.notices
        name = await notices.name(holder)
        minutes = int(self.service.settings.counsellor_silent.total_seconds() // 60)
        key = RETURNED_KEYS.get(why, m.RETURNED_INACTIVE)
        await notices.say(handoff.conversation_id, handoff.language, m.REQUEUED)
        await notices.retitle(handoff, QUEUED)
        await notices.console_notice(handoff, key, id=handoff.id, name=name, minutes=minutes)
        if why == "silent":
            left = await notices.db(self.notices.registry.get, holder)
            await notices.tell_counsellor(left, key, id=handoff.id, name=name, minutes=minutes)
        await notices.notify(handoff, exclude=holder)

    async def released(self, handoff: Handoff, counsellor: Counsellor, tell: Tell) -> None:
        """Back in the queue by its holder: the topic's title and notice, and her own
        confirmation when she does not read the topic."""
        notices = self.notices
        await notices.retitle(handoff, QUEUED)
        await notices.console_notice(handoff, m.RELEASED, id=handoff.id)
        if not notices.in_topic(counsellor):
            await tell(m.RELEASED, id=handoff.id)

    async def closed(
        self,
        handoff: Handoff,
        outcome: str,
        *,
        holder: str | None,
        by: Counsellor | None = None,
        user_keys: tuple[str, ...] | None = None,
        staff_key: str = m.CLOSED,
    ) -> None:
        """Back to the bot: Rasa resumes first (so that an answer she sends right after is
        the bot's again), she is told, and so are the staff group and the counsellor who
        held it, and the supervisor who closed it from a text console."""
        notices = self.notices
        await self.history.resume(handoff.conversation_id)
        await notices.retitle(handoff, BOT)
        keys = user_keys if user_keys is not None else (
            m.BACK_TO_BOT, *filter(None, [m.FOLLOWUP.get(outcome)]))  # fmt: skip
        for key in keys:
            await notices.say(handoff.conversation_id, handoff.language, key)
        await notices.console_notice(handoff, staff_key, id=handoff.id, outcome=outcome)
        told = set()
        for person_id in (holder, by.id if by else None):
            if person_id and person_id not in told:
                told.add(person_id)
                person = by
                if person is None or person.id != person_id:
                    person = await notices.db(self.notices.registry.get, person_id)
                await notices.tell_counsellor(person, staff_key, id=handoff.id, outcome=outcome)
