"""The matching key: Bambara letters, accents, apostrophes and SMS spellings."""

import pytest

from bot.nlu.normalise import (
    edit_distance,
    fold,
    letter_count,
    near,
    normalise,
    strip_format,
    words,
)


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        # Bambara letters and what people type for them
        ("kɔnɔmaya", "konomaya"),
        ("kònòmaya", "konomaya"),
        ("kɛnɛya", "keneya"),
        ("kènèya", "keneya"),
        ("kêneya", "keneya"),
        ("kεnεya", "keneya"),  # Greek epsilon
        ("ɲininkali", "nyininkali"),
        ("ñininkali", "nyininkali"),
        ("ŋaniya", "nganiya"),
        ("Sɛ́sikɔ̀mu", "sesikomu"),  # tones removed
        ("I NI CƐ", "i ni ce"),
        # contractions
        ("n b'a fɛ", "n be a fe"),
        ("n b’a fɛ", "n be a fe"),
        ("k'a fɔ", "ka a fo"),
        ("a t'a fɛ", "a te a fe"),
        ("y'a ta", "ye a ta"),
        # French and Spanish without accents, SMS spellings
        ("J'ai oublié ma pilule", "j ai oublie ma pilule"),
        ("jsuis enceinte stp", "je suis enceinte s il te plait"),
        ("chui perdue", "je suis perdue"),
        ("xq me duele? porfa", "porque me duele por favor"),
        ("q hago", "que hago"),
        ("Mañana", "manyana"),
        ("holaaaaa", "holaa"),
        ("mercii", "mercii"),
        ("kɔɔ", "koo"),  # long vowels keep their two letters
    ],
)
def test_normalise(typed: str, key: str) -> None:
    assert normalise(typed) == key


def test_never_folds_upward() -> None:
    """ng stays ng: French 'danger' must not become 'daŋer'."""
    assert normalise("danger mangue") == "danger mangue"


def test_french_negation_is_not_read_as_bambara() -> None:
    assert normalise("elle n'a pas ses règles") == "elle n a pas ses regles"


def test_punctuation_emoji_and_empty() -> None:
    assert words("!!! ... 😀😀") == []
    assert words("") == []
    assert normalise("ok 👍") == "ok"
    assert normalise("1.") == "1"


def test_fold_keeps_word_boundaries() -> None:
    assert fold("Ɲɛ ŋɔ") == "nye ngo"


def test_same_key_for_every_spelling_of_a_sentence() -> None:
    spellings = ["N bɛ kɔnɔmaya la", "n be konomaya la", "N BÈ KÒNÒMAYA LA", "n bè kònòmaya la"]
    assert len({normalise(s) for s in spellings}) == 1


def test_letter_count_ignores_digits_and_emoji() -> None:
    assert letter_count("12 👍 ok") == 2
    assert letter_count("ɲɛ") == 2


def test_invisible_format_characters_never_split_a_word() -> None:
    """Zero-width spaces and joiners, bidi controls, soft hyphens: gone before any keyword,
    the lexicon or the classifier sees the text (``PAR\\u200bLER`` is PARLER)."""
    for hidden in ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u202e", "\u2066", "\xad"):
        assert normalise(f"PAR{hidden}LER") == "parler"
        assert normalise(f"je veux me sui{hidden}cider") == "je veux me suicider"
    assert strip_format("a\u200bb\u202ec") == "abc"


def test_near_forgives_typos_in_long_words_only() -> None:
    assert near("espagnole", ["espagnol"]) and near("bamannkan", ["bamanankan"])
    assert not near("pais", ["paris"]) and not near("mal", ["mali"])
    assert edit_distance("ateleir", "atelier", 2) == 1  # two neighbours swapped
