"""The main menu's fifth entry: "5" (or "effacer") asks before anything is erased, and marks
her request for the channels' desk; a conversation the channels do not hold gets the notice."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from actions.menu import ActionChooseOption
from bot.channels.store import ChannelStore
from tests.support.actions import make_tracker, run_action


def choose(sender_id: str, text: str, language: str) -> list[dict]:
    tracker = make_tracker(slots={"menu": "main", "language": language}, text=text,
                           intent="choose_option", sender_id=sender_id)  # fmt: skip
    dispatcher, _ = run_action(ActionChooseOption(), tracker)
    return dispatcher.messages


@pytest.mark.parametrize(("text", "language"), [("5", "fr"), ("borrar", "es"), ("josi", "bm")])
def test_the_menu_entry_asks_and_marks_her_request(engine: Engine, text: str,
                                                    language: str) -> None:  # fmt: skip
    store = ChannelStore(engine, b"k" * 32)
    her = store.contact("sms", "+22376000009", country="ML")
    [message] = choose(her.id, text, language)
    assert message["response"] == "utter_privacy_forget_ask"
    assert [b["payload"] for b in message["buttons"]] == ["1", "2"]
    found = store.contact_by_id(her.id)
    assert found is not None and found.erase_asked_at is not None


def test_a_conversation_without_a_contact_gets_the_notice(engine: Engine) -> None:
    [message] = choose("rest-visitor", "5", "fr")
    assert message["response"] == "utter_privacy_notice"
    assert message["days"] == 90
