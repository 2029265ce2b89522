"""actions/safety.py: an emergency gets its fixed reply, the verified numbers of her country
(or where to go now), an alert row and a priority handoff; when the channel does not tell
her country, a form asks it and reads any answer."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from actions.health import ActionCountryGiven
from actions.safety import (
    ActionAskCountryAnswer,
    ActionEmergency,
    ValidateCountryForm,
)
from bot.db.base import utcnow
from bot.handoff.registry import Registry
from bot.handoff.registry_file import Counsellor
from bot.i18n import Translator
from tests.support.actions import (
    SENDER,
    followups,
    insert,
    kinds,
    make_tracker,
    responses,
    rows,
    run_action,
    slot_events,
    slots_set,
)

# The fixed reply of each kind of emergency, and the verified numbers France gives for it
# (bot/safety/emergency_numbers.yml, in its priority order).
FRANCE = {
    "overdose": ("utter_emergency_overdose", ["15", "112", "0 800 23 13 13"]),
    "obstetric": ("utter_emergency_obstetric", ["15", "112", "114"]),
    "suicide": ("utter_emergency_suicide", ["15", "3114", "0 800 235 236"]),
    "sexual_violence": ("utter_emergency_sexual_violence", ["17", "3919", "119"]),
    "violence": ("utter_emergency_violence", ["17", "3919", "119"]),
    "general": ("utter_emergency_general", ["15", "112", "17"]),
}
PERU = {"suicide": ["106", "113"], "violence": ["100"], "general": ["106", "100", "113"]}


def numbers(message: dict[str, Any]) -> list[str]:
    """The numbers of an ``utter_emergency_numbers`` message: "15 (SAMU), 3114 (...)"."""
    return re.findall(r"(?:^|\), )(\d[\d ]*?) \(", message["numbers"])


def emergency(
    category: str | None, channel: str = "rest", message: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None, **slots: Any,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:  # fmt: skip
    """A message the safety check put in ``category``: what she is sent, the events."""
    safety = {"safety": {"category": category}} if category else {}
    tracker = make_tracker(slots=slots, text="...", intent="emergency", channel=channel,
                           metadata=metadata, message={**safety, **(message or {})})  # fmt: skip
    dispatcher, events = run_action(ActionEmergency(), tracker)
    return dispatcher.messages, events


def on_duty(engine: Engine) -> None:
    """A counsellor of the three languages, on duty at all hours."""
    Registry(engine).upsert(Counsellor(
        id="awa", name="Awa", languages=("fr", "es", "bm"), channel="telegram",
        address="500001", timezone="Europe/Paris", hours="always",
    ))  # fmt: skip


# --- The first reply ------------------------------------------------------------------------


@pytest.mark.parametrize("category", list(FRANCE))
def test_each_emergency_gets_its_fixed_reply_then_the_numbers_for_it(
    engine: Engine, category: str
) -> None:
    """In France: the pre-approved text of that emergency, then its verified numbers."""
    response, expected = FRANCE[category]
    sent, events = emergency(category, country="FR")
    assert [m["response"] for m in sent] == [response, "utter_emergency_numbers"]
    assert numbers(sent[1]) == expected
    assert slots_set(events) == {"emergency_category": category, "handoff_priority": True,
                                 "health_pending": None, "country": "FR",
                                 "menu": None}  # fmt: skip
    assert followups(events) == []
    [alert] = rows(engine, "safety_alerts")
    assert (alert["conversation_id"], alert["category"], alert["country"]) == (
        SENDER, category, "FR",
    )  # fmt: skip


@pytest.mark.parametrize("category", list(PERU))
def test_peru_gets_the_peruvian_numbers_labelled_in_spanish(engine: Engine, category: str) -> None:
    """In Peru and in Spanish: Peru's numbers (never France's), their labels in Spanish."""
    sent, _ = emergency(category, country="PE", language="es")
    assert numbers(sent[1]) == PERU[category]
    if category == "violence":
        assert Translator("es")("number.pe_linea100") in sent[1]["numbers"]
    assert sent[1]["slots"]["language"] == "es"


def test_mali_without_a_verified_number_is_told_where_to_go(engine: Engine) -> None:
    """No Mali number is verified yet: she is told where to go now, and no number at all."""
    sent, events = emergency("obstetric", country="ML", language="bm")
    assert [m["response"] for m in sent] == ["utter_emergency_obstetric", "utter_emergency_go_now"]
    assert "numbers" not in sent[1]
    assert slots_set(events)["country"] == "ML"


def test_an_unknown_category_gets_the_general_reply(engine: Engine) -> None:
    """A category the reply table lacks (or none: the classifier alone): the general reply."""
    for category in ("something_else", None):
        sent, events = emergency(category, country="FR")
        assert sent[0]["response"] == "utter_emergency_general"
        assert numbers(sent[1]) == FRANCE["general"][1]
        assert slots_set(events)["emergency_category"] == "general"
    assert [a["category"] for a in rows(engine, "safety_alerts")] == ["general", "general"]


def test_the_sms_number_tells_her_country(engine: Engine) -> None:
    """On SMS the calling code gave her country (message metadata): Peru's numbers at once."""
    sent, events = emergency("suicide", channel="sms", metadata={"country": "PE"},
                             message={"language": "es"})  # fmt: skip
    assert numbers(sent[1]) == PERU["suicide"]
    assert slots_set(events)["country"] == "PE"
    [alert] = rows(engine, "safety_alerts")
    assert (alert["country"], alert["language"]) == ("PE", "es")


@pytest.mark.parametrize("metadata", [None, {"country": "US"}])
def test_without_her_country_only_the_fixed_reply_then_the_question(
    engine: Engine, metadata: dict[str, Any] | None
) -> None:
    """Telegram (or a country outside the programme): the fixed reply, then the country
    question (the form), and no number that could be the wrong country's."""
    sent, events = emergency("violence", channel="telegram", metadata=metadata)
    assert [m["response"] for m in sent] == ["utter_emergency_violence"]
    assert followups(events) == ["country_form"]
    assert slots_set(events) == {"emergency_category": "violence", "handoff_priority": True,
                                 "health_pending": None, "country_answer": None,
                                 "country_tries": 0.0, "menu": None}  # fmt: skip
    [alert] = rows(engine, "safety_alerts")
    assert alert["country"] is None


def test_on_a_relay_channel_a_counsellor_is_asked_for_first_in_line(engine: Engine) -> None:
    """Telegram, country known: fixed reply, numbers, then "a counsellor is coming", and
    the handoff goes to the front of the queue."""
    on_duty(engine)
    sent, events = emergency("suicide", channel="telegram", country="FR")
    assert [m["response"] for m in sent] == [
        "utter_emergency_suicide", "utter_emergency_numbers", "utter_handoff_queued",
    ]  # fmt: skip
    assert kinds(events)[-1] == "pause"
    [handoff] = rows(engine, "handoffs")
    assert (handoff["reason"], bool(handoff["priority"])) == ("emergency", True)


def test_the_language_of_the_message_is_used_when_none_is_set(engine: Engine) -> None:
    """Her first message is an emergency in Bambara: the alert and the labels are in bm."""
    sent, _ = emergency("general", country="FR", message={"language": "bm"})
    assert sent[0]["slots"]["language"] == "bm"
    assert Translator("bm")("number.fr_samu") in sent[1]["numbers"]
    assert [a["language"] for a in rows(engine, "safety_alerts")] == ["bm"]


# --- The country question -------------------------------------------------------------------


@pytest.mark.parametrize("language", ["fr", "es", "bm"])
def test_the_country_question_lists_the_countries_in_her_language(language: str) -> None:
    """ "Where are you? 1 Mali 2 Peru 3 France 4 another country", as buttons 1 to 4."""
    dispatcher, events = run_action(ActionAskCountryAnswer(),
                                    make_tracker(slots={"language": language}))  # fmt: skip
    assert responses(dispatcher) == ["utter_emergency_ask_country"]
    translate = Translator(language)
    labels = ["country.ml", "country.pe", "country.fr", "country.other"]
    assert dispatcher.messages[0]["buttons"] == [
        {"title": translate(label), "payload": str(n)} for n, label in enumerate(labels, 1)
    ]
    assert events == []


def test_after_an_answer_not_placed_the_question_is_said_again() -> None:
    """ "I did not understand where you are": the same list, worded as a second asking."""
    dispatcher, _ = run_action(ActionAskCountryAnswer(), make_tracker(slots={"country_tries": 1.0}))
    assert responses(dispatcher) == ["utter_emergency_ask_country_again"]
    assert len(dispatcher.messages[0]["buttons"]) == 4


def answer_country(
    domain: dict[str, Any], text: str, tries: float = 0.0,
    entities: tuple[tuple[str, str], ...] = (), category: str | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Her answer to the country question, through the form's validation action."""
    tracker = make_tracker(
        slots={"country_tries": tries, "emergency_category": "violence"}, text=text,
        entities=entities, message={"safety": {"category": category}} if category else None,
        candidates={"country_answer": text}, active_loop="country_form",
    )  # fmt: skip
    dispatcher, events = run_action(ValidateCountryForm(), tracker, domain)
    assert dispatcher.messages == []
    return slots_set(events)


@pytest.mark.parametrize(
    ("text", "country"),
    [("2", "PE"), ("deux", "PE"), ("Pérou", "PE"), ("vivo en Cusco", "PE"), ("3", "FR"),
     ("je suis à Lyon", "FR"), ("n bɛ Segu", "ML"), ("au Sénégal", "ZZ"), ("4", "ZZ")],
)  # fmt: skip
def test_the_country_is_read_from_a_number_a_country_or_a_city(
    domain: dict[str, Any], text: str, country: str
) -> None:
    """ "2", "deux", "Pérou", "vivo en Cusco", "je suis à Lyon", "n bɛ Segu": her country;
    a country outside the programme is "another country"."""
    assert answer_country(domain, text) == {"country_answer": text, "country": country,
                                            "country_tries": 0.0}  # fmt: skip


def test_an_answer_it_cannot_place_is_counted_and_asked_again(domain: dict[str, Any]) -> None:
    """ "je sais pas": no country, one more try counted, the question again."""
    assert answer_country(domain, "je sais pas", tries=1.0) == {"country_answer": None,
                                                                "country_tries": 2.0}  # fmt: skip


def test_a_button_counts_only_when_it_is_a_country_button(domain: dict[str, Any]) -> None:
    """Her tap on "France" answers; a button of an older menu pressed now does not."""
    payload = '/choose_option{"menu": "country", "option": "3"}'
    pressed = answer_country(domain, payload, entities=(("menu", "country"), ("option", "3")))
    assert pressed["country"] == "FR"
    other = '/choose_option{"menu": "main", "option": "2"}'
    assert answer_country(domain, other, entities=(("menu", "main"), ("option", "2"))) == {
        "country_answer": None, "country_tries": 1.0,
    }  # fmt: skip


def test_an_answer_saying_more_about_the_danger_updates_the_category(
    domain: dict[str, Any],
) -> None:
    """ "à Lyon, il m'a violée": France, and the numbers will be those of sexual violence."""
    found = answer_country(domain, "a Lyon il m'a violee", category="sexual_violence")
    assert (found["country"], found["emergency_category"]) == ("FR", "sexual_violence")


# --- The numbers once the form is filled -----------------------------------------------------


def contact(engine: Engine, country: str | None = None) -> None:
    """Her contact (the channels keep one per person), under her conversation id."""
    insert(engine, "contacts", id=SENDER, channel="telegram", address="4242", country=country,
           opted_out=False, created_at=utcnow(), last_seen_at=utcnow())  # fmt: skip


def numbers_after_form(
    channel: str = "telegram", **slots: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The country form filled: the numbers action, on ``channel``."""
    tracker = make_tracker(slots=slots, text="Perou", channel=channel)
    dispatcher, events = run_action(ActionCountryGiven(), tracker)
    return dispatcher.messages, events


def test_once_her_country_is_known_she_gets_its_numbers_and_it_is_remembered(
    engine: Engine,
) -> None:
    """She answered "Pérou": Peru's suicide numbers, and Peru kept with her contact."""
    contact(engine)
    sent, events = numbers_after_form(country="PE", emergency_category="suicide",
                                      channel="rest")  # fmt: skip
    assert [m["response"] for m in sent] == ["utter_emergency_numbers"]
    assert numbers(sent[0]) == PERU["suicide"]
    assert slot_events(events)[:2] == [("country_answer", None), ("country_tries", 0.0)]
    assert [c["country"] for c in rows(engine, "contacts")] == ["PE"]


def test_another_country_is_told_where_to_go_and_not_remembered(engine: Engine) -> None:
    """ "Sénégal" (another country): where to go now; her contact keeps no country."""
    contact(engine)
    sent, _ = numbers_after_form(country="ZZ", emergency_category="violence")
    assert [m["response"] for m in sent] == ["utter_emergency_go_now"]
    assert [c["country"] for c in rows(engine, "contacts")] == [None]


def test_after_the_numbers_the_priority_handoff_is_opened(engine: Engine) -> None:
    """The emergency marked a priority handoff: after the numbers, the counsellor queue."""
    on_duty(engine)
    contact(engine, country="FR")
    sent, events = numbers_after_form(country="FR", emergency_category="violence",
                                      handoff_priority=True, language="es")  # fmt: skip
    assert [m["response"] for m in sent] == ["utter_emergency_numbers", "utter_handoff_queued"]
    assert numbers(sent[0]) == FRANCE["violence"][1]
    assert kinds(events)[-1] == "pause"
    [handoff] = rows(engine, "handoffs")
    assert (handoff["reason"], handoff["language"], bool(handoff["priority"])) == (
        "emergency", "es", True,
    )  # fmt: skip
