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
    assert menu.resolve("main", 5) is None
    assert menu.resolve(None, 1) is None
    assert menu.resolve("main", None) is None


def test_buttons_carry_menu_and_number() -> None:
    buttons = menu.buttons("language", lambda key: key.upper())
    assert [b["title"] for b in buttons] == ["LANGUAGE.FR", "LANGUAGE.ES", "LANGUAGE.BM"]
    intent, _, entities = buttons[1]["payload"].partition("{")
    assert intent == "/choose_option"
    assert json.loads("{" + entities) == {"menu": "language", "option": "2"}


def test_main_menu_is_the_four_documented_choices() -> None:
    labels = [o.label for o in menu.MENUS["main"]]
    assert labels == ["menu.health", "menu.workshops", "menu.counsellor", "menu.language"]
