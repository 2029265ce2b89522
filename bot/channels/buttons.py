"""The buttons last shown to a conversation, so that a reply can pick one.

SMS has no buttons: they are sent as a numbered list and "2" picks the second. A Telegram
button's callback data holds only its position (64 bytes would not fit a payload), so a
callback is resolved here as well.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from sqlalchemy import Column, DateTime, Integer, PrimaryKeyConstraint, String, Text, delete
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from bot.channels.rows import ChannelRows, write
from bot.db.base import Base, utcnow

# INSERT ... ON CONFLICT DO UPDATE, which both supported databases have.
_UPSERTS: dict[str, Callable[..., Insert]] = {
    "postgresql": postgresql.insert,
    "sqlite": sqlite.insert,
}


class ButtonChoice(Base):
    """The buttons last offered to a conversation: "2" by SMS or a Telegram callback picks one."""

    __tablename__ = "button_choices"
    __table_args__ = (PrimaryKeyConstraint("conversation_id", "position"),)

    conversation_id = Column(String(40), nullable=False)
    position = Column(Integer, nullable=False)  # 1-based, as the user reads it
    title = Column(String(200), nullable=False)
    payload = Column(Text, nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)


class Buttons(ChannelRows):
    """The buttons' rows: replaced whole when new ones are shown, read by position."""

    def set_buttons(self, conversation_id: str, buttons: Sequence[tuple[str, str]]) -> None:
        """Replace the buttons offered to a conversation with ``(title, payload)`` pairs.

        An upsert by position, then a delete of the positions left over: two instances
        replacing them at once queue on the first row, and the last one wins whole (a delete
        then insert would fail one of them on the primary key).
        """
        now = self._now()
        rows = [
            {
                "conversation_id": conversation_id,
                "position": position,
                "title": title[:200],
                "payload": payload,
                "created_at": now,
            }
            for position, (title, payload) in enumerate(buttons, start=1)
        ]
        with self._transaction() as session:
            if rows:
                insert = _UPSERTS[self.engine.dialect.name](ButtonChoice).values(rows)
                session.execute(
                    insert.on_conflict_do_update(
                        index_elements=["conversation_id", "position"],
                        set_={
                            "title": insert.excluded.title,
                            "payload": insert.excluded.payload,
                            "created_at": insert.excluded.created_at,
                        },
                    )
                )
            write(
                session,
                delete(ButtonChoice).where(
                    ButtonChoice.conversation_id == conversation_id,
                    ButtonChoice.position > len(rows),
                ),
            )

    def button_payload(self, conversation_id: str, position: int) -> str | None:
        """The payload of button ``position`` (1-based, as shown), or None."""
        choice = self.button_choice(conversation_id, position)
        return choice[1] if choice else None

    def button_choice(self, conversation_id: str, position: int) -> tuple[str, str] | None:
        """Button ``position`` as it was shown: (title, payload), or None."""
        with self._transaction() as session:
            row = session.get(ButtonChoice, (conversation_id, position))
            return (row.title, row.payload) if row is not None else None

    def clear_buttons(self, conversation_id: str) -> None:
        """Forget the buttons shown to a conversation: a number she sends later picks none."""
        with self._transaction() as session:
            write(
                session,
                delete(ButtonChoice).where(ButtonChoice.conversation_id == conversation_id),
            )
