"""Opening a handoff from the conversation (the action server): queue it, and say what the
user should expect: her place in the line, or when counsellors are back."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from bot.handoff.registry import Registry
from bot.handoff.relay import next_opening_text
from bot.handoff.service import HandoffService
from bot.settings import settings_from_env

# Channels whose messages the relay can carry both ways (REST answers only in its reply).
RELAY_CHANNELS = frozenset({"sms", "telegram", "local"})


@dataclass(frozen=True)
class Opened:
    """What the action tells her after asking: her place, or when counsellors are back."""

    handoff_id: int
    new: bool
    position: int | None  # in the queue, when someone is on duty
    back_at: str | None  # when counsellors are back, in her language, when nobody is

    @property
    def on_duty(self) -> bool:
        """Someone speaking her language works now (she has a place in the line)."""
        return self.position is not None


@functools.lru_cache(maxsize=4)
def services(engine: Engine) -> tuple[HandoffService, Registry]:
    """One service and registry per engine: the action server opens many requests."""
    return HandoffService(engine, settings_from_env().handoff), Registry(engine)


def open_request(
    engine: Engine,
    conversation_id: str,
    reason: str,
    *,
    language: str,
    channel: str,
    country: str | None,
    at: datetime | None = None,
) -> Opened:
    """Queue ``conversation_id`` (``reason``: asked, emergency, not_understood); ``at``:
    the moment of the request (now)."""
    service, registry = services(engine)
    on_duty = registry.available(language, at)
    opens_at = None if on_duty else registry.next_opening(language, at)
    handoff, new = service.request(conversation_id, reason, language=language, channel=channel,
                                   opens_at=opens_at)  # fmt: skip
    if on_duty:
        return Opened(handoff.id, new, service.position(conversation_id) or 1, None)
    return Opened(handoff.id, new, None, next_opening_text(registry, language, country, at))
