"""Numbered menus and questions that work on any phone and in any language.

A menu is a list of options; the user answers with a digit ("2"), a number word ("deux",
"dos", "fila"), a button (Telegram, REST clients) or in words: an option's own words in any
of the three languages, without accents, with a small typo ("espagnol", "bamanan",
"ateliers", "hablar"), and for the country question a country, a city or a sentence
(:func:`bot.countries.country_named`). Which menu a bare number refers to is the ``menu``
slot, set whenever a menu is shown, so that "2" means "workshops" after the main menu and
"Español" after the language menu. Yes/no questions read "oui", "si", "awɔ", "non"...
(:func:`yes_no`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.countries import OTHER, country_named
from bot.i18n import N_
from bot.i18n.language import CANDIDATE_SLOT, LANGUAGE_NAMES, LANGUAGE_SLOT, STREAK_SLOT
from bot.nlu.normalise import near, words

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


# The country question of an emergency (asked in a form, or by the relay during a handoff).
ASK_COUNTRY = N_("emergency.ask_country")
ASK_COUNTRY_AGAIN = N_("emergency.ask_country_again")  # an answer it could not place


# What each menu shows above its options (a response name).
INTROS: dict[str, str] = {
    "main": "utter_help",
    "language": "utter_language_menu",
    "country": "utter_emergency_ask_country",
    "not_understood": "utter_fallback_counsellor",
    "pill_type": "utter_contraception/pill_missed",
}

MENUS: dict[str, tuple[Option, ...]] = {
    "main": (
        Option(N_("menu.health"), response="utter_health_menu"),
        Option(N_("menu.workshops"), handler="booking"),
        Option(N_("menu.counsellor"), handler="counsellor"),
        Option(N_("menu.language"), opens="language"),
        Option(N_("menu.privacy"), handler="forget_me"),
    ),
    "language": (
        _language(N_("language.fr"), "fr"),
        _language(N_("language.es"), "es"),
        _language(N_("language.bm"), "bm"),
    ),
    # Asked once, in an emergency, when the channel did not tell the country. "Another
    # country" gets where to go now: nobody is kept on a question she cannot answer.
    "country": (
        _country(N_("country.ml"), "ML"),
        _country(N_("country.pe"), "PE"),
        _country(N_("country.fr"), "FR"),
        _country(N_("country.other"), OTHER),
    ),
    # A missed pill: the rule depends on the pill (WHO Handbook), so she is asked which.
    "pill_type": (
        Option(N_("pill.combined"), response="utter_pill_missed_combined"),
        Option(N_("pill.low_dose"), response="utter_pill_missed_low_dose"),
        Option(N_("pill.progestin"), response="utter_pill_missed_progestin"),
        Option(N_("pill.unknown"), response="utter_pill_missed_unknown"),
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
    **dict.fromkeys(
        ["un", "une", "premier", "premiere", "uno", "una", "primero", "primera", "kelen", "folo"], 1
    ),
    **dict.fromkeys(
        ["deux", "deuxieme", "second", "seconde", "dos", "segundo", "segunda", "fila", "filanan"], 2
    ),
    **dict.fromkeys(["trois", "troisieme", "tres", "tercero", "tercera", "saba", "sabanan"], 3),
    **dict.fromkeys(["quatre", "quatrieme", "cuatro", "cuarto", "cuarta", "naani", "naaninan"], 4),
    **dict.fromkeys(["cinq", "cinquieme", "cinco", "quinto", "quinta", "duuru", "duurunan"], 5),
}
_DIGITS = re.compile(r"^\d{1,2}$")
_ARTICLES = frozenset({"un", "une", "uno", "una"})

# An option's own words, normalised, in the three languages (its label's words count too).
_HEALTH = "sante salud keneya question questions pregunta preguntas nyininkali"
_WORKSHOPS = "atelier ateliers taller talleres kalan"
_PERSON = "parler personne conseillere hablar persona consejera kuma mogo"
_LANGUAGE = "langue langues idioma idiomas lengua kan"
_PRIVACY = "donnees effacer datos borrar kunnafoniw josi"
OPTION_WORDS: dict[str, tuple[str, ...]] = {
    "main": (_HEALTH, _WORKSHOPS, _PERSON, _LANGUAGE, _PRIVACY),
    "language": tuple(
        " ".join(n for n, c in LANGUAGE_NAMES.items() if c == code) for code in ("fr", "es", "bm")
    ),
    "not_understood": (_PERSON, _HEALTH, _LANGUAGE),
    "pill_type": (
        "combinee combinada combined normale normal classique clasica",
        "faible baja dosis dose minidosee",
        "oestrogene estrogeno progestative progestageno allaitement lactancia pecho sin "
        "desogestrel micropilule minipildora sin di",
        "sais sabe se sé dn don idee",
    ),
}
# Doses in micrograms written on a pill's box, and the option of the pill_type menu each names.
_PILL_DOSES = {"15": 2, "20": 2, "30": 1, "35": 1}
MAX_ANSWER_WORDS = 6  # longer is a question or a story, not an answer to a menu

YES = frozenset({"oui", "ouii", "ouai", "ouais", "wi", "ui", "ok", "okay", "oki", "dac", "dacc",
                 "daccord", "accord", "volontiers", "yes", "yep", "si", "sii", "sip", "claro",
                 "vale", "dale", "confirme", "confirmo", "confirmer", "awo", "owo", "ayiwa",
                 "sonna", "nsonna"})  # fmt: skip
NO = frozenset({"non", "nan", "nn", "no", "nop", "nope", "ayi", "ayii", "pas", "jamais",
                "nunca"})  # fmt: skip


def chosen_number(text: str) -> int | None:
    """The one number a reply names ("2", "le 2 stp", "dos", "a filanan"), else ``None``.
    A number word counts only in a short reply: "t un robot ou une vraie personne" is a
    question, not option 1."""
    typed = words(text)
    found = {int(w) for w in typed if _DIGITS.match(w)}
    if not found and len(typed) <= MAX_ANSWER_WORDS:
        found = {NUMBER_WORDS[w] for w in typed if w in NUMBER_WORDS}
        # "un", "una" are also articles: "como se pone un condon" names no option, but
        # "un ou deux" stays two numbers (no choice).
        if found == {1} and len(typed) > 2 and all(
            w in _ARTICLES for w in typed if w in NUMBER_WORDS
        ):
            found = set()
    return found.pop() if len(found) == 1 else None


def chosen_option(menu: str, text: str) -> int | None:
    """The option (1-based) a short written answer to ``menu`` names: its number, or the
    words of exactly one option (a typo allowed in long words); else ``None``."""
    if menu == "pill_type":  # "la 20", "30 microgrammes": the dose names the pill
        doses = {_PILL_DOSES[w] for w in words(text) if w in _PILL_DOSES}
        if len(doses) == 1:
            return doses.pop()
    number = chosen_number(text)
    if number is not None:
        return number
    if menu == "country":
        code = country_named(text)
        codes = [o.slots.get(COUNTRY_SLOT) for o in MENUS["country"]]
        return codes.index(code) + 1 if code in codes else None
    typed = words(text)
    if not typed or len(typed) > MAX_ANSWER_WORDS:
        return None
    found = {
        n
        for n, option_words in enumerate(OPTION_WORDS.get(menu, ()), start=1)
        if any(near(word, option_words.split()) for word in typed)
    }
    return found.pop() if len(found) == 1 else None


def country_answer(text: str) -> str | None:
    """The country code an answer to the country question gives (ML, PE, FR, ``other``):
    "2", "deux", "Pérou", "je suis à Lyon", "n bɛ Segu"; ``None`` when it gives none."""
    number = chosen_option("country", text)
    option = resolve("country", number)
    return option.slots.get(COUNTRY_SLOT) if option else None


def country_choices(translate: Callable[[str], str]) -> list[tuple[str, str]]:
    """The country question's buttons: (title, payload), the payload the option's number,
    so that an SMS digit, a Telegram button and a written answer all read the same."""
    return [(translate(o.label), str(n)) for n, o in enumerate(MENUS["country"], start=1)]


def yes_no(reply: str) -> bool | None:
    """True for yes (or 1), False for no (or 2), None when it is neither ("oui", "sii",
    "claro", "awɔ", "d'accord"; "non merci", "ayi")."""
    tokens = set(words(reply))
    number = chosen_number(reply)
    if tokens & YES or number == 1:
        return not tokens & NO or number == 1
    if tokens & NO or number == 2:
        return False
    return None


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
