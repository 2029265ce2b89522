"""actions/health.py: the answer the response selector chose for a health question, its
second part on "PLUS", and the menu when there is nothing to answer."""

from __future__ import annotations

from typing import Any

import pytest

from actions.health import ActionHealthAnswer, ActionMore
from bot.i18n import Translator
from tests.support.actions import make_tracker, responses, run_action, slots_set


def selector(*keys: str, name: str = "default") -> dict[str, Any]:
    """The response selector's output ranking ``keys`` ("contraception/pill_how"), best first."""
    ranking = [{"intent_response_key": key, "confidence": 0.9 - n / 10}
               for n, key in enumerate(keys)]  # fmt: skip
    return {"response_selector": {name: {"ranking": ranking}}}


def ask(domain: dict[str, Any], intent: str, *keys: str, **slots: Any) -> tuple[Any, list]:
    tracker = make_tracker(slots=slots, text="...", intent=intent, message=selector(*keys))
    return run_action(ActionHealthAnswer(), tracker, domain)


def test_a_question_gets_the_chosen_answer_and_its_more_part_is_remembered(
    domain: dict[str, Any],
) -> None:
    """"How do I take the pill?": that answer (its first part), and "PLUS" will continue it."""
    dispatcher, events = ask(domain, "contraception", "contraception/pill_how")
    assert responses(dispatcher) == ["utter_contraception/pill_how"]
    assert dispatcher.messages[0]["slots"] == {"health_part": None}  # the first part
    assert slots_set(events) == {"more_key": "utter_contraception/pill_how"}


def test_an_answer_without_a_second_part_leaves_nothing_for_more(domain: dict[str, Any]) -> None:
    """A short answer (free condoms): "PLUS" afterwards will have nothing to add."""
    dispatcher, events = ask(domain, "contraception", "contraception/condom_free",
                             more_key="utter_contraception/iud")  # fmt: skip
    assert responses(dispatcher) == ["utter_contraception/condom_free"]
    assert slots_set(events) == {"more_key": None}


@pytest.mark.parametrize("name", ["default", "pregnancy"])
def test_the_best_answer_of_her_intent_is_chosen(domain: dict[str, Any], name: str) -> None:
    """One selector ranks every answer: a pregnancy question gets the best pregnancy answer,
    even when an addiction answer ranks higher."""
    dispatcher, _ = ask(domain, "pregnancy", "addiction/alcohol", "pregnancy/test",
                        "pregnancy/early_signs", name=name)  # fmt: skip
    assert responses(dispatcher) == ["utter_pregnancy/test"]


@pytest.mark.parametrize(
    ("intent", "keys"),
    [("contraception", ("contraception/no_such_answer",)),  # not in the domain
     ("pregnancy", ("addiction/alcohol",)),  # no answer of her intent ranked
     ("contraception", ()),  # no selector output at all
     ("greet", ("contraception/pill_how",))],  # not a health intent
)  # fmt: skip
def test_nothing_to_answer_gets_the_fallback_and_the_main_menu(
    domain: dict[str, Any], intent: str, keys: tuple[str, ...]
) -> None:
    """No answer fits: "I did not understand", with the main menu, rather than a guess."""
    dispatcher, events = ask(domain, intent, *keys, language="es")
    assert responses(dispatcher) == ["utter_fallback"]
    titles = [b["title"] for b in dispatcher.messages[0]["buttons"]]
    assert titles[0] == Translator("es")("menu.health")
    assert slots_set(events) == {"menu": "main"}


def test_more_sends_the_second_part_once(domain: dict[str, Any]) -> None:
    """"PLUS" after the pill answer: its second part; a second "PLUS" has nothing left."""
    tracker = make_tracker(slots={"more_key": "utter_contraception/pill_how"}, text="PLUS",
                           intent="more")  # fmt: skip
    dispatcher, events = run_action(ActionMore(), tracker, domain)
    assert responses(dispatcher) == ["utter_contraception/pill_how"]
    assert dispatcher.messages[0]["slots"] == {"health_part": "more"}
    assert slots_set(events) == {"more_key": None}


def test_more_with_nothing_to_add_says_so_with_the_menu(domain: dict[str, Any]) -> None:
    """"WƐRƐ" with no answer to continue: "nothing more to add", and the main menu in bm."""
    tracker = make_tracker(slots={"language": "bm"}, text="WƐRƐ", intent="more")
    dispatcher, events = run_action(ActionMore(), tracker, domain)
    assert responses(dispatcher) == ["utter_more_none"]
    assert dispatcher.messages[0]["buttons"][0]["title"] == Translator("bm")("menu.health")
    assert slots_set(events) == {"menu": "main"}
