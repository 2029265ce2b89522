"""Rasa's side of a handoff: the relayed messages in the tracker, and the resume.

The action that opens a handoff returns ``ConversationPaused``; here the relayed messages
are appended (user words as ``user`` events, a counsellor's as ``bot`` events marked with
her id) and the hand-back appends ``resume`` then ``action_listen``: without the latter the
next turn would start from the paused action and rules would not apply (FACTS.md). Writes
take Rasa's lock of the conversation and run on the turn loop, like turns. Best effort: the
owner in our database decides who speaks, whatever the tracker says.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    ConversationResumed,
    Event,
    UserUttered,
)

if TYPE_CHECKING:  # the agent's module loads the whole of Rasa core (seconds)
    from rasa.core.agent import Agent

logger = logging.getLogger(__name__)


class RasaHistory:
    """Appends events to the trackers of the running agent."""

    def __init__(
        self,
        agent: Callable[[], Agent | None],
        run: Callable[[Awaitable[None]], Awaitable[object]],
    ) -> None:
        self._agent = agent  # the agent, once the server has loaded it
        self._run = run  # runs a coroutine on the turn loop (TurnLoop.run)

    async def _append(self, conversation_id: str, events: list[Event]) -> None:
        """``events`` at the end of her tracker, under Rasa's lock and on the turn loop
        (where Rasa's own writes happen); nothing before the server has its agent."""
        agent = self._agent()
        if agent is None or agent.tracker_store is None:
            return

        async def append() -> None:
            async with agent.lock_store.lock(conversation_id):
                tracker = await agent.tracker_store.get_or_create_tracker(conversation_id)
                for event in events:
                    tracker.update(event)
                await agent.tracker_store.save(tracker)

        try:
            await self._run(append())
        except Exception as error:
            logger.error("Tracker of %s not updated (%s).", conversation_id, type(error).__name__)

    async def user(self, conversation_id: str, text: str) -> None:
        """Her message, relayed: Rasa sees it in the history, marked as a handoff's."""
        await self._append(conversation_id, [UserUttered(text, metadata={"handoff": True})])

    async def counsellor(self, conversation_id: str, text: str, counsellor_id: str) -> None:
        """A counsellor's words, as the bot's, marked with who wrote them."""
        event = BotUttered(text, metadata={"handoff": True, "counsellor": counsellor_id})
        await self._append(conversation_id, [event])

    async def risk_level(self, text: str) -> str:
        """The risk model's level for ``text`` (:class:`bot.safety.verdict.RiskReader`): the
        agent's own parse, on the turn loop like a turn; ``none`` before it has an agent."""
        agent = self._agent()
        if agent is None:
            return "none"
        found: dict[str, object] = {}

        async def parse() -> None:
            found.update(await agent.parse_message(text))

        await self._run(parse())
        return str(found.get("safety_level") or "none")

    async def resume(self, conversation_id: str) -> None:
        """The hand-back: resumed, then listening, so that the next turn follows the rules."""
        events = [ConversationResumed(), ActionExecuted("action_listen")]
        await self._append(conversation_id, events)
