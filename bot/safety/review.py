"""Counsellors teach the risk check: the messages it missed or flagged wrongly, queued for review.

A counsellor who writes ``MISSED 12`` or ``FALSEALARM 12`` (``/missed``, ``/falsealarm`` in the
staff group) marks the latest message of request 12 as one the check should have caught, or
should not have flagged. That deliberate command is her consent that this one message, masked,
leaves the conversation: her console answers with exactly what was kept. What is kept:

- the text, masked by :func:`mask` (phone numbers, long digit runs, e-mail addresses,
  @handles and links become ``[number]``, ``[email]``, ``[handle]``, ``[link]``) and encrypted
  at rest (:class:`~bot.db.crypto.EncryptedText`);
- its language, its kind (``missed``, ``false_alarm``), the counsellor's id, the day (not the
  time), and the conversation's pseudonym (its id, ``sms-<hmac>``: never an address), so that
  "forget me" erases her reviews too (:mod:`bot.privacy.erase`);
- a status: ``pending`` until staff promote it into the risk data (``python -m bot safety
  promote``, :mod:`bot.safety.promote`) or dismiss it.

The retention purge deletes rows older than ``RETENTION_DAYS``, as it blanks transcripts.
Nothing here logs a text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Column, Date, Index, Integer, String, select, update
from sqlalchemy.engine import Engine

from bot.db.base import Base, utcnow
from bot.db.crypto import EncryptedText
from bot.db.transactions import Transactional

logger = logging.getLogger(__name__)

MISSED, FALSE_ALARM = "missed", "false_alarm"
KINDS = (MISSED, FALSE_ALARM)
PENDING, PROMOTED, DISMISSED = "pending", "promoted", "dismissed"
STATUSES = (PENDING, PROMOTED, DISMISSED)

# What could name or reach a person, most specific first: a link may hold an address or
# digits, an address holds an @ and a domain.
_URL = re.compile(r"(?:\bhttps?://|\bwww\.)\S+", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_DOMAIN = re.compile(
    r"\b[\w-]+(?:\.[\w-]+)*\.(?:com|net|org|fr|es|pe|ml|me|io|ly|gg|co|info|app|link)\b"
    r"(?:/\S*)?",
    re.IGNORECASE,
)
_HANDLE = re.compile(r"(?<![\w@])@\w{2,}")
# A phone number: an optional + or 00, then digits in groups separated by a space, dot, dash
# or parenthesis, 8 digits or more in all ("06 12 34 56 78", "+223 70.00.00.00").
_PHONE = re.compile(r"(?<![\w+])\+?\(?\d(?:[\s.()-]{0,2}\d){7,}(?!\w)")
_DIGITS = re.compile(r"\d{5,}")  # a long digit run: an id, a code, a postcode
_MARKS = ((_URL, "[link]"), (_EMAIL, "[email]"), (_DOMAIN, "[link]"), (_HANDLE, "[handle]"),
          (_PHONE, "[number]"), (_DIGITS, "[number]"))  # fmt: skip


def mask(text: str) -> str:
    """``text`` on one line, with what could name or reach someone replaced by a placeholder.
    Short numbers stay ("7 semaines", "une vingtaine de cachets", "30 semanas"): they carry
    the danger. Names stay too: the counsellor is shown what is kept, and staff read it before
    it goes into any data file."""
    masked = " ".join(text.split())
    for pattern, placeholder in _MARKS:
        masked = pattern.sub(placeholder, masked)
    return masked


class SafetyReview(Base):
    """A message a counsellor marked: the risk check missed it, or flagged it wrongly."""

    __tablename__ = "safety_reviews"
    __table_args__ = (
        Index("ix_safety_reviews_status", "status", "id"),
        Index("ix_safety_reviews_conversation", "conversation_id"),
    )

    id = Column(Integer, primary_key=True)
    kind = Column(String(12), nullable=False)  # missed, false_alarm
    language = Column(String(8), nullable=False)
    text = Column(EncryptedText, nullable=False)  # masked, then encrypted at rest
    conversation_id = Column(String(40), nullable=False)  # the pseudonym, never an address
    counsellor_id = Column(String(40), nullable=False)
    day = Column(Date, nullable=False)  # the day only: no time of day is kept
    status = Column(String(12), nullable=False, default=PENDING)
    promoted_to = Column(String(40))  # train/suicide, dev/lookalikes, ...


@dataclass(frozen=True)
class Review:
    """A review as staff read it (no conversation id: reviewers do not need it)."""

    id: int
    kind: str
    language: str
    text: str
    counsellor_id: str
    day: date
    status: str
    promoted_to: str | None = None


def _review(row: SafetyReview) -> Review:
    return Review(int(row.id), row.kind, row.language, row.text, row.counsellor_id, row.day,
                  row.status, row.promoted_to)  # fmt: skip


class SafetyReviews(Transactional):
    """The review queue: added from the consoles, read and settled by staff."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(engine)
        self._clock = clock

    def add(
        self, kind: str, language: str, text: str, conversation_id: str, counsellor_id: str
    ) -> Review:
        """Her message, masked, in the queue; the same message marked the same way again
        (still pending) is the row already there."""
        if kind not in KINDS:
            raise ValueError(f"unknown review kind {kind!r}")
        masked = mask(text)
        if not masked:
            raise ValueError("nothing to keep")
        with self._transaction() as session:
            for row in session.scalars(select(SafetyReview).where(
                    SafetyReview.conversation_id == conversation_id, SafetyReview.kind == kind,
                    SafetyReview.status == PENDING)):  # fmt: skip
                if row.text == masked:  # compared decrypted: ciphertexts always differ
                    return _review(row)
            row = SafetyReview(kind=kind, language=language, text=masked,
                               conversation_id=conversation_id, counsellor_id=counsellor_id,
                               day=self._clock().date(), status=PENDING)  # fmt: skip
            session.add(row)
            session.flush()
            logger.info("Safety review #%d added (%s, %s).", row.id, kind, language)
            return _review(row)

    def get(self, review_id: int) -> Review | None:
        """One review, whatever its status."""
        with self._transaction() as session:
            row = session.get(SafetyReview, review_id)
            return _review(row) if row is not None else None

    def listed(self, statuses: Iterable[str] = (PENDING,)) -> list[Review]:
        """Reviews with these statuses, oldest first."""
        statement = (
            select(SafetyReview)
            .where(SafetyReview.status.in_(tuple(statuses)))
            .order_by(SafetyReview.id)
        )
        with self._transaction() as session:
            return [_review(row) for row in session.scalars(statement)]

    def settle(self, review_id: int, status: str, promoted_to: str | None = None) -> bool:
        """Pending -> ``status`` (promoted, dismissed); False when it was not pending."""
        if status not in (PROMOTED, DISMISSED):
            raise ValueError(f"a review is settled as promoted or dismissed, not {status!r}")
        with self._transaction() as session:
            result = session.execute(
                update(SafetyReview)
                .where(SafetyReview.id == review_id, SafetyReview.status == PENDING)
                .values(status=status, promoted_to=promoted_to),
                execution_options={"synchronize_session": False},
            )
            return bool(result.rowcount)

    def reopen(self, review_id: int) -> None:
        """Back to pending (a promotion whose file could not be written)."""
        with self._transaction() as session:
            session.execute(
                update(SafetyReview).where(SafetyReview.id == review_id)
                .values(status=PENDING, promoted_to=None),
                execution_options={"synchronize_session": False},
            )  # fmt: skip
