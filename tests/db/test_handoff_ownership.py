"""Conversation ownership on SQLite and PostgreSQL: the moves, their history, the queue order,
and races between counsellors (or server instances) that only one may win."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.handoff.ownership import (
    BOT,
    COUNSELLOR,
    QUEUED,
    ConversationOwner,
    OwnerChange,
    Ownership,
    OwnershipConflict,
)


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 30, 9, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)  # every move a second later: a strict order
        return self.now


@pytest.fixture
def ids(engine: Engine) -> Iterator[list[str]]:
    """Conversation ids of one test; their rows are deleted afterwards (shared PostgreSQL)."""
    mark = f"t{uuid.uuid4().hex[:8]}"
    made = [f"{mark}-{n}" for n in range(40)]
    yield made
    with Session(engine, future=True) as session, session.begin():
        for model in (ConversationOwner, OwnerChange):
            session.execute(delete(model).where(model.conversation_id.in_(made)))


@pytest.fixture
def owners(engine: Engine) -> Ownership:
    return Ownership(engine, clock=Clock())


def test_a_conversation_belongs_to_the_bot_until_it_asks(owners: Ownership, ids: list[str]) -> None:
    assert owners.current(ids[0]).state == BOT
    assert owners.current(ids[0]).bot_speaks


def test_a_whole_handoff_and_its_history(owners: Ownership, ids: list[str]) -> None:
    conversation = ids[0]
    assert owners.request(conversation, "asked").state == QUEUED
    claimed = owners.claim(conversation, "awa")
    assert (claimed.state, claimed.counsellor_id, claimed.bot_speaks) == (COUNSELLOR, "awa", False)
    assert owners.release(conversation, "awa").state == QUEUED
    owners.claim(conversation, "rosa")
    closed = owners.close(conversation, "referred", actor="counsellor:rosa")
    assert (closed.state, closed.counsellor_id, closed.priority) == (BOT, None, False)
    moves = [(c.from_state, c.to_state, c.actor, c.why) for c in owners.history(conversation)]
    assert moves == [
        (BOT, QUEUED, "user", "asked"),
        (QUEUED, COUNSELLOR, "counsellor:awa", None),
        (COUNSELLOR, QUEUED, "counsellor:awa", None),
        (QUEUED, COUNSELLOR, "counsellor:rosa", None),
        (COUNSELLOR, BOT, "counsellor:rosa", "referred"),
    ]
    assert [c.at for c in owners.history(conversation)] == sorted(
        c.at for c in owners.history(conversation)
    )
    # A second handoff of the same conversation reuses its row.
    assert owners.request(conversation, "not_understood").state == QUEUED


def test_only_the_holder_releases_or_closes(owners: Ownership, ids: list[str]) -> None:
    conversation = ids[0]
    owners.request(conversation, "asked")
    owners.claim(conversation, "awa")
    with pytest.raises(OwnershipConflict):
        owners.release(conversation, "rosa")
    with pytest.raises(OwnershipConflict):
        owners.close(conversation, "resolved", actor="counsellor:rosa")
    with pytest.raises(OwnershipConflict):
        owners.claim(conversation, "rosa")
    assert owners.current(conversation).counsellor_id == "awa"
    # The system (a timer) may close whatever the holder.
    assert owners.close(conversation, "timeout", actor="system").state == BOT
    with pytest.raises(OwnershipConflict):
        owners.close(conversation, "resolved", actor="system")  # already the bot's


def test_unknown_reasons_and_outcomes_are_refused(owners: Ownership, ids: list[str]) -> None:
    with pytest.raises(ValueError):
        owners.request(ids[0], "bored")
    owners.request(ids[0], "asked")
    with pytest.raises(ValueError):
        owners.close(ids[0], "whatever", actor="system")


def test_emergencies_first_then_the_longest_waiting(owners: Ownership, ids: list[str]) -> None:
    first, second, urgent, late_urgent = ids[:4]
    owners.request(first, "asked")
    owners.request(second, "not_understood")
    owners.request(urgent, "emergency")
    owners.request(late_urgent, "asked")
    owners.request(late_urgent, "emergency")  # an emergency while already waiting
    order = [o.conversation_id for o in owners.queue() if o.conversation_id in ids]
    assert order == [urgent, late_urgent, first, second]
    assert owners.position(first) is not None
    assert owners.position(ids[10]) is None
    # Asking again changes neither the place nor the history.
    owners.request(first, "asked")
    assert len(owners.history(first)) == 1


def test_two_counsellors_claiming_at_once_one_wins(
    engine: Engine, owners: Ownership, ids: list[str]
) -> None:
    """Many claims on each of several conversations, from threads with their own sessions
    (as two phones or two server instances would): exactly one winner each, nothing lost."""
    conversations = ids[:8]
    for conversation in conversations:
        owners.request(conversation, "asked")
    others = [Ownership(engine, clock=Clock()) for _ in range(4)]

    def claim(job: tuple[int, str]) -> str | None:
        n, conversation = job
        try:
            return others[n % 4].claim(conversation, f"c{n % 4}").counsellor_id
        except OwnershipConflict:
            return None

    jobs = [(n, conversation) for conversation in conversations for n in range(4)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(claim, jobs))
    for conversation in conversations:
        won = [r for (_, c), r in zip(jobs, results, strict=True) if c == conversation and r]
        assert len(won) == 1
        assert owners.current(conversation).counsellor_id == won[0]
        assert [c.to_state for c in owners.history(conversation)] == [QUEUED, COUNSELLOR]


def test_concurrent_first_requests_queue_once(
    engine: Engine, owners: Ownership, ids: list[str]
) -> None:
    """The same user tapping "talk to someone" on two instances at once: one queue entry,
    one history line."""
    conversation = ids[0]
    instances = [Ownership(engine, clock=Clock()) for _ in range(6)]
    with ThreadPoolExecutor(6) as pool:
        states = list(pool.map(lambda o: o.request(conversation, "asked").state, instances))
    assert states == [QUEUED] * 6
    assert len(owners.history(conversation)) == 1
