"""Numbered menus that work on any phone and in any language.

A menu is a list of options; the user answers with a digit ("2"), a number word ("deux",
"dos", "fila"), a button (Telegram, REST clients) or by writing what she wants. Which menu
a bare number refers to is the ``menu`` slot, set whenever a menu is shown, so that "2"
means "workshops" after the main menu and "Español" after the language menu.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.i18n import N_
from bot.i18n.language import CANDIDATE_SLOT, LANGUAGE_SLOT, STREAK_SLOT
from bot.nlu.normalise import words

MENU_SLOT = "menu"
COUNTRY_SLOT = "country"
CHOOSE_INTENT = "choose_option"


@dataclass(frozen=True)
class Option:
    """One numbered choice: its label (a catalog key), then what choosing it does: send a
    ``response``, open the menu ``opens``, or run the action-side ``handler`` (by name, see
    ``actions.menu.HANDLERS``); and the slots it sets."""

    label: str
    response: str | None = None
    opens: str | None = None
    handler: str | None = None
    slots: Mapping[str, Any] = field(default_factory=dict)


def _language(label: str, code: str) -> Option:
    return Option(
        label,
        response="utter_language_changed",
        slots={LANGUAGE_SLOT: code, CANDIDATE_SLOT: None, STREAK_SLOT: 0.0},
    )


def _country(label: str, code: str) -> Option:
    return Option(label, handler="emergency_numbers", slots={COUNTRY_SLOT: code})


# What each menu shows above its options (a response name).
INTROS: dict[str, str] = {
    "main": "utter_help",
    "language": "utter_language_menu",
    "country": "utter_emergency_ask_country",
    "not_understood": "utter_fallback_counsellor",
}

MENUS: dict[str, tuple[Option, ...]] = {
    "main": (
        Option(N_("menu.health"), response="utter_health_menu"),
        Option(N_("menu.workshops"), handler="booking"),
        Option(N_("menu.counsellor"), handler="counsellor"),
        Option(N_("menu.language"), opens="language"),
    ),
    "language": (
        _language(N_("language.fr"), "fr"),
        _language(N_("language.es"), "es"),
        _language(N_("language.bm"), "bm"),
    ),
    # Asked once, in an emergency, when the channel did not tell the country.
    "country": (
        _country(N_("country.ml"), "ML"),
        _country(N_("country.pe"), "PE"),
        _country(N_("country.fr"), "FR"),
    ),
    # After the second message in a row the assistant did not understand (issue 5).
    "not_understood": (
        Option(N_("menu.counsellor"), handler="counsellor_not_understood"),
        Option(N_("menu.health"), response="utter_health_menu"),
        Option(N_("menu.language"), opens="language"),
    ),
}

# Number words in the three languages, normalised ("fɔlɔ" -> "folo").
NUMBER_WORDS: dict[str, int] = {
    **dict.fromkeys(["un", "une", "premier", "premiere", "uno", "una", "primero", "primera",
                     "kelen", "folo"], 1),
    **dict.fromkeys(["deux", "deuxieme", "second", "seconde", "dos", "segundo", "segunda",
                     "fila", "filanan"], 2),
    **dict.fromkeys(["trois", "troisieme", "tres", "tercero", "tercera", "saba", "sabanan"], 3),
    **dict.fromkeys(["quatre", "quatrieme", "cuatro", "cuarto", "cuarta", "naani",
                     "naaninan"], 4),
    **dict.fromkeys(["cinq", "cinquieme", "cinco", "quinto", "quinta", "duuru", "duurunan"], 5),
}
_DIGITS = re.compile(r"^\d{1,2}$")


def chosen_number(text: str) -> int | None:
    """The one number a reply names ("2", "le 2 stp", "dos", "a filanan"), else ``None``."""
    found = {int(w) for w in words(text) if _DIGITS.match(w)}
    if not found:
        found = {NUMBER_WORDS[w] for w in words(text) if w in NUMBER_WORDS}
    return found.pop() if len(found) == 1 else None


def resolve(menu: str | None, number: int | None) -> Option | None:
    """The option ``number`` (1-based) of ``menu``, or ``None`` when there is none."""
    options = MENUS.get(menu or "", ())
    if number is None or not 1 <= number <= len(options):
        return None
    return options[number - 1]


def _payload(menu: str, number: int) -> str:
    return f"/{CHOOSE_INTENT}" + json.dumps({"menu": menu, "option": str(number)})


def option_payload(menu: str, label: str) -> str:
    """The payload choosing the option labelled ``label`` (a Telegram command's target)."""
    return _payload(menu, next(n for n, o in enumerate(MENUS[menu], 1) if o.label == label))


def buttons(menu: str, translate: Callable[[str], str]) -> list[dict[str, str]]:
    """The menu as buttons: rendered titles, payloads that name the menu and the number, so
    an old Telegram keyboard pressed later still means what it showed."""
    return [
        {"title": translate(option.label), "payload": _payload(menu, number)}
        for number, option in enumerate(MENUS[menu], start=1)
    ]
