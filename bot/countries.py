"""The programme's countries (Mali, Peru, France) in one place: calling codes, time zones,
default languages, and the words that name them.

Several parts of the assistant need a country: the emergency numbers to show, the time zone
of a counsellor's hours, the language to greet an SMS contact in. A phone number tells it
(``+223`` is Mali); otherwise the assistant asks "Where are you?", and a girl in an emergency
may answer with words rather than the menu's digit: "Pérou", "jsuis a marseill", "n bɛ
Bamakɔ", "soy peruana", "au senegal". :func:`country_named` reads such answers.

The facts and the words live in ``countries.yml``, read once on first use. This module is
import-light (no Rasa, no database, no web stack) so that every layer can use it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.datafiles import load_yaml
from bot.nlu.normalise import edit_distance, typos_allowed, words

COUNTRIES_FILE = Path(__file__).with_name("countries.yml")

PROGRAMME: tuple[str, ...] = ("ML", "PE", "FR")
# The answer "another country": no programme, so no local emergency numbers. A code of two
# letters like the others (ISO 3166 leaves ZZ to users: "unknown or other"); its section of
# the YAML is ``other``.
OTHER = "ZZ"
_OTHER_SECTION = "other"

# What a match says, weakest first. Where she is (a place) beats the country she names,
# which beats where she is from (a demonym): the emergency numbers are those of where she is.
DEMONYM, NAME, PLACE = 1, 2, 3
_LEVELS = {"demonyms": DEMONYM, "names": NAME, "places": PLACE}

# A typo is only forgiven in a long name (bot.nlu.normalise.typos_allowed): short ones are
# too close to ordinary words ("mi pais" is not Paris, "malo" is not Mali, "lion" is not Lyon).
# Words written apart or glued together ("kalabancoura", "djeli bougou") are compared glued,
# only for names at least this long (so "mal i" never becomes Mali).
_GLUED_FROM = 8

# Words after which a place or a demonym is expected (under the matching key): typos are
# forgiven there and at the start of the answer only. French, Spanish, English, Bambara
# ("n bɛ Bamakɔ": I am in Bamako; "ka bɔ": to come from).
_WHERE_WORDS = frozenset(
    {
        *("a", "au", "aux", "en", "dans", "vers", "de", "du", "suis", "sommes", "habite"),
        *("vis", "viens", "pres", "al", "del", "desde", "soy", "somos", "vivo", "cerca"),
        *("in", "at", "from", "im", "am", "be", "bo"),
    }
)

# Words that make the next name where she comes from, not where she is ("soy de Lima pero
# estoy en Chile", "je viens du Mali"): such a name weighs as a demonym.
_FROM_WORDS = frozenset({"de", "du", "d", "desde", "from"})

# Flag emoji are two regional indicator letters: 🇲🇱 is M + L.
_REGIONAL_A = 0x1F1E6


@dataclass(frozen=True)
class Country:
    """One programme country: ``code`` (ISO 3166 alpha-2), ``calling_code`` (E.164 prefix,
    "+223"), ``timezone`` (IANA name) and ``language``, the conversation's language until
    the user chooses one."""

    code: str
    calling_code: str
    timezone: str
    language: str


@dataclass(frozen=True)
class _Form:
    """One written form of a country under the matching key: its words and their glued key."""

    code: str
    level: int
    tokens: tuple[str, ...]

    @property
    def glued(self) -> str:
        return "".join(self.tokens)


@dataclass(frozen=True)
class _Match:
    start: int
    end: int
    code: str
    level: int
    distance: int


@functools.cache
def _data() -> Mapping[str, Any]:
    data = load_yaml(COUNTRIES_FILE)
    if not isinstance(data, dict) or any(
        code not in data for code in (*PROGRAMME, _OTHER_SECTION)
    ):
        raise ValueError(f"{COUNTRIES_FILE}: needs one section for each of ML, PE, FR, other")
    return data


@functools.cache
def countries() -> dict[str, Country]:
    """The programme's countries by code, in programme order (read once from the YAML)."""
    found: dict[str, Country] = {}
    for code in PROGRAMME:
        entry = _data()[code]
        try:
            found[code] = Country(
                code,
                str(entry["calling_code"]),
                str(entry["timezone"]),
                str(entry["language"]),
            )
        except (KeyError, TypeError) as error:
            raise ValueError(
                f"{COUNTRIES_FILE}: {code} needs calling_code, timezone and language"
            ) from error
    return found


def calling_code(code: str | None) -> str | None:
    """``"ML"`` -> ``"+223"``; ``None`` for another country or none."""
    country = countries().get(code or "")
    return country.calling_code if country else None


def country_of_phone(phone: str) -> str | None:
    """The programme country of an E.164 number (``"+22370000000"`` -> ``"ML"``), else
    ``None``. Spaces, dashes and a leading ``00`` are tolerated ("00 51 987 654 321")."""
    digits = "".join(ch for ch in phone.strip() if ch.isdigit() or ch == "+")
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    prefixes = sorted(countries().values(), key=lambda c: -len(c.calling_code))
    return next((c.code for c in prefixes if digits.startswith(c.calling_code)), None)


def zone(code: str | None) -> ZoneInfo | None:
    """The time zone of a programme country; ``None`` for another country or none."""
    country = countries().get(code or "")
    return ZoneInfo(country.timezone) if country else None


def default_language(code: str | None) -> str | None:
    """The language to speak before the user chooses one ("fr" in Mali and France, "es" in
    Peru); ``None`` for another country or none."""
    country = countries().get(code or "")
    return country.language if country else None


def written_forms() -> Iterator[tuple[str, str, str]]:
    """Every entry of the YAML as ``(code, kind, text)``: code is ML, PE, FR or
    :data:`OTHER`, kind is ``names``, ``demonyms`` or ``places``. For checks of the data
    file."""
    for code in (*PROGRAMME, OTHER):
        section = _OTHER_SECTION if code == OTHER else code
        for kind in _LEVELS:
            for text in _data()[section].get(kind) or ():
                yield code, kind, str(text)


@dataclass(frozen=True)
class _Index:
    """The written forms arranged for lookup: by first word, and glued by first letter."""

    by_first_word: Mapping[str, tuple[_Form, ...]]
    words_by_initial: Mapping[str, tuple[str, ...]]
    glued_by_initial: Mapping[str, tuple[_Form, ...]]
    ordinary: frozenset[str]
    longest: int


@functools.cache
def _index() -> _Index:
    forms = [
        _Form(code, _LEVELS[kind], tuple(words(text)))
        for code, kind, text in written_forms()
        if words(text)
    ]
    by_first_word: dict[str, list[_Form]] = {}
    words_by_initial: dict[str, set[str]] = {}
    glued_by_initial: dict[str, list[_Form]] = {}
    for form in forms:
        by_first_word.setdefault(form.tokens[0], []).append(form)
        for word in form.tokens:
            words_by_initial.setdefault(word[0], set()).add(word)
        if len(form.glued) >= _GLUED_FROM:
            glued_by_initial.setdefault(form.glued[0], []).append(form)
    ordinary = frozenset(
        w for text in _data().get("ordinary_words") or () for w in words(str(text))
    )
    return _Index(
        {w: tuple(f) for w, f in by_first_word.items()},
        {c: tuple(sorted(w)) for c, w in words_by_initial.items()},
        {c: tuple(f) for c, f in glued_by_initial.items()},
        ordinary,
        max(len(form.tokens) for form in forms),
    )


def _squeezed(word: str) -> str:
    """``"maliii"`` -> ``"mali"``: letters held down count once ("marseile" = "marseille")."""
    return "".join(ch for n, ch in enumerate(word) if n == 0 or ch != word[n - 1])


def _typos(typed: str, name: str, most: int = 2) -> int | None:
    """How far what she typed is from a name (or a name's word): 0 when equal, 1 when she
    held a letter down ("maliii"), else its typos within the name's allowance (and ``most``)
    with the first letter kept; ``None`` when it is not that name."""
    if typed == name:
        return 0
    if len(typed) > len(name) and _squeezed(typed) == _squeezed(name):
        return 1
    limit = min(typos_allowed(name), most)
    if not limit or typed[0] != name[0]:
        return None
    distance = edit_distance(typed, name, limit)
    return distance if distance <= limit else None


@functools.lru_cache(maxsize=4096)
def _near(typed: str) -> dict[str, int]:
    """The names' words a typed word may be, with its distance to each."""
    index = _index()
    if typed in index.ordinary:
        return {typed: 0} if typed in index.words_by_initial.get(typed[0], ()) else {}
    found = {}
    for word in index.words_by_initial.get(typed[0], ()):
        distance = _typos(typed, word)
        if distance is not None:
            found[word] = distance
    return found


def _matches(tokens: list[str]) -> list[_Match]:
    index = _index()
    near = [_near(token) for token in tokens]
    found: list[_Match] = []
    # Word by word: the same number of words, each the name's word or a typo of it.
    for start in range(len(tokens)):
        for word, first in near[start].items():
            for form in index.by_first_word.get(word, ()):
                end = start + len(form.tokens)
                if end > len(tokens):
                    continue
                rest = [near[start + n].get(w) for n, w in enumerate(form.tokens[1:], 1)]
                if None not in rest:
                    total = first + sum(d for d in rest if d is not None)
                    found.append(_Match(start, end, form.code, form.level, total))
    # Glued: long names written apart or together ("djeli bougou", "kalabancoura").
    for start in range(len(tokens)):
        for end in range(start + 1, min(len(tokens), start + index.longest + 1) + 1):
            if end == start + 1 and tokens[start] in index.ordinary:
                continue
            glued = "".join(tokens[start:end])
            for form in index.glued_by_initial.get(glued[0], ()):
                size = end - start
                if size == len(form.tokens) == 1 or abs(len(glued) - len(form.glued)) > 2:
                    continue
                # One typo, in as many words as the name has: "chica yo" is not Chiclayo.
                distance = _typos(glued, form.glued, most=int(size == len(form.tokens)))
                if distance is not None:
                    found.append(_Match(start, end, form.code, form.level, distance))
    # A typo is forgiven only where a place is expected: first in the answer or after a
    # word such as "à", "en", "suis", "soy", "bɛ" ("mes amies" is not Amiens).
    found = [
        m for m in found if not m.distance or m.start == 0 or tokens[m.start - 1] in _WHERE_WORDS
    ]
    # A word read exactly is not also read as a typo of something else ("montreal" is
    # Montréal, not a misspelt Montreuil): among overlapping matches the closest win.
    return [
        m
        for m in found
        if not any(o.distance < m.distance and o.start < m.end and m.start < o.end for o in found)
    ]


def _flags(text: str) -> list[str]:
    """The countries of the flag emoji in ``text`` (🇵🇪 -> "PE", 🇸🇳 -> OTHER)."""
    letters = [
        chr(ord(ch) - _REGIONAL_A + ord("A")) if 0 <= ord(ch) - _REGIONAL_A < 26 else " "
        for ch in text
    ]
    codes: list[str] = []
    for run in "".join(letters).split():
        for n in range(0, len(run) - 1, 2):
            pair = run[n : n + 2]
            codes.append(pair if pair in PROGRAMME else OTHER)
    return codes


def country_named(text: str) -> str | None:
    """The country a free-text answer to "Where are you?" names: "ML", "PE", "FR",
    :data:`OTHER`, or ``None`` when it names none or two at the same level.

    Names match as whole words of the matching key (case, accents, ɛ/ɔ, SMS spellings
    folded), multi-word names as consecutive words. A long name forgives a typo (two from
    nine letters) at the start of the answer or after "à", "en", "soy"...; a short one must
    be exact. A place beats a country's name, which beats a demonym or a name after "de":
    "je suis malienne mais j'habite à Lyon" is France, where she is now.

    >>> country_named("jsuis a marseill"), country_named("soy peruana"), country_named("lion")
    ('FR', 'PE', None)
    """
    levels: dict[int, set[str]] = {}
    for code in _flags(text):
        levels.setdefault(NAME, set()).add(code)
    tokens = words(text)
    for match in _matches(tokens) if tokens else ():
        origin = match.start > 0 and tokens[match.start - 1] in _FROM_WORDS
        levels.setdefault(DEMONYM if origin else match.level, set()).add(match.code)
    if not levels:
        return None
    codes = levels[max(levels)]
    return next(iter(codes)) if len(codes) == 1 else None
