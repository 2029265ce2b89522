"""The safety check's one table: the emergencies seen, without their text."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Integer, String

from bot.db.base import Base, utcnow
from bot.safety.risk import CLEAR  # an emergency; "possible": a worry that got the check-in


class SafetyAlert(Base):
    """An emergency seen in a conversation: for review, and for a priority handoff.

    No message text is stored: the category says what kind of help was needed, the
    conversation id (a pseudonym once channels are in) says where to look.
    """

    __tablename__ = "safety_alerts"

    id = Column(Integer, primary_key=True)
    conversation_id = Column(String(128), nullable=False, index=True)
    category = Column(String(32), nullable=False)
    language = Column(String(8))
    country = Column(String(2))
    needs_handoff = Column(Boolean, nullable=False, default=True)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    reviewed_at = Column(DateTime(timezone=True))
    # Columns in the order the revisions added them.
    level = Column(String(12), nullable=False, default=CLEAR, server_default=CLEAR)
    numbers_at = Column(DateTime(timezone=True))  # when her numbers were first sent
