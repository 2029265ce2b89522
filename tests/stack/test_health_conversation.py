"""Health answers and emergencies through the running stack, in each language."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from bot import LANGUAGES
from bot.i18n import Translator
from bot.launcher import LocalStack
from bot.safety import load_numbers, numbers_for
from bot.safety.models import SafetyAlert
from tests.support.conversation import GREETINGS, RESPONSE_KEYS, Conversation

pytestmark = pytest.mark.stack

QUESTIONS = {
    "fr": {
        "contraception": "comment on prend la pilule ? tous les jours ?",
        "pregnancy": "comment savoir si je suis enceinte",
        "addiction": "je fume trop de cigarettes comment arreter",
    },
    "es": {
        "contraception": "se me olvido tomar la pastilla ayer que hago",
        "pregnancy": "como se si estoy embarazada",
        "addiction": "tomo mucho trago los fines de semana es malo?",
    },
    "bm": {
        "contraception": "n ɲinana n ka pilule kɔ kunun, n ka kan ka mun kɛ",
        "pregnancy": "n bɛ se ka a dɔn cogo di ko n kɔnɔma don",
        "addiction": "n bɛ sigarɛti min kosɛbɛ, n bɛ se k'a dabila cogo di",
    },
}
EMERGENCIES = {
    "fr": ("je veux me suicider ce soir", "suicide"),
    "es": ("mi padrastro me pega todos los dias", "violence"),
    "bm": ("n b'a fɛ ka n yɛrɛ faga", "suicide"),
}


def _answer_key(chat: Conversation, text: str, language: str) -> str:
    """Say ``text``; the answer's response name, checked to be in ``language`` (an answer
    whose part depends on her country is followed by the country question, asked once)."""
    replies = chat.say(text)
    events = chat.new_bot_events()
    assert len(events) == len(replies), (text, [e["metadata"] for e in events])
    asked = [e["metadata"]["utter_action"] for e in events[1:]]
    assert asked in ([], ["utter_health_ask_country"]), (text, asked)
    response = events[0]["metadata"]["utter_action"]
    assert replies[0]["text"] == Translator(language)(RESPONSE_KEYS[response]), (text, language)
    return response


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("topic", ["contraception", "pregnancy", "addiction"])
def test_a_question_in_each_topic_gets_an_answer_in_its_language(
    stack: LocalStack, language: str, topic: str
) -> None:
    chat = Conversation(stack)
    chat.expect(GREETINGS[language], "utter_greet", language=language)
    response = _answer_key(chat, QUESTIONS[language][topic], language)
    assert response.startswith(f"utter_{topic}/"), response


def test_more_gives_the_second_part_then_nothing_more(stack: LocalStack) -> None:
    chat = Conversation(stack)
    chat.expect("bonjour", "utter_greet", language="fr")
    response = _answer_key(chat, QUESTIONS["fr"]["contraception"], "fr")
    assert chat.slot("more_key") == response
    replies = chat.say("plus")
    key = RESPONSE_KEYS[response] + ".more"
    assert replies[0]["text"] == Translator("fr")(key)
    chat.new_bot_events()
    chat.expect("plus", "utter_more_none", language="fr")


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_emergency_gets_the_countrys_verified_numbers(stack: LocalStack, language: str) -> None:
    text, category = EMERGENCIES[language]
    # Her country in words or with its number, as people answer.
    country_choice = {"fr": ("je suis a lyon", "FR"), "es": ("2", "PE"),
                      "bm": ("n bɛ Bamakɔ", "ML")}[language]  # fmt: skip
    chat = Conversation(stack)
    chat.expect(GREETINGS[language], "utter_greet", language=language)
    replies = chat.expect(
        text, f"utter_emergency_{category}", "utter_emergency_ask_country", language=language
    )
    assert len(replies[1]["buttons"]) == 4  # Mali, Peru, France, another country
    assert chat.slot("handoff_priority") is True
    number, country = country_choice
    verified = numbers_for(country, category)
    expected = "utter_emergency_numbers" if verified else "utter_emergency_go_now"
    replies = chat.expect(number, expected, language=language)
    unverified = [n.number for n in load_numbers()[country] if not n.verified]
    for n in verified:
        assert n.number in replies[0]["text"]
    for shown in unverified:
        assert shown not in replies[0]["text"]
    assert chat.slot("country") == country


def test_the_safety_check_wins_over_the_classifier(stack: LocalStack) -> None:
    result = stack.parse("jsuis enceinte et je saigne bcp depuis ce matin")
    assert result["intent"]["name"] == "emergency"
    assert result["safety"]["category"] == "obstetric"
    assert stack.parse("c quoi la pilule du lendemain").get("safety") is None


def test_an_emergency_is_recorded_without_its_text(stack: LocalStack) -> None:
    chat = Conversation(stack)
    chat.say("je veux mourir")
    engine = create_engine(f"sqlite:///{stack.settings.var_dir / 'app.db'}", future=True)
    with Session(engine, future=True) as session:
        alerts = session.scalars(
            select(SafetyAlert).where(SafetyAlert.conversation_id == chat.sender)
        ).all()
    assert [a.category for a in alerts] == ["suicide"]
    log = (stack.settings.var_dir / "log" / "actions.log").read_text(encoding="utf-8")
    assert "mourir" not in log
    assert chat.sender not in log
