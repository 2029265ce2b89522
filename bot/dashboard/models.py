"""The dashboard's tables: staff accounts and their sessions, and the weekly figures.

The figures (``stats_*``) hold counts and categories only: no pseudonym, no address, no text.
They are recomputed from the service's own rows (:mod:`bot.dashboard.rollup`) while those
rows are complete, and kept when the retention purge or an erasure takes the rows: the
programme's history survives, the people in it do not. A week is the ISO week (Monday, UTC).
One row of ``stats_safety`` or ``stats_handoffs`` is one event without its person, so that a
median over any filter is exact.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Index,
    Integer,
    String,
)

from bot.db.base import Base, utcnow

MANAGER, SUPERVISOR = "manager", "supervisor"
ROLES = (MANAGER, SUPERVISOR)
UNKNOWN = "-"  # a country, language or channel nobody recorded


class StaffAccount(Base):
    """Someone who may sign in to the dashboard; ``password`` is a scrypt hash."""

    __tablename__ = "staff_accounts"

    id = Column(Integer, primary_key=True)
    username = Column(String(64), nullable=False, unique=True)
    role = Column(String(12), nullable=False)  # ROLES
    language = Column(String(8), nullable=False, default="fr")  # the pages' language: fr, es
    password = Column(String(200), nullable=False)
    failed_logins = Column(Integer, nullable=False, default=0)
    locked_until = Column(DateTime(timezone=True))
    created_at = Column(DateTime(timezone=True), nullable=False, default=utcnow)
    last_login_at = Column(DateTime(timezone=True))


class StaffSession(Base):
    """A signed-in browser: only the token's SHA-256 is stored, with its CSRF token."""

    __tablename__ = "staff_sessions"

    token_hash = Column(String(64), primary_key=True)
    account_id = Column(Integer, nullable=False, index=True)
    csrf = Column(String(64), nullable=False)
    created_at = Column(DateTime(timezone=True), nullable=False)
    last_seen_at = Column(DateTime(timezone=True), nullable=False)


class RolledWeek(Base):
    """When a week's figures were last computed from the rows."""

    __tablename__ = "stats_weeks"

    week = Column(Date, primary_key=True)
    rolled_at = Column(DateTime(timezone=True), nullable=False)


def _cell() -> list[Column]:
    """The columns every figure is filtered by."""
    return [
        Column("week", Date, nullable=False),
        Column("channel", String(16), nullable=False),
        Column("language", String(8), nullable=False),
        Column("country", String(2), nullable=False),
    ]


class ReachFigure(Base):
    """Users and their messages in one week and cell. A user is in one cell per week (her
    contact's channel, language and country), so users add up across cells."""

    __tablename__ = "stats_reach"

    id = Column(Integer, primary_key=True)
    week, channel, language, country = _cell()
    new_users = Column(Integer, nullable=False)  # first message this week
    returning_users = Column(Integer, nullable=False)  # wrote this week, first seen before
    messages = Column(Integer, nullable=False)  # her messages, every kind
    __table_args__ = (Index("ix_stats_reach_week", "week"),)


class TopicFigure(Base):
    """Messages by what the assistant understood: intent, and sub-topic of a health
    question (``contraception/pill_how``: ``pill_how``), ``""`` for none."""

    __tablename__ = "stats_topics"

    id = Column(Integer, primary_key=True)
    week, channel, language, country = _cell()
    intent = Column(String(64), nullable=False)
    subtopic = Column(String(64), nullable=False)
    messages = Column(Integer, nullable=False)
    __table_args__ = (Index("ix_stats_topics_week", "week"),)


class SafetyFigure(Base):
    """One emergency (``clear``) or check-in (``possible``), without her."""

    __tablename__ = "stats_safety"

    id = Column(Integer, primary_key=True)
    week, channel, language, country = _cell()
    category = Column(String(32), nullable=False)
    level = Column(String(12), nullable=False)
    numbers_seconds = Column(Integer)  # from her message to her numbers; None: none given
    __table_args__ = (Index("ix_stats_safety_week", "week"),)


class HandoffFigure(Base):
    """One request for a person, without her."""

    __tablename__ = "stats_handoffs"

    id = Column(Integer, primary_key=True)
    week, channel, language, country = _cell()
    reason = Column(String(20), nullable=False)
    priority = Column(Boolean, nullable=False)
    after_hours = Column(Boolean, nullable=False)  # nobody speaking her language was at work
    counsellor_id = Column(String(40))  # who took it; None: nobody
    wait_seconds = Column(Integer)  # opened to claimed; None: never claimed
    outcome = Column(String(20), nullable=False)  # open while it is
    __table_args__ = (Index("ix_stats_handoffs_week", "week"),)


class WorkshopFigure(Base):
    """One workshop session (its week is the week it takes place) and its places."""

    __tablename__ = "stats_workshops"

    id = Column(Integer, primary_key=True)
    week = Column(Date, nullable=False, index=True)
    workshop = Column(String(40), nullable=False)  # the workshop's code
    topic = Column(String(20), nullable=False)
    venue = Column(String(40), nullable=False)  # the venue's code
    country = Column(String(2), nullable=False)
    language = Column(String(8), nullable=False)
    cancelled = Column(Boolean, nullable=False)  # the session itself was called off
    seats = Column(Integer, nullable=False)
    booked = Column(Integer, nullable=False)  # seated now: booked, attended or no-show
    waitlisted = Column(Integer, nullable=False)
    cancellations = Column(Integer, nullable=False)
    attended = Column(Integer, nullable=False)
    no_shows = Column(Integer, nullable=False)
    reminders = Column(Integer, nullable=False)  # reminders sent


class CostFigure(Base):
    """Messages sent in one week and cell, and their SMS segments."""

    __tablename__ = "stats_cost"

    id = Column(Integer, primary_key=True)
    week, channel, language, country = _cell()
    messages = Column(Integer, nullable=False)
    segments = Column(Integer, nullable=False)
    __table_args__ = (Index("ix_stats_cost_week", "week"),)


FIGURES = (ReachFigure, TopicFigure, SafetyFigure, HandoffFigure, WorkshopFigure, CostFigure)
