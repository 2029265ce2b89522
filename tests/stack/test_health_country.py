"""Answers that depend on her country, through the running stack (issue 16): the general
answer, then, when nobody knows her country, the question asked once and answered in words
or digits; then her country's own text and only verified services, or "none verified"."""

from __future__ import annotations

import pytest

from bot.content import local_response
from bot.launcher import LocalStack
from tests.support.conversation import GREETINGS, RESPONSE_KEYS, Conversation

pytestmark = pytest.mark.stack

# language, her question, its answer, her answer to "which country?", the country,
# and what follows for that country (its own text, then the verified services or none).
CASES = [
    ("fr", "c'est legal l'avortement ? jusqu'a quand ?", "utter_pregnancy/abortion_law",
     "je suis a lyon", "FR", ["utter_local_pregnancy_abortion_law_FR",
                              "utter_health_services"]),
    ("es", "el aborto es legal aca?", "utter_pregnancy/abortion_law",
     "Perú", "PE", ["utter_local_pregnancy_abortion_law_PE", "utter_health_services_none"]),
    ("bm", "kɔnɔ bɔli sariya ye mun ye an ka jamana na", "utter_pregnancy/abortion_law",
     "n bɛ Bamakɔ", "ML", ["utter_local_pregnancy_abortion_law_ML",
                            "utter_health_services_none"]),
    ("fr", "ou je peux faire un test vih", "utter_contraception/hiv_testing",
     "1", "ML", ["utter_local_contraception_hiv_testing_ML", "utter_health_services_none"]),
]  # fmt: skip


@pytest.mark.parametrize(("language", "question", "answer", "where", "country", "then"), CASES)
def test_a_country_dependent_answer_is_completed_for_her_country(
    stack: LocalStack, language: str, question: str, answer: str, where: str, country: str,
    then: list[str],
) -> None:  # fmt: skip
    chat = Conversation(stack)
    chat.expect(GREETINGS[language], "utter_greet", language=language)
    replies = chat.expect(question, answer, "utter_health_ask_country", language=language)
    assert len(replies[1]["buttons"]) == 4  # Mali, Peru, France, another country
    for name in then:
        assert name.startswith("utter_health") or name in RESPONSE_KEYS, name
    replies = chat.expect(where, *then, language=language)
    assert chat.slot("country") == country
    assert chat.slot("health_pending") is None
    if then[-1] == "utter_health_services":
        assert "0 800 08 11 11" in replies[-1]["text"]  # verified (FACTS.md), free, national


def test_her_country_is_asked_once_then_known(stack: LocalStack) -> None:
    """A second where-question: her country's part at once, no second question."""
    chat = Conversation(stack)
    chat.expect("bonjour", "utter_greet", language="fr")
    chat.expect("c'est legal l'avortement ? jusqu'a quand ?", "utter_pregnancy/abortion_law",
                "utter_health_ask_country", language="fr")  # fmt: skip
    chat.expect("france", local_response("pregnancy.abortion_law", "FR"),
                "utter_health_services", language="fr")  # fmt: skip
    chat.expect("ou je peux faire un test vih", "utter_contraception/hiv_testing",
                local_response("contraception.hiv_testing", "FR"), "utter_health_services_none",
                language="fr")  # fmt: skip


def test_an_answer_it_cannot_place_gets_the_general_part_and_she_is_not_kept(
    stack: LocalStack,
) -> None:
    chat = Conversation(stack)
    chat.expect("hola buenas", "utter_greet", language="es")
    chat.expect("el aborto es legal aca?", "utter_pregnancy/abortion_law",
                "utter_health_ask_country", language="es")  # fmt: skip
    chat.expect("no se", "utter_health_services_none", language="es")
    assert chat.slot("country") is None
    assert chat.slot("requested_slot") is None


def test_an_emergency_instead_of_her_country_comes_first(stack: LocalStack) -> None:
    """States x triggers: inside the health answer's country question, an emergency gets its
    fixed reply and the country question for the numbers, then the numbers."""
    chat = Conversation(stack)
    chat.expect("bonjour", "utter_greet", language="fr")
    chat.expect("c'est legal l'avortement ? jusqu'a quand ?", "utter_pregnancy/abortion_law",
                "utter_health_ask_country", language="fr")  # fmt: skip
    chat.expect("je veux me suicider", "utter_emergency_suicide", "utter_emergency_ask_country",
                language="fr")  # fmt: skip
    assert chat.slot("handoff_priority") is True
    replies = chat.expect("je suis a lyon", "utter_emergency_numbers", language="fr")
    assert "3114" in replies[0]["text"]


@pytest.mark.parametrize(
    ("language", "question", "answer", "response"),
    [("fr", "j ai oublie ma pilule hier soir, je fais quoi", "la 20",
      "utter_pill_missed_low_dose"),
     ("es", "se me olvido tomar la pastilla ayer que hago", "sin estrogeno, doy de lactar",
      "utter_pill_missed_progestin"),
     ("bm", "n ɲinana n ka pilule kɔ kunun, n ka kan ka mun kɛ", "1",
      "utter_pill_missed_combined")],
)  # fmt: skip
def test_a_missed_pill_asks_which_pill(
    stack: LocalStack, language: str, question: str, answer: str, response: str
) -> None:
    chat = Conversation(stack)
    chat.expect(GREETINGS[language], "utter_greet", language=language)
    replies = chat.expect(question, "utter_contraception/pill_missed", language=language)
    assert len(replies[0]["buttons"]) == 4
    chat.expect(answer, response, language=language)


def test_a_new_question_instead_of_her_country_is_answered(stack: LocalStack) -> None:
    """She ignores "which country?" and asks something else: nothing is lost."""
    chat = Conversation(stack)
    chat.expect("hola buenas", "utter_greet", language="es")
    chat.expect("el aborto es legal aca?", "utter_pregnancy/abortion_law",
                "utter_health_ask_country", language="es")  # fmt: skip
    chat.expect("como se pone un condon?", "utter_health_services_none",
                "utter_contraception/condom_male", language="es")  # fmt: skip
    assert chat.slot("requested_slot") is None


def test_a_request_for_a_person_instead_of_her_country_is_heard(stack: LocalStack) -> None:
    """States x triggers: inside the health answer's country question, "quiero hablar con
    una persona" asks for a counsellor (not only "none verified")."""
    chat = Conversation(stack)
    chat.expect("hola buenas", "utter_greet", language="es")
    chat.expect("el aborto es legal aca?", "utter_pregnancy/abortion_law",
                "utter_health_ask_country", language="es")  # fmt: skip
    chat.say("quiero hablar con una persona")
    sent = [e["metadata"].get("utter_action") for e in chat.new_bot_events()]
    assert sent[0] == "utter_health_services_none"
    assert sent[1] in {"utter_handoff_queued", "utter_handoff_offline",
                       "utter_handoff_offline_unknown", "utter_handoff_not_here"}, sent  # fmt: skip
