"""The safety verdict outside a Rasa turn: while a person owns the conversation (queued, with
a counsellor) and after a crashed turn, where no NLU pipeline runs for her message.

The lexicon answers first (no model needed, and it names the category); the risk model's
level comes from a :class:`RiskReader`, in the server the running agent's own parse (the
same pipeline, the same thresholds as a turn). When the reader is missing or fails, the
lexicon alone decides, as before the risk model existed: never worse than that.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from bot.safety import GENERAL, load_lexicon
from bot.safety.risk import CLEAR, LEVELS, NONE

logger = logging.getLogger(__name__)


class RiskReader(Protocol):
    """The risk model's level for one message (``clear``, ``possible``, ``none``)."""

    async def risk_level(self, text: str) -> str: ...


@dataclass(frozen=True)
class Verdict:
    """A level, and the emergency category when it is ``clear`` (``general`` without a
    lexicon match: the model does not name one)."""

    level: str
    category: str | None = None


async def verdict(text: str, reader: RiskReader | None) -> Verdict:
    """The lexicon's category, else the model's level (the lexicon's ``none`` if it fails)."""
    category = load_lexicon().category(text or "")
    if category is not None:
        return Verdict(CLEAR, category)
    if reader is None or not text:
        return Verdict(NONE)
    try:
        level = await reader.risk_level(text)
    except Exception as error:  # the lexicon's verdict stands
        logger.error("Risk model unavailable outside a turn (%s).", type(error).__name__)
        return Verdict(NONE)
    level = level if level in LEVELS else NONE
    return Verdict(level, GENERAL if level == CLEAR else None)
