"""actions/health.py: the answer the response selector chose for a health question, its
second part on "PLUS", and the menu when there is nothing to answer."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

import pytest
from rasa_sdk.executor import CollectingDispatcher

from actions.health import ActionCountryGiven, ActionHealthAnswer, ActionMore, send_local
from bot import content
from bot.content.services import load_services, services_for
from bot.i18n import Translator
from tests.support.actions import (
    followups,
    make_tracker,
    responses,
    run_action,
    slots_set,
)


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
    """ "How do I take the pill?": that answer (its first part), and "PLUS" will continue it."""
    dispatcher, events = ask(domain, "contraception", "contraception/pill_how")
    assert responses(dispatcher) == ["utter_contraception/pill_how"]
    assert dispatcher.messages[0]["slots"] == {"health_part": None}  # the first part
    assert slots_set(events) == {"more_key": "utter_contraception/pill_how"}


def test_an_answer_without_a_second_part_leaves_nothing_for_more(domain: dict[str, Any]) -> None:
    """A short answer (vaping): "PLUS" afterwards will have nothing to add."""
    dispatcher, events = ask(domain, "addiction", "addiction/vaping",
                             more_key="utter_contraception/iud")  # fmt: skip
    assert responses(dispatcher) == ["utter_addiction/vaping"]
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
    """ "PLUS" after the pill answer: its second part; a second "PLUS" has nothing left."""
    tracker = make_tracker(slots={"more_key": "utter_contraception/pill_how"}, text="PLUS",
                           intent="more")  # fmt: skip
    dispatcher, events = run_action(ActionMore(), tracker, domain)
    assert responses(dispatcher) == ["utter_contraception/pill_how"]
    assert dispatcher.messages[0]["slots"] == {"health_part": "more"}
    assert slots_set(events) == {"more_key": None}


def test_more_with_nothing_to_add_says_so_with_the_menu(domain: dict[str, Any]) -> None:
    """ "WƐRƐ" with no answer to continue: "nothing more to add", and the main menu in bm."""
    tracker = make_tracker(slots={"language": "bm"}, text="WƐRƐ", intent="more")
    dispatcher, events = run_action(ActionMore(), tracker, domain)
    assert responses(dispatcher) == ["utter_more_none"]
    assert dispatcher.messages[0]["buttons"][0]["title"] == Translator("bm")("menu.health")
    assert slots_set(events) == {"menu": "main"}


# --- What her country adds (bot/content) -----------------------------------------------------


def answered(domain: dict[str, Any], key: str, **slots: Any) -> tuple[Any, list]:
    """She asked a question the selector answers with ``key`` ("contraception/prep")."""
    intent = key.split("/")[0]
    return ask(domain, intent, key, **slots)


def test_without_her_country_the_answer_comes_then_the_question_once(
    domain: dict[str, Any],
) -> None:
    """Telegram tells no country: the general answer, then "which country?" (the form)."""
    dispatcher, events = answered(domain, "contraception/sti_testing", language="es")
    assert responses(dispatcher) == ["utter_contraception/sti_testing"]
    assert slots_set(events)["health_pending"] == "contraception.sti_testing"
    assert followups(events) == ["country_form"]


def test_her_phones_country_needs_no_question(domain: dict[str, Any]) -> None:
    """An SMS from +51: Peru is known from the number; its answer at once, remembered."""
    tracker = make_tracker(text="...", intent="pregnancy", metadata={"country": "PE"},
                           message=selector("pregnancy/abortion_law"))  # fmt: skip
    dispatcher, events = run_action(ActionHealthAnswer(), tracker, domain)
    assert responses(dispatcher) == ["utter_pregnancy/abortion_law",
                                     "utter_local_pregnancy_abortion_law_PE",
                                     "utter_health_services_none"]  # fmt: skip
    assert slots_set(events)["country"] == "PE"
    assert followups(events) == []


@pytest.mark.parametrize("country", ["FR", "PE", "ML"])
def test_the_law_on_abortion_is_her_countrys(domain: dict[str, Any], country: str) -> None:
    dispatcher, _ = answered(domain, "pregnancy/abortion_law", country=country)
    local = f"utter_local_pregnancy_abortion_law_{country}"
    assert local in responses(dispatcher)
    assert local in domain["responses"]


@pytest.mark.parametrize("country", ["FR", "PE", "ML", "ZZ"])
@pytest.mark.parametrize("key", sorted(content.TOPIC_OF))
def test_every_where_or_free_answer_names_a_verified_service_or_says_there_is_none(
    domain: dict[str, Any], key: str, country: str
) -> None:
    """For every country-aware answer and every country: a verified service by name, or the
    message that none is verified; never an unverified one, never nothing."""
    tracker = make_tracker(slots={"country": country, "language": "fr"})
    dispatcher = CollectingDispatcher()
    send_local(dispatcher, tracker, domain["responses"], key, country)
    sent = responses(dispatcher)
    verified = services_for(country, content.TOPIC_OF[key])
    if verified:
        assert sent[-1] == "utter_health_services"
        shown = dispatcher.messages[-1]["services"]
        assert verified[0].name in shown
    else:
        assert sent[-1] == "utter_health_services_none"
    unverified = [s for s in load_services().get(country, ()) if not s.verified]
    for service in unverified:
        assert all(service.name not in str(m) for m in dispatcher.messages), service.id


def test_an_answer_of_no_country_sends_nothing_more(domain: dict[str, Any]) -> None:
    """Withdrawal is the same everywhere: no question, no services."""
    dispatcher, events = answered(domain, "contraception/withdrawal")
    assert responses(dispatcher) == ["utter_contraception/withdrawal"]
    assert followups(events) == []


@pytest.mark.parametrize(
    ("country", "expected"),
    [("FR", ["utter_local_contraception_sti_testing_FR", "utter_health_services"]),
     ("ZZ", ["utter_health_services_none"]),
     (None, ["utter_health_services_none"])],
)  # fmt: skip
def test_once_she_answers_where_she_is_her_countrys_part_follows(
    domain: dict[str, Any], country: str | None, expected: list[str]
) -> None:
    """After the country question: France's text and its verified services; another
    country, or an answer it could not place, gets "none verified" (she is not kept)."""
    tracker = make_tracker(slots={"health_pending": "contraception.sti_testing",
                                  "country": country, "language": "fr"})  # fmt: skip
    dispatcher, events = run_action(ActionCountryGiven(), tracker, domain)
    assert responses(dispatcher) == expected
    assert slots_set(events)["health_pending"] is None


def test_a_new_question_instead_of_her_country_is_answered_too(domain: dict[str, Any]) -> None:
    """Asked where she is, she asks about PrEP instead: "none verified" for the first answer,
    then the PrEP answer, without the country question again."""
    tracker = make_tracker(slots={"health_pending": "contraception.sti_testing"},
                           text="et la prep c quoi", intent="contraception",
                           message=selector("contraception/prep"))  # fmt: skip
    dispatcher, events = run_action(ActionCountryGiven(), tracker, domain)
    assert responses(dispatcher) == ["utter_health_services_none", "utter_contraception/prep",
                                     "utter_health_services_none"]  # fmt: skip
    assert followups(events) == []
    assert slots_set(events)["health_pending"] is None


@pytest.mark.parametrize("country", ["ZZ", None])
def test_another_country_is_never_left_without_an_answer(
    domain: dict[str, Any], country: str | None
) -> None:
    """Nutrition in pregnancy has a text for each programme country only: "another country"
    (or an answer it could not place) gets "none verified, go to the health centre"."""
    tracker = make_tracker(slots={"health_pending": "pregnancy.nutrition", "country": country})
    dispatcher, _ = run_action(ActionCountryGiven(), tracker, domain)
    assert responses(dispatcher) == ["utter_health_services_none"]


def test_an_emergency_as_her_answer_comes_first(domain: dict[str, Any]) -> None:
    """Asked where she is for a health answer, she writes an emergency: the emergency reply,
    the alert and the country question again, now for the numbers."""
    tracker = make_tracker(
        slots={"health_pending": "pregnancy.abortion_care", "language": "fr"},
        text="je veux mourir",
        message={"safety": {"category": "suicide"}},
    )
    with patch("actions.safety.safety.record_alert", return_value=1):
        dispatcher, events = run_action(ActionCountryGiven(), tracker, domain)
    assert responses(dispatcher) == ["utter_emergency_suicide"]
    assert slots_set(events)["health_pending"] is None
    assert followups(events) == ["country_form"]


@pytest.mark.parametrize(
    ("answer", "response"),
    [("1", "utter_pill_missed_combined"), ("la combinee", "utter_pill_missed_combined"),
     ("la 20", "utter_pill_missed_low_dose"),
     ("sin estrogeno, doy pecho", "utter_pill_missed_progestin"),
     ("desogestrel", "utter_pill_missed_progestin"), ("je sais pas", "utter_pill_missed_unknown"),
     ("n t'a dɔn", "utter_pill_missed_unknown")],
)  # fmt: skip
def test_a_missed_pill_asks_which_pill_and_reads_the_answer_in_words(
    domain: dict[str, Any], answer: str, response: str
) -> None:
    """The rule depends on the pill (WHO): she is asked, and answers with a digit or words."""
    dispatcher, events = ask(domain, "contraception", "contraception/pill_missed")
    assert responses(dispatcher) == ["utter_contraception/pill_missed"]
    assert len(dispatcher.messages[0]["buttons"]) == 4
    assert slots_set(events)["menu"] == "pill_type"
    tracker = make_tracker(slots={"menu": "pill_type"}, text=answer, intent="contraception",
                           message=selector("contraception/pill_how"))  # fmt: skip
    dispatcher, _ = run_action(ActionHealthAnswer(), tracker, domain)
    assert responses(dispatcher) == [response]
