"""actions/menu.py: the numbered menus (greeting, help, out of scope, languages), a choice
by digit, word or button doing what its option says, and the fallback that answers the menu
she was shown, or offers a counsellor after the second miss in a row."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rasa_sdk import Action
from sqlalchemy.engine import Engine

from actions.menu import (
    ActionChooseOption,
    ActionFallback,
    ActionGreet,
    ActionHelp,
    ActionLanguageMenu,
    ActionOutOfScope,
)
from bot.i18n import Translator
from tests.support.actions import (
    SENDER,
    Workshops,
    followups,
    in_days,
    kinds,
    make_tracker,
    responses,
    rows,
    run_action,
    slots_set,
    user_event,
)

MAIN_LABELS = ["menu.health", "menu.workshops", "menu.counsellor", "menu.language", "menu.privacy"]
LANGUAGE_SET = {"language_candidate": None, "language_streak": 0.0, "menu": None}


def payload(button: dict[str, str]) -> dict[str, str]:
    """The entities of a button's payload: ``/choose_option{"menu": .., "option": ..}``."""
    intent, _, entities = button["payload"].partition("{")
    assert intent == "/choose_option"
    return dict(json.loads("{" + entities))


def choose(text: str, shown: str | None = "main", channel: str = "rest",
           entities: tuple[tuple[str, str], ...] = (), **slots: Any,
           ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:  # fmt: skip
    """Her numbered choice ``text`` while menu ``shown`` is open: messages, events."""
    tracker = make_tracker(slots={"menu": shown, **slots}, text=text, intent="choose_option",
                           entities=entities, channel=channel)  # fmt: skip
    dispatcher, events = run_action(ActionChooseOption(), tracker)
    return dispatcher.messages, events


# --- Showing a menu -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "intro", "name", "count"),
    [(ActionGreet(), "utter_greet", "main", 5), (ActionHelp(), "utter_help", "main", 5),
     (ActionOutOfScope(), "utter_out_of_scope", "main", 5),
     (ActionLanguageMenu(), "utter_language_menu", "language", 3)],
)  # fmt: skip
def test_each_menu_action_sends_its_text_with_the_numbered_options(
    action: Action, intro: str, name: str, count: int
) -> None:
    """Hello / help / "I can't help with that" / languages: one message, numbered buttons,
    and the menu remembered so that a bare "2" refers to it."""
    dispatcher, events = run_action(action, make_tracker(text="salut"))
    assert responses(dispatcher) == [intro]
    buttons = dispatcher.messages[0]["buttons"]
    assert [payload(b) for b in buttons] == [
        {"menu": name, "option": str(n)} for n in range(1, count + 1)
    ]
    assert slots_set(events) == {"menu": name}


def test_the_main_menu_reads_in_her_language() -> None:
    """In Bambara the options are in Bambara, not French."""
    dispatcher, _ = run_action(ActionGreet(), make_tracker(slots={"language": "bm"}))
    titles = [b["title"] for b in dispatcher.messages[0]["buttons"]]
    assert titles == [Translator("bm")(label) for label in MAIN_LABELS]
    assert titles != [Translator("fr")(label) for label in MAIN_LABELS]


# --- Choosing an option ---------------------------------------------------------------------


@pytest.mark.parametrize("text", ["1", "un", "le premier", "uno", "kelen"])
def test_a_response_option_answers_and_keeps_the_menu_open(text: str) -> None:
    """"1" (or "un", "uno", "kelen") after the main menu: the health topics; the menu stays
    open, so "2" next still means workshops."""
    sent, events = choose(text)
    assert [m["response"] for m in sent] == ["utter_health_menu"]
    assert events == []


def test_an_option_opening_a_menu_shows_it() -> None:
    """"4" after the main menu: the language menu, now the open one."""
    sent, events = choose("4")
    assert [m["response"] for m in sent] == ["utter_language_menu"]
    assert [payload(b)["menu"] for b in sent[0]["buttons"]] == ["language"] * 3
    assert slots_set(events) == {"menu": "language"}


@pytest.mark.parametrize(("text", "language"), [("2", "es"), ("dos", "es"), ("espagnol", "es"),
                                                ("3", "bm"), ("bamanankan", "bm")])  # fmt: skip
def test_choosing_a_language_switches_and_confirms_in_it(text: str, language: str) -> None:
    """"2" or "espagnol" on the language menu: confirmed in Spanish, the language set."""
    sent, events = choose(text, shown="language", language="fr")
    assert [m["response"] for m in sent] == ["utter_language_changed"]
    assert sent[0]["slots"]["language"] == language  # rendered in the new language
    assert slots_set(events) == {"language": language, **LANGUAGE_SET}


def test_a_button_names_its_own_menu() -> None:
    """An old language button pressed after the main menu: still a language choice."""
    entities = (("menu", "language"), ("option", "3"))
    sent, events = choose('/choose_option{"menu": "language", "option": "3"}', shown="main",
                          entities=entities)  # fmt: skip
    assert [m["response"] for m in sent] == ["utter_language_changed"]
    assert slots_set(events)["language"] == "bm"


@pytest.mark.parametrize("text", ["7", "0", "un ou deux"])
def test_a_number_off_the_menu_says_how_many_options_there_are(text: str) -> None:
    """"7" on a five-option menu: "answer 1 to 5", and the same menu again."""
    sent, events = choose(text)
    assert [m["response"] for m in sent] == ["utter_option_invalid"]
    assert sent[0]["count"] == 5
    assert len(sent[0]["buttons"]) == 5
    assert slots_set(events) == {"menu": "main"}


def test_a_number_with_no_menu_open_shows_the_main_menu() -> None:
    """"2" when no menu is open (or one that no longer exists): the main menu, nothing run."""
    for shown in (None, "old_menu"):
        sent, events = choose("2", shown=shown)
        assert [m["response"] for m in sent] == ["utter_help"]
        assert slots_set(events) == {"menu": "main"}


def test_workshops_with_nothing_scheduled_says_so(engine: Engine) -> None:
    """"2" (workshops) with no session to come: "no workshop for now"."""
    sent, events = choose("2")
    assert [m["response"] for m in sent] == ["utter_booking_none"]
    assert slots_set(events) == {"menu": None}


def test_workshops_opens_the_booking_form(engine: Engine) -> None:
    """"ateliers" on the main menu with sessions to come: the booking form starts."""
    Workshops(engine).session(starts_at=in_days(2))
    tracker = make_tracker(slots={"menu": "main"}, text="ateliers", intent="nlu_fallback")
    dispatcher, events = run_action(ActionFallback(), tracker)
    assert dispatcher.messages == []
    assert followups(events) == ["booking_form", "action_listen"]


def test_counsellor_option_queues_her_on_a_relay_channel(engine: Engine) -> None:
    """"3" on Telegram: queued for a person (nobody registered: "as soon as possible")."""
    sent, events = choose("3", channel="telegram")
    assert [m["response"] for m in sent] == ["utter_handoff_offline_unknown"]
    assert kinds(events)[-1] == "pause"
    assert [(h["conversation_id"], h["reason"]) for h in rows(engine, "handoffs")] == [
        (SENDER, "asked")
    ]


def test_counsellor_after_two_misses_is_recorded_as_not_understood(engine: Engine) -> None:
    """"1" on the "shall I find you a person?" menu: a handoff marked not understood."""
    choose("1", shown="not_understood", channel="sms")
    assert [h["reason"] for h in rows(engine, "handoffs")] == ["not_understood"]


def test_counsellor_option_where_no_relay_reaches_her(engine: Engine) -> None:
    """"3" on the REST channel: "a person cannot answer you here", nothing queued."""
    sent, events = choose("3", channel="rest")
    assert [m["response"] for m in sent] == ["utter_handoff_not_here"]
    assert "pause" not in kinds(events)
    assert rows(engine, "handoffs") == []


def test_a_country_option_gives_that_countrys_numbers(engine: Engine) -> None:
    """"2" (Peru) on the country question: Peru's numbers, and Peru set."""
    sent, events = choose("2", shown="country", language="es")
    assert [m["response"] for m in sent] == ["utter_emergency_numbers"]
    assert sent[0]["numbers"].startswith("106 (")
    assert slots_set(events)["country"] == "PE"


# --- The fallback ---------------------------------------------------------------------------


def fallback(text: str, shown: str | None, history: tuple[dict[str, Any], ...] = (),
             **slots: Any) -> tuple[list[str | None], list[dict[str, Any]]]:  # fmt: skip
    tracker = make_tracker(slots={"menu": shown, **slots}, text=text, intent="nlu_fallback",
                           history=history)  # fmt: skip
    dispatcher, events = run_action(ActionFallback(), tracker)
    return responses(dispatcher), events


def test_fallback_reads_a_written_answer_to_the_open_menu() -> None:
    """"espagnol" not understood as such, but the language menu was open: Spanish it is."""
    sent, events = fallback("espagnol", shown="language")
    assert sent == ["utter_language_changed"]
    assert slots_set(events)["language"] == "es"
    assert followups(events) == ["action_listen"]


def test_fallback_asks_the_open_menu_again() -> None:
    """Gibberish on the language menu: "I did not understand", the language menu again."""
    sent, events = fallback("xkcd blabla", shown="language")
    assert sent == ["utter_fallback"]
    assert slots_set(events) == {"menu": "language"}
    assert followups(events) == ["action_listen"]


def test_a_first_miss_gets_the_main_menu() -> None:
    """Not understood, no menu open: "I did not understand" and the main menu."""
    sent, events = fallback("qsdfgh", shown=None, language="es")
    assert sent == ["utter_fallback"]
    assert slots_set(events) == {"menu": "main"}
    assert kinds(events)[-1] == "followup"


def answered(text: str, intent: str, response: str) -> tuple[dict[str, Any], ...]:
    """A past turn: her message (classified as ``intent``) and the assistant's answer."""
    return (
        user_event(text, parse_data={"intent": {"name": intent}}),
        {"event": "bot", "text": "...", "metadata": {"utter_action": response}},
    )


def test_the_second_miss_in_a_row_offers_a_person() -> None:
    """Two messages in a row not understood: the menu offering a counsellor."""
    before = answered("blabla", "nlu_fallback", "utter_fallback")
    sent, events = fallback("qsdfgh", shown="main", history=before)
    assert sent == ["utter_fallback_counsellor"]
    assert slots_set(events) == {"menu": "not_understood"}
    assert followups(events) == ["action_listen"]


def test_a_miss_after_an_understood_message_is_only_a_first_miss() -> None:
    """The message before was understood: no counsellor offer yet."""
    before = answered("bonjour", "greet", "utter_greet")
    sent, _ = fallback("qsdfgh", shown="main", history=before)
    assert sent == ["utter_fallback"]


def test_a_written_menu_answer_was_understood_even_as_nlu_fallback() -> None:
    """"espagnol" (nlu_fallback, read as the language menu's answer) then one unclear
    message: only a first miss, no counsellor offer yet."""
    before = answered("espagnol", "nlu_fallback", "utter_language_changed")
    sent, _ = fallback("qsdfgh", shown="main", history=before)
    assert sent == ["utter_fallback"]


def test_a_miss_of_rasas_core_fallback_counts_too() -> None:
    """A message no rule answered (Rasa's core fallback, with a confident intent) was not
    understood either: the next miss offers a person."""
    before = answered("si", "affirm", "utter_fallback")
    sent, _ = fallback("qsdfgh", shown="main", history=before)
    assert sent == ["utter_fallback_counsellor"]


def test_a_miss_on_the_counsellor_offer_offers_it_again() -> None:
    """Still not understood after the offer: the offer again, not the main menu."""
    sent, events = fallback("qsdfgh", shown="not_understood")
    assert sent == ["utter_fallback_counsellor"]
    assert slots_set(events) == {"menu": "not_understood"}
