"""Whole dialogues through the running stack: REST channel, Rasa server, action server.

Assertions are on behaviour: which response was sent (``utter_action`` in the stored
conversation), in which language (the text equals the catalog's text in that language),
which slots are set. No French wording is written here.
"""

from __future__ import annotations

import pytest

from bot import LANGUAGES
from bot.evaluation import TARGET, language_report, load_heldout
from bot.i18n import Translator
from bot.launcher import LocalStack, http_json
from bot.menu import MENUS
from tests.support.conversation import GREETINGS, Conversation

pytestmark = pytest.mark.stack


def open_booking(chat: Conversation, text: str, language: str) -> None:
    """Menu 2 opens the booking: its list of sessions, or "none for now" when the stack has
    none (the booking tests may have imported some); "menu" leaves it."""
    chat.say(text)
    sent = [e["metadata"].get("utter_action") for e in chat.new_bot_events()]
    assert sent in (["utter_booking_none"], ["utter_booking_list"]), sent
    if sent == ["utter_booking_list"]:
        chat.expect("menu", "utter_help", language=language)


def main_menu_titles(language: str) -> list[str]:
    translate = Translator(language)
    return [translate(option.label) for option in MENUS["main"]]


@pytest.mark.parametrize("language", LANGUAGES)
def test_greeting_sets_language_and_shows_the_numbered_menu(
    stack: LocalStack, language: str
) -> None:
    chat = Conversation(stack)
    replies = chat.expect(GREETINGS[language], "utter_greet", language=language)
    assert [b["title"] for b in replies[0]["buttons"]] == main_menu_titles(language)
    assert chat.slot("language") == language
    assert chat.slot("menu") == "main"


@pytest.mark.parametrize("language", LANGUAGES)
def test_menu_numbers_thanks_and_goodbye(stack: LocalStack, language: str) -> None:
    chat = Conversation(stack)
    chat.expect(GREETINGS[language], "utter_greet", language=language)
    chat.expect("1", "utter_health_menu", language=language)
    chat.expect(GREETINGS[language], "utter_greet", language=language)
    open_booking(chat, "2", language)
    chat.expect(GREETINGS[language], "utter_greet", language=language)
    chat.expect("3", "utter_handoff_not_here", language=language)  # REST cannot relay
    thanks = {"fr": "merci beaucoup", "es": "muchas gracias por todo", "bm": "a ni ce kosɛbɛ"}
    chat.expect(thanks[language], "utter_thank", language=language)
    byes = {"fr": "au revoir a demain", "es": "chau nos vemos", "bm": "k'an bɛn sini"}
    chat.expect(byes[language], "utter_goodbye", language=language)
    assert chat.slot("language") == language


def test_a_number_out_of_range_explains_and_keeps_the_menu(stack: LocalStack) -> None:
    chat = Conversation(stack)
    chat.expect("hola", "utter_greet", language="es")
    replies = chat.expect("9", "utter_option_invalid", language="es")
    assert replies[0]["text"] == Translator("es")("option_invalid", count=len(MENUS["main"]))
    assert len(replies[0]["buttons"]) == len(MENUS["main"])
    open_booking(chat, "2", "es")


def test_language_menu_switches_by_number(stack: LocalStack) -> None:
    chat = Conversation(stack)
    chat.expect("bonjour", "utter_greet", language="fr")
    replies = chat.expect("4", "utter_language_menu", language="fr")
    assert [b["title"] for b in replies[0]["buttons"]] == ["Français", "Español", "Bamanankan"]
    chat.expect("3", "utter_language_changed", language="bm")
    assert chat.slot("language") == "bm"
    # A French greeting alone does not flip a chosen language back.
    chat.expect("salut", "utter_greet", language="bm")


def test_the_language_menu_reads_words_and_asks_again_what_it_cannot_place(
    stack: LocalStack,
) -> None:
    """Never the general fallback for an answer to a question: the same menu again."""
    chat = Conversation(stack)
    chat.expect("bonjour", "utter_greet", language="fr")
    chat.expect("4", "utter_language_menu", language="fr")
    replies = chat.expect("gloubi boulga", "utter_fallback", language="fr")
    assert [b["title"] for b in replies[0]["buttons"]] == ["Français", "Español", "Bamanankan"]
    chat.expect("espagnol", "utter_language_changed", language="es")
    assert chat.slot("language") == "es"


def test_a_button_press_names_its_menu(stack: LocalStack) -> None:
    """An old keyboard pressed later still means what it showed."""
    chat = Conversation(stack)
    chat.expect("i ni ce", "utter_greet", language="bm")
    chat.expect('/choose_option{"menu": "language", "option": "2"}',
                "utter_language_changed", language="es")
    assert chat.slot("language") == "es"


@pytest.mark.parametrize(
    ("request_text", "language"),
    [("en francais stp", "fr"), ("quiero hablar en español porfa", "es"), ("bamanankan", "bm")],
)
def test_asking_for_a_language_switches_at_once(
    stack: LocalStack, request_text: str, language: str
) -> None:
    chat = Conversation(stack)
    start = "es" if language != "es" else "fr"
    chat.expect(GREETINGS[start], "utter_greet", language=start)
    chat.expect(request_text, "utter_language_changed", language=language)
    assert chat.slot("language") == language


def test_short_ambiguous_messages_never_flip_the_language(stack: LocalStack) -> None:
    chat = Conversation(stack)
    chat.expect("i ni ce", "utter_greet", language="bm")
    for text in ("ok", "👍", "1", "si"):
        replies = chat.say(text)
        assert replies
        assert chat.slot("language") == "bm", text


def test_writing_in_another_language_for_a_while_switches(stack: LocalStack) -> None:
    chat = Conversation(stack)
    chat.expect("bonjour", "utter_greet", language="fr")
    chat.expect("hola buenas tardes", "utter_greet", language="fr")  # one is not enough
    chat.expect("muchas gracias amiga", "utter_thank", language="es")
    assert chat.slot("language") == "es"


def test_out_of_scope_and_fallback_rephrase_the_menu(stack: LocalStack) -> None:
    chat = Conversation(stack)
    chat.expect("hola", "utter_greet", language="es")
    replies = chat.say("quien gano el partido de futbol ayer")
    events = chat.new_bot_events()
    assert events[0]["metadata"]["utter_action"] == "utter_out_of_scope"
    assert [b["title"] for b in replies[0]["buttons"]] == main_menu_titles("es")
    replies = chat.say("zzkq vvbrt plof")
    events = chat.new_bot_events()
    assert events[0]["metadata"]["utter_action"] == "utter_fallback"
    assert [b["title"] for b in replies[0]["buttons"]] == main_menu_titles("es")


def test_questions_about_the_service(stack: LocalStack) -> None:
    chat = Conversation(stack)
    chat.expect("bonjour", "utter_greet", language="fr")
    chat.expect("c confidentiel ce que j'ecris ?", "utter_about/privacy", language="fr")
    chat.expect("t un robot ou une vraie personne", "utter_about/bot", language="fr")


@pytest.mark.parametrize("text", ["", " ", "😀😀😀", "?" * 50, "blabla " * 2000])
def test_bad_input_gets_an_answer_and_keeps_the_language(stack: LocalStack, text: str) -> None:
    chat = Conversation(stack)
    chat.expect("hola", "utter_greet", language="es")
    replies = chat.say(text)
    assert replies, "every message gets an answer"
    assert all(r.get("text") for r in replies)
    assert chat.slot("language") == "es"


def test_language_survives_a_new_session(stack: LocalStack) -> None:
    chat = Conversation(stack)
    chat.expect("i ni ce", "utter_greet", language="bm")
    url = f"{stack.settings.rasa_url}/conversations/{chat.sender}/execute"
    http_json("POST", url, {"name": "action_session_start"})
    events = chat.tracker()["events"]
    assert [e["event"] for e in events].count("session_started") == 2
    assert chat.slot("language") == "bm"
    assert chat.slot("menu") is None
    chat.expect("1", "utter_help", language="bm")  # no menu open any more: menu again


def test_parse_result_carries_the_language(stack: LocalStack) -> None:
    for language, text in GREETINGS.items():
        result = stack.parse(text)
        assert result["intent"]["name"] == "greet"
        assert result["language"] == language
        assert 0.0 <= result["language_confidence"] <= 1.0


def test_language_detection_on_the_heldout_set(stack: LocalStack) -> None:
    """The figure `make eval-language` reports, through POST /model/parse."""
    report = language_report(lambda text: stack.parse(text)["language"], load_heldout())
    assert all(report.accuracy[lang] >= TARGET for lang in LANGUAGES), "\n".join(report.lines())
