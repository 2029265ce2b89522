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
from collections.abc import Callable
from typing import Any

from rasa.shared.core.events import ActionExecuted, BotUttered, ConversationResumed, UserUttered

logger = logging.getLogger(__name__)


class RasaHistory:
    """Appends events to the trackers of the running agent."""

    def __init__(self, agent: Callable[[], Any], run: Callable[[Any], Any]) -> None:
        self._agent = agent  # the agent, once the server has loaded it
        self._run = run  # runs a coroutine on the turn loop (TurnLoop.run)

    async def _append(self, conversation_id: str, events: list[Any]) -> None:
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
        await self._append(conversation_id, [UserUttered(text, metadata={"handoff": True})])

    async def counsellor(self, conversation_id: str, text: str, counsellor_id: str) -> None:
        event = BotUttered(text, metadata={"handoff": True, "counsellor": counsellor_id})
        await self._append(conversation_id, [event])

    async def resume(self, conversation_id: str) -> None:
        events = [ConversationResumed(), ActionExecuted("action_listen")]
        await self._append(conversation_id, events)
