"""actions/common.py: a menu sent as one message (one SMS): its text, numbered buttons in
the conversation language, and the open menu remembered."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.common import show_menu
from bot.i18n import Translator
from tests.support.actions import make_tracker, slots_set

LANGUAGE_LABELS = ["language.fr", "language.es", "language.bm"]


def show(name: str, *args: Any, slots: dict[str, Any] | None = None,
         language: str | None = None, **values: Any) -> tuple[dict[str, Any], list]:  # fmt: skip
    """Menu ``name`` shown to someone whose language is ``language``: the one message sent
    and the events."""
    dispatcher = CollectingDispatcher()
    events = show_menu(dispatcher, make_tracker(slots={"language": language}), name, *args,
                       slots=slots, **values)  # fmt: skip
    [message] = dispatcher.messages
    return message, events


@pytest.mark.parametrize(("name", "intro", "count"),
                         [("main", "utter_help", 5), ("language", "utter_language_menu", 3),
                          ("country", "utter_emergency_ask_country", 4),
                          ("not_understood", "utter_fallback_counsellor", 3)])  # fmt: skip
def test_each_menu_comes_with_its_own_text_and_options(name: str, intro: str, count: int) -> None:
    """Without a text of its own, a menu is sent under its usual question."""
    message, events = show(name)
    assert message["response"] == intro
    assert len(message["buttons"]) == count
    assert slots_set(events) == {"menu": name}


def test_the_buttons_name_their_menu_and_number() -> None:
    """Each button carries its menu and number: an old keyboard pressed later still works."""
    message, _ = show("language")
    assert [b["payload"] for b in message["buttons"]] == [
        "/choose_option" + json.dumps({"menu": "language", "option": str(n)}) for n in (1, 2, 3)
    ]


@pytest.mark.parametrize("language", ["fr", "es", "bm"])
def test_the_options_are_in_her_language(language: str) -> None:
    """The titles are those of her language's catalog."""
    message, _ = show("language", language=language)
    assert [b["title"] for b in message["buttons"]] == [
        Translator(language)(label) for label in LANGUAGE_LABELS
    ]


def test_a_language_being_set_wins_over_the_old_one() -> None:
    """Switching to Spanish from Bambara: the menu is already in Spanish."""
    message, _ = show("main", slots={"language": "es"}, language="bm")
    assert message["buttons"][0]["title"] == Translator("es")("menu.health")
    assert message["slots"] == {"language": "es"}


def test_an_unknown_language_falls_back_to_french() -> None:
    """A language we do not speak ("en"): the menu in French rather than nothing."""
    message, _ = show("main", language="en")
    assert message["buttons"][0]["title"] == Translator("fr")("menu.health")


def test_another_text_and_its_values_go_with_the_menu() -> None:
    """"Answer 1 to 5" above the main menu: that text, with its count, and the same options."""
    message, events = show("main", "utter_option_invalid", count=5)
    assert (message["response"], message["count"]) == ("utter_option_invalid", 5)
    assert len(message["buttons"]) == 5
    assert slots_set(events) == {"menu": "main"}
