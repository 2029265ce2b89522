"""Numbered menus: numbers in any language, buttons that name their menu."""

import json

import pytest

from bot import menu


@pytest.mark.parametrize(
    ("reply", "number"),
    [
        ("2", 2),
        (" 3. ", 3),
        ("le 2 stp", 2),
        ("numero 4", 4),
        ("deux", 2),
        ("dos", 2),
        ("tres porfa", 3),
        ("fila", 2),
        ("a filanan", 2),
        ("naani", 4),
        ("t un robot ou une vraie personne", None),  # a question, not option 1
        ("como se pone un condon?", None),  # "un" is an article: not Mali, option 1
        ("la una", 1),
        ("un ou deux", None),
        ("#1", 1),
        ("1 ou 2", None),
        ("rien", None),
        ("", None),
    ],
)
def test_chosen_number(reply: str, number: int | None) -> None:
    assert menu.chosen_number(reply) == number


def test_resolve_in_and_out_of_range() -> None:
    assert menu.resolve("main", 4).opens == "language"
    assert menu.resolve("language", 3).slots["language"] == "bm"
    assert menu.resolve("main", 0) is None
    assert menu.resolve("main", 5).handler == "forget_me"
    assert menu.resolve("main", 6) is None
    assert menu.resolve(None, 1) is None
    assert menu.resolve("main", None) is None


def test_buttons_carry_menu_and_number() -> None:
    buttons = menu.buttons("language", lambda key: key.upper())
    assert [b["title"] for b in buttons] == ["LANGUAGE.FR", "LANGUAGE.ES", "LANGUAGE.BM"]
    intent, _, entities = buttons[1]["payload"].partition("{")
    assert intent == "/choose_option"
    assert json.loads("{" + entities) == {"menu": "language", "option": "2"}


def test_main_menu_is_the_five_documented_choices() -> None:
    labels = [o.label for o in menu.MENUS["main"]]
    assert labels == ["menu.health", "menu.workshops", "menu.counsellor", "menu.language",
                      "menu.privacy"]


@pytest.mark.parametrize(
    ("name", "reply", "number"),
    [
        ("language", "espagnol", 2), ("language", "en español porfa", 2),
        ("language", "Bamanankan", 3), ("language", "bamannkan", 3), ("language", "FRANCAIS", 1),
        ("language", "el segundo", 2), ("language", "anglais", None),
        ("main", "ateliers", 2), ("main", "talleres", 2), ("main", "santé", 1),
        ("main", "hablar con alguien", 3), ("main", "kuma", 3), ("main", "idioma", 4),
        ("main", "je sais pas quoi dire sur tout ca moi vraiment", None),
        ("main", "atelier ou parler", None),  # two options: not an answer
        ("not_understood", "parler", 1), ("not_understood", "langue", 3),
        ("country", "Perú", 2), ("country", "je suis a Lyon", 3), ("country", "n be Segu", 1),
        ("country", "vivo en Cusco", 2), ("country", "au Senegal", 4), ("country", "4", 4),
        ("country", "je sais pas", None),
    ],
)  # fmt: skip
def test_a_written_answer_names_an_option(name: str, reply: str, number: int | None) -> None:
    """Every question the assistant asks understands words as well as digits, in three
    languages, without accents, with a typo in a long word."""
    assert menu.chosen_option(name, reply) == number


@pytest.mark.parametrize(
    ("reply", "country"),
    [("2", "PE"), ("deux", "PE"), ("Pérou", "PE"), ("PERU", "PE"), ("soy peruana", "PE"),
     ("jsuis a marseill", "FR"), ("à Lyon", "FR"), ("Ségou", "ML"), ("n bɛ Bamakɔ", "ML"),
     ("Mali", "ML"), ("Autre pays", "ZZ"), ("otro país", "ZZ"), ("Dakar", "ZZ"),
     ("ou", None), ("", None), ("😭", None)],
)  # fmt: skip
def test_the_country_question_reads_digits_and_words(reply: str, country: str | None) -> None:
    assert menu.country_answer(reply) == country


def test_the_country_question_offers_another_country() -> None:
    choices = menu.country_choices(lambda key: key)
    assert choices == [("country.ml", "1"), ("country.pe", "2"), ("country.fr", "3"),
                       ("country.other", "4")]  # fmt: skip


@pytest.mark.parametrize(
    ("reply", "answer"),
    [("oui", True), ("ouii", True), ("d'accord", True), ("wi", True), ("Sí", True),
     ("claro", True), ("dale", True), ("awɔ", True), ("ɔwɔ", True), ("1", True),
     ("non merci", False), ("nan", False), ("nop", False), ("ayi", False), ("2", False),
     ("peut-être", None), ("", None)],
)  # fmt: skip
def test_yes_and_no_as_people_write_them(reply: str, answer: bool | None) -> None:
    assert menu.yes_no(reply) is answer
