"""Countries: facts by code and phone number, and the country a written answer names."""

from __future__ import annotations

from collections import defaultdict
from zoneinfo import ZoneInfo

import pytest

from bot import countries
from bot.countries import OTHER, country_named
from bot.nlu.normalise import words

# Answers to "Where are you?" as people type them: accents or not, upper case, SMS spelling,
# inside a sentence, small typos in long names.
NAMED = {
    "ML": [
        "Mali",
        "mali",
        "MALI",
        "au Mali",
        "je suis au mali",
        "Maliii",
        "Malí",
        "n bɛ Mali",
        "je suis malienne",
        "jsuis malienne",
        "malien",
        "Bamako",
        "BAMAKO",
        "bamakô",
        "n bɛ Bamakɔ",
        "n be bamako",
        "je suis à bamako",
        "Bamakoo",
        "bamkao",
        "Ségou",
        "segou",
        "Sɛgu",
        "a Sikasso",
        "Mopti",
        "Kayes",
        "Tombouctou",
        "Timbuktu",
        "Kalaban Coura",
        "kalabancoura",
        "kalaban koura",
        "Djélibougou",
        "djeli bougou",
        "je suis a faladie",
        "Sébénikoro",
        "Lafiabougou",
        "Kati",
        "Koutiala",
        "🇲🇱",
    ],
    "PE": [
        "Perú",
        "peru",
        "PERU",
        "Pérou",
        "perou",
        "estoy en el Perú",
        "soy peruana",
        "soy peruano",
        "peruana",
        "péruvienne",
        "Lima",
        "lima",
        "en lima",
        "Vivo en Cusco",
        "cuzco",
        "estoy en Huaycán",
        "huaycan",
        "huaican",
        "Arequipa",
        "en arequpa",
        "estoy en san juan de lurigancho",
        "sjl",
        "san juan de lurijancho",
        "villa el salvador",
        "vivo en villa maria del triunfo",
        "Santa Rosa",
        "estoy en Comas",
        "en Ate",
        "Ate Vitarte",
        "Trujillo",
        "chiclayo",
        "Callao",
        "Puente Piedra",
        "soy limeña",
        "en Chimbote porfa",
        "🇵🇪",
    ],
    "FR": [
        "France",
        "france",
        "FRANCE",
        "en France",
        "je suis en france",
        "Francia",
        "Faransi",
        "n bɛ Faransi",
        "je suis française",
        "soy francesa",
        "frances",
        "Paris",
        "paris 18e",
        "je suis à Lyon",
        "jsuis a lyon",
        "jsuis a marseill",
        "marseil",
        "Marseille",
        "je suis à Nice",
        "chui a nice",
        "Toulouse",
        "toulous",
        "montpelier",
        "a strasbour",
        "Saint-Denis",
        "st denis",
        "saint deni",
        "Montreuil",
        "Île-de-France",
        "idf",
        "Bretagne",
        "Guadeloupe",
        "je suis à Caen",
        "🇫🇷",
    ],
    OTHER: [
        "Sénégal",
        "au senegal",
        "je suis au SENEGAL",
        "Dakar",
        "Côte d'Ivoire",
        "cote divoire",
        "en cote d'ivoire",
        "Burkina",
        "burkina faso",
        "Guinée",
        "Espagne",
        "España",
        "espana",
        "Bolivia",
        "estoy en Chile",
        "soy venezolana",
        "estoy en Argentina",
        "Estados Unidos",
        "je suis au Maroc",
        "Montréal",
        "autre pays",
        "otro país",
        "jamana wɛrɛ",
        "🇸🇳",
    ],
}


@pytest.mark.parametrize(
    ("answer", "code"), [(answer, code) for code, answers in NAMED.items() for answer in answers]
)
def test_country_named(answer: str, code: str) -> None:
    assert country_named(answer) == code


@pytest.mark.parametrize(
    "answer",
    [
        "",
        "   ",
        "1",
        "2",
        "je sais pas",
        "jsp",
        "no se",
        "no sé",
        "n t'a a dɔn",
        "😢🙏",
        "mi pais",
        "pais",
        "mi país",
        "j'ai mal au ventre",
        "malo",
        "me siento mal",
        "lion",
        "lime",
        "une lime à ongles",
        "pero",
        "a nice kosebe",
        "c'est trop nice",
        "no comas eso",
        "estoy en coma",
        "estoy cansada",
        "estoy casada",
        "je suis avec mes amies",
        "c'est une merveille",
        "mon fiancé",
        "combien",
        "i tɔgɔ ye di",
        "n taara",
        "san",
        "a san",
        "bi",
        "ayuda",
        "aidez moi",
        "une seringue",
        "douleur pelvienne",
        "médico",
        "basta",
    ],
)
def test_country_named_none(answer: str) -> None:
    assert country_named(answer) is None


@pytest.mark.parametrize(
    "answer",
    [
        "Mali ou France",
        "Lima o Paris",
        "entre Bamako et Dakar",
        "je suis au Mali, pas au Sénégal",
        "🇲🇱🇫🇷",
    ],
)
def test_two_countries_at_one_level_are_ambiguous(answer: str) -> None:
    assert country_named(answer) is None


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        # Where she is beats where she is from: a place beats a name beats a demonym.
        ("je suis malienne mais j'habite a Lyon", "FR"),
        ("soy peruana pero vivo en Francia", "FR"),
        ("je suis sénégalaise, à Bamako", "ML"),
        ("je suis à Bamako, pas en France", "ML"),
        ("en Francia, en Paris", "FR"),
        # A name after "de" is where she comes from.
        ("soy de Lima pero estoy en Chile", OTHER),
        ("je viens du Mali, je suis en France", "FR"),
        ("je viens de Bamako", "ML"),
        # Two names of one country are no conflict.
        ("Lima, Perú", "PE"),
        ("Villa El Salvador", "PE"),
    ],
)
def test_precedence(answer: str, code: str) -> None:
    assert country_named(answer) == code


def test_a_typo_is_forgiven_only_where_a_place_is_expected() -> None:
    assert country_named("marseil") == "FR"
    assert country_named("je suis a marseil") == "FR"
    assert country_named("le marseil") is None


@pytest.mark.parametrize(
    ("phone", "code"),
    [
        ("+22370000000", "ML"),
        ("+51987654321", "PE"),
        ("+33612345678", "FR"),
        ("0033 6 12 34 56 78", "FR"),
        ("+221770000000", None),
        ("+1 555 0100", None),
        ("", None),
    ],
)
def test_country_of_phone(phone: str, code: str | None) -> None:
    assert countries.country_of_phone(phone) == code


def test_facts_by_code() -> None:
    assert countries.PROGRAMME == ("ML", "PE", "FR")
    assert list(countries.countries()) == ["ML", "PE", "FR"]
    assert countries.zone("ML") == ZoneInfo("Africa/Bamako")
    assert countries.zone("PE") == ZoneInfo("America/Lima")
    assert countries.zone("FR") == ZoneInfo("Europe/Paris")
    assert countries.zone(OTHER) is None
    assert countries.zone(None) is None
    assert [countries.default_language(c) for c in ("ML", "PE", "FR")] == ["fr", "es", "fr"]
    assert countries.default_language(OTHER) is None
    assert countries.default_language(None) is None
    assert countries.calling_code("PE") == "+51"
    assert countries.calling_code(None) is None
    assert countries.countries()["ML"].calling_code == "+223"


def test_every_entry_is_words_under_one_country_only() -> None:
    seen: dict[tuple[str, ...], set[tuple[str, str]]] = defaultdict(set)
    for code, kind, text in countries.written_forms():
        key = tuple(words(text))
        assert key, f"{code} {kind}: {text!r} has no words under the matching key"
        seen[key].add((code, kind))
    twice = {" ".join(key): where for key, where in seen.items() if len(where) > 1}
    assert not twice, f"listed under two countries or kinds: {twice}"


def test_ordinary_words_are_words_not_entries() -> None:
    entries = {tuple(words(text)) for _, _, text in countries.written_forms()}
    for word in countries._data()["ordinary_words"]:
        assert (word,) not in entries
        assert country_named(word) is None
