"""Her privacy requests as they stand on her contact row: told what is kept (once), and a
"forget me" waiting for her yes. Used by the channels' desk and by the Rasa action of the
menu entry (the action server has the database, not the channels)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.engine import Engine

from bot.channels.contacts import Contact
from bot.db.base import utcnow
from bot.db.transactions import session_factory


class PrivacyRequests:
    """Conditional updates of her row: of two instances racing, one wins."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = session_factory(engine)
        self._clock = clock

    def _update(self, conversation_id: str, *where: object, **values: object) -> bool:
        statement = update(Contact).where(Contact.id == conversation_id, *where).values(**values)
        with self._sessions.begin() as session:
            return int(session.execute(statement).rowcount or 0) == 1

    def claim_notice(self, conversation_id: str) -> bool:
        """True for the one caller that tells her what is kept (first contact)."""
        return self._update(conversation_id, Contact.privacy_notice_at.is_(None),
                            privacy_notice_at=self._clock())  # fmt: skip

    def ask_erase(self, conversation_id: str) -> bool:
        """She asked to be forgotten: her next yes erases. False when she has no contact
        (a conversation outside the channels: nothing of hers is held by them)."""
        return self._update(conversation_id, erase_asked_at=self._clock())

    def clear_erase(self, conversation_id: str) -> None:
        """She said no, or wrote something else."""
        self._update(conversation_id, Contact.erase_asked_at.is_not(None), erase_asked_at=None)
