"""One matching key for French, Spanish and Bambara as people type them on phones.

Users write Bambara with or without its own letters (ɛ as e/è/ê/ε, ɔ as o/ò/ô, ɲ as ny/ñ,
ŋ as ng), rarely with tones, with contractions (b'a = bɛ a); French and Spanish without
accents and in SMS spelling ("jsuis", "xq", "porfa"). Features, the language detector and
the safety check all work on the same key, so that every spelling of a word meets its
training examples. The key only ever folds *down* (ŋ -> ng, never ng -> ŋ), which keeps
French words such as "danger" intact.
"""

from __future__ import annotations

import re
import unicodedata

# Bumped whenever the key changes, so that a model trained on the old key is retrained.
NORMALISER_VERSION = "2"

# Look-alike code points typed for the Bambara letters (Greek epsilon, open-o variants).
_LOOKALIKES = str.maketrans(
    {
        "ε": "ɛ",  # Greek small epsilon
        "Ε": "Ɛ",
        "ϵ": "ɛ",  # Greek lunate epsilon
        "Ɔ": "ɔ",
        "Ɲ": "ɲ",
        "Ŋ": "ŋ",
        "’": "'",
        "‘": "'",
        "ʼ": "'",
        "`": "'",
        "´": "'",
        "ʻ": "'",
    }
)

# After accents are stripped: the Bambara letters fold to what a Latin keyboard types.
_FOLD = str.maketrans({"ɛ": "e", "ɔ": "o", "ɲ": "ny", "ŋ": "ng", "œ": "oe", "æ": "ae"})

# Bambara contractions written with an apostrophe: b'a = bɛ a, k'a = ka a, t'a = tɛ a,
# y'a = ye a. Only before a vowel, and only these four, so French "n'a", "m'a" stay apart.
_CONTRACTION = re.compile(r"\b([bkty])'(?=[aeiou])")
_CONTRACTION_EXPANSION = {"b": "be", "k": "ka", "t": "te", "y": "ye"}

# SMS spellings expanded to the full words (keys are already folded to ASCII).
# Ambiguous ones are left out on purpose: "c" (fr "c'est", es "sé"), "ke" (Bambara kɛ),
# "pq" (fr "pourquoi", es "porque"), "kan" (Bambara "language"), "pa" (es "para", bm word).
SMS_WORDS: dict[str, str] = {
    # French
    "jsuis": "je suis",
    "chui": "je suis",
    "chuis": "je suis",
    "jsui": "je suis",
    "jsp": "je sais pas",
    "jpp": "je peux pas",
    "jveux": "je veux",
    "jve": "je veux",
    "stp": "s il te plait",
    "svp": "s il vous plait",
    "slt": "salut",
    "bjr": "bonjour",
    "bsr": "bonsoir",
    "mrc": "merci",
    "mrci": "merci",
    "mci": "merci",
    "bcp": "beaucoup",
    "pk": "pourquoi",
    "pkoi": "pourquoi",
    "pourkoi": "pourquoi",
    "koi": "quoi",
    "kwa": "quoi",
    "qd": "quand",
    "qnd": "quand",
    "dc": "donc",
    "pr": "pour",
    "ds": "dans",
    "vs": "vous",
    "tjr": "toujours",
    "tjrs": "toujours",
    "rdv": "rendez vous",
    "cb": "combien",
    "qqn": "quelqu un",
    "qqun": "quelqu un",
    "qlq": "quelque",
    "qq": "quelque",
    "dsl": "desole",
    "q": "que",
    # Spanish
    "xq": "porque",
    "xk": "porque",
    "pxq": "porque",
    "porq": "porque",
    "porfa": "por favor",
    "porfis": "por favor",
    "xfa": "por favor",
    "xfavor": "por favor",
    "plis": "por favor",
    "tb": "tambien",
    "tmb": "tambien",
    "tmbn": "tambien",
    "dnd": "donde",
    "grax": "gracias",
    "grcs": "gracias",
    "grasias": "gracias",
    "xa": "para",
    "xo": "pero",
    "tqm": "te quiero mucho",
}

_REPEATS = re.compile(r"([^\W\d_])\1{2,}")
_NON_WORD = re.compile(r"[^\w']+|_")
_APOSTROPHES = re.compile(r"'+")


def strip_format(text: str) -> str:
    """``text`` without invisible format characters (zero-width spaces and joiners, bidi
    controls, soft hyphens: Unicode category Cf). They split a keyword or a risk word for
    the eye of a program only (``PAR\u200bLER``), or reorder what a counsellor reads."""
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def fold(text: str) -> str:
    """Fold one string to the matching key's alphabet: lower case, no accents or tones, no
    format characters, ɛ->e, ɔ->o, ɲ/ñ->ny, ŋ->ng, apostrophes unified. Word boundaries are
    kept as they are."""
    text = unicodedata.normalize("NFC", strip_format(text)).translate(_LOOKALIKES).casefold()
    # ñ decomposes to n + tilde under NFD: fold it first, as the Bambara ɲ it often stands for.
    text = text.replace("ñ", "ny")
    text = "".join(
        ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn"
    )
    return unicodedata.normalize("NFC", text.translate(_FOLD))


def words(text: str) -> list[str]:
    """The words of ``text`` under the matching key, SMS spellings expanded.

    >>> words("Jsuis enceinte, k'a fɔ!!")
    ['je', 'suis', 'enceinte', 'ka', 'a', 'fo']
    """
    text = fold(text)
    text = _CONTRACTION.sub(lambda m: _CONTRACTION_EXPANSION[m.group(1)] + " ", text)
    text = _NON_WORD.sub(" ", text)
    text = _APOSTROPHES.sub(" ", text)
    text = _REPEATS.sub(r"\1\1", text)
    out: list[str] = []
    for word in text.split():
        out.extend(SMS_WORDS.get(word, word).split())
    return out


def normalise(text: str) -> str:
    """The matching key of a whole message: its :func:`words` joined by single spaces."""
    return " ".join(words(text))


def letter_count(text: str) -> int:
    """How many letters a message has; digits, emoji and punctuation do not count."""
    return sum(1 for ch in text if ch.isalpha())


def edit_distance(a: str, b: str, limit: int) -> int:
    """Damerau–Levenshtein distance (a swap of two neighbours counts one), or ``limit + 1``
    as soon as it is certain to exceed ``limit``."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous, current = list(range(len(b) + 1)), [0] * (len(b) + 1)
    before: list[int] = []
    for i in range(1, len(a) + 1):
        current = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                current[j] = min(current[j], before[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        before, previous = previous, current
    return previous[len(b)]


def typos_allowed(word: str) -> int:
    """How many typos a word of this length may carry and still be itself: none under six
    letters (too many short words are one letter apart), one from six, two from nine."""
    return 0 if len(word) < 6 else 1 if len(word) < 9 else 2


def near(typed: str, candidates: list[str]) -> bool:
    """Whether the normalised word ``typed`` is one of ``candidates``, or one of them with
    the typos its length allows ("espagnole", "bamannkan")."""
    return any(
        typed == c or 0 < typos_allowed(c) >= edit_distance(typed, c, typos_allowed(c))
        for c in candidates
    )
