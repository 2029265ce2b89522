"""actions/handoff.py: asking for a person queues the conversation (a row in ``handoffs``),
tells her what to expect and pauses the bot; where no relay can carry her messages, it
says so instead."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine

from actions.handoff import ActionRequestCounsellor
from bot.db.base import utcnow
from bot.handoff.registry import Registry
from bot.handoff.registry_file import Counsellor
from tests.support.actions import kinds, make_tracker, rows, run_action

ALWAYS = {"timezone": "Africa/Bamako", "hours": "always"}


def counsellor(engine: Engine, languages: tuple[str, ...], **fields: str) -> None:
    """A counsellor in the registry (on duty at all hours unless ``hours`` says otherwise)."""
    values = {"id": "awa", "name": "Awa", "channel": "telegram", "address": "500001",
              **ALWAYS, **fields}  # fmt: skip
    Registry(engine).upsert(Counsellor(languages=languages, **values))


def ask(channel: str | None, sender_id: str = "conv-1", **slots: str) -> tuple[list, list]:
    """She asks for a person ("PARLER") on ``channel``: the responses sent, the events."""
    tracker = make_tracker(slots=slots, text="PARLER", intent="request_counsellor",
                           channel=channel, sender_id=sender_id)  # fmt: skip
    dispatcher, events = run_action(ActionRequestCounsellor(), tracker)
    return dispatcher.messages, events


def test_where_no_relay_reaches_her_she_is_told_and_nothing_is_queued(engine: Engine) -> None:
    """On the REST channel: "a person cannot answer you here", the bot keeps talking."""
    counsellor(engine, ("fr",))
    messages, events = ask("rest")
    assert [m["response"] for m in messages] == ["utter_handoff_not_here"]
    assert kinds(events) == ["slot"]
    assert events[0]["name"] == "menu" and events[0]["value"] is None
    assert rows(engine, "handoffs") == []


@pytest.mark.parametrize("channel", ["telegram", "sms", "local"])
def test_with_a_counsellor_on_duty_she_is_queued_first_and_the_bot_pauses(
    engine: Engine, channel: str
) -> None:
    """"You are number 1 in line": the conversation is queued and the bot stops answering."""
    counsellor(engine, ("fr",))
    messages, events = ask(channel, menu="main")
    assert [(m["response"], m["position"]) for m in messages] == [("utter_handoff_queued", 1)]
    assert kinds(events) == ["slot", "pause"]
    assert (events[0]["name"], events[0]["value"]) == ("menu", None)
    [handoff] = rows(engine, "handoffs")
    assert handoff["conversation_id"] == "conv-1"
    assert (handoff["reason"], handoff["language"], handoff["channel"]) == ("asked", "fr", channel)
    assert not handoff["priority"]
    assert handoff["closed_at"] is None


def test_the_second_in_line_is_told_her_place(engine: Engine) -> None:
    """Someone is already waiting: "you are number 2"."""
    counsellor(engine, ("fr",))
    ask("telegram", sender_id="conv-1")
    messages, _ = ask("sms", sender_id="conv-2")
    assert messages[0]["position"] == 2
    assert len(rows(engine, "handoffs")) == 2


def test_asking_twice_opens_one_handoff(engine: Engine) -> None:
    """A second "PARLER" while she waits keeps her place: still one request."""
    counsellor(engine, ("fr",))
    ask("telegram")
    messages, events = ask("telegram")
    assert [(m["response"], m["position"]) for m in messages] == [("utter_handoff_queued", 1)]
    assert kinds(events) == ["slot", "pause"]
    assert len(rows(engine, "handoffs")) == 1


@pytest.mark.parametrize(("language", "stored"), [("bm", "bm"), ("es", "es"), (None, "fr")])
def test_the_request_is_in_her_language(
    engine: Engine, language: str | None, stored: str
) -> None:
    """A Bambara or Spanish speaker waits for a counsellor of her language (French if none)."""
    counsellor(engine, ("fr", "es", "bm"))
    slots = {"language": language} if language else {}
    ask("telegram", **slots)
    assert [h["language"] for h in rows(engine, "handoffs")] == [stored]


def test_nobody_registered_for_her_language_still_queues_her(engine: Engine) -> None:
    """No Bambara counsellor at all: "a counsellor will answer as soon as possible", queued."""
    counsellor(engine, ("fr",))
    messages, events = ask("telegram", language="bm")
    assert [m["response"] for m in messages] == ["utter_handoff_offline_unknown"]
    assert kinds(events) == ["slot", "pause"]
    assert [h["language"] for h in rows(engine, "handoffs")] == ["bm"]


def test_out_of_hours_she_is_told_when_counsellors_are_back(engine: Engine) -> None:
    """Nobody on duty now: "counsellors are back on <day>, 8:00", on her country's clock."""
    lima = ZoneInfo("America/Lima")
    day = (utcnow().astimezone(lima) + timedelta(days=3)).strftime("%a").lower()
    counsellor(engine, ("es",), timezone="America/Lima", hours=f"{day} 08:00-09:00")
    messages, events = ask("sms", language="es", country="PE")
    [message] = messages
    assert message["response"] == "utter_handoff_offline"
    assert message["when"].endswith(", 8:00")  # the day, then the hour on her clock
    assert kinds(events) == ["slot", "pause"]
    assert len(rows(engine, "handoffs")) == 1
