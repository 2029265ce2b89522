"""actions/checkin.py: a possible risk gets "are you safe right now?" with its two answers,
after the answer to her health question when it was one (a false alarm costs her a line,
never her answer), and never after a question that has its own numbered answers."""

from __future__ import annotations

from typing import Any

import pytest

from actions.checkin import ActionSafetyCheckin
from actions.health import ActionCountryGiven
from bot.i18n import Translator
from tests.support.actions import followups, make_tracker, responses, run_action, slots_set


def checkin_message(asked: str, *keys: str) -> dict[str, Any]:
    ranking = [{"intent_response_key": key, "confidence": 0.9} for key in keys]
    return {"safety_level": "possible", "risk": {"score": 0.7, "level": "possible",
                                                 "intent": asked},
            "response_selector": {"default": {"ranking": ranking}}}  # fmt: skip


@pytest.mark.parametrize("language", ["fr", "es", "bm"])
def test_a_possible_risk_gets_the_checkin_with_two_answers(
    domain: dict[str, Any], language: str
) -> None:
    tracker = make_tracker(slots={"language": language, "menu": "main"},
                           text="je suis fatiguee de tout", intent="safety_checkin",
                           message=checkin_message("out_of_scope"))  # fmt: skip
    dispatcher, events = run_action(ActionSafetyCheckin(), tracker, domain)
    assert responses(dispatcher) == ["utter_safety_checkin"]
    translate = Translator(language)
    assert dispatcher.messages[0]["buttons"] == [
        {"title": translate("safety.checkin.safe"), "payload": "1"},
        {"title": translate("safety.checkin.help"), "payload": "2"},
    ]
    assert slots_set(events) == {"menu": None}  # "1" answers the check-in, not a menu


def test_her_health_question_is_answered_before_the_checkin(domain: dict[str, Any]) -> None:
    tracker = make_tracker(slots={"language": "fr"}, text="...", intent="safety_checkin",
                           message=checkin_message("contraception",
                                                   "contraception/pill_how"))  # fmt: skip
    dispatcher, events = run_action(ActionSafetyCheckin(), tracker, domain)
    assert responses(dispatcher) == ["utter_contraception/pill_how", "utter_safety_checkin"]
    assert slots_set(events)["more_key"] == "utter_contraception/pill_how"
    assert not followups(events)  # no country question after it: the check-in is the last


def test_a_question_with_its_own_numbered_answers_waits(domain: dict[str, Any]) -> None:
    """ "Which pill?" then "1 yes / 2 help": her "1" would answer both. The check-in alone."""
    tracker = make_tracker(slots={"language": "es"}, text="...", intent="safety_checkin",
                           message=checkin_message("contraception",
                                                   "contraception/pill_missed"))  # fmt: skip
    dispatcher, _ = run_action(ActionSafetyCheckin(), tracker, domain)
    assert responses(dispatcher) == ["utter_safety_checkin"]


def test_words_of_distress_instead_of_her_country_get_the_checkin(
    domain: dict[str, Any],
) -> None:
    """Asked where she is for a health answer, she writes something worrying instead."""
    tracker = make_tracker(slots={"language": "fr", "health_pending": "contraception.pill_how"},
                           text="je suis fatiguee de tout", intent="safety_checkin",
                           message=checkin_message("out_of_scope"))  # fmt: skip
    _, events = run_action(ActionCountryGiven(), tracker, domain)
    assert followups(events) == ["action_safety_checkin"]
