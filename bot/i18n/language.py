"""The conversation language: when to set it, keep it, or change it.

Rules, in order:

1. A message that names a language ("français", "espanol", "bamanankan") while asking for it
   switches at once.
2. With no language yet, the first message that is clear enough sets it.
3. Afterwards the language only changes when the user writes clearly in another language
   ``SWITCH_AFTER`` times in a row. Short or ambiguous messages ("ok", "1", an emoji, "si")
   count for nothing: people share phones and answer menus with digits.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot import LANGUAGES
from bot.nlu.normalise import letter_count, words

LANGUAGE_SLOT = "language"
CANDIDATE_SLOT = "language_candidate"
STREAK_SLOT = "language_streak"

SWITCH_AFTER = 2
MIN_CONFIDENCE = 0.7
MIN_LETTERS = 3

# Words shared by the three languages, or too short to tell (normalised spelling).
AMBIGUOUS_WORDS = frozenset(
    "ok oki okay okey okk si no non oui ya yo aa ah oh eh ha hm hmm mmm lol mdr xd jaja jajaja "
    "haha hahaha hihi allo alo sms taxi menu info stop start help test".split()
)

# Names of the languages, as typed (normalised), in any of the three languages.
_NAMES = {
    "fr": "francais faransi faransikan faransekan frances francesa french",
    "es": "espanyol espanol espagnol espanyola castellano spanish espanyolkan espanyolikan "
    "esipanyolikan esipanyolkan",
    "bm": "bambara bamanan bamana bamanankan bamanakan",
}
LANGUAGE_NAMES: dict[str, str] = {
    name: code for code, names in _NAMES.items() for name in names.split()
}


def named_language(text: str) -> str | None:
    """The language a message names, if it names exactly one ("en français stp" -> fr)."""
    found = {LANGUAGE_NAMES[w] for w in words(text) if w in LANGUAGE_NAMES}
    return found.pop() if len(found) == 1 else None


def is_clear(text: str, confidence: float) -> bool:
    """Whether a message says enough about its language to count."""
    tokens = [w for w in words(text) if any(ch.isalpha() for ch in w)]
    if not tokens or all(w in AMBIGUOUS_WORDS for w in tokens):
        return False
    return letter_count(text) >= MIN_LETTERS and confidence >= MIN_CONFIDENCE


@dataclass(frozen=True)
class LanguageState:
    """The three slots that carry the conversation language between turns."""

    language: str | None = None
    candidate: str | None = None
    streak: int = 0


def next_state(
    state: LanguageState,
    text: str,
    detected: str | None,
    confidence: float,
    asked_for: str | None = None,
) -> LanguageState:
    """The language state after one user message.

    Args:
        state: the slots before the message.
        text: what the user wrote.
        detected: the detector's language for the message.
        confidence: the detector's probability for ``detected``.
        asked_for: a language the user explicitly chose (menu choice or named language).
    """
    if asked_for in LANGUAGES:
        return LanguageState(asked_for)
    if detected not in LANGUAGES or not is_clear(text, confidence):
        return state
    if state.language is None or detected == state.language:
        return LanguageState(detected)
    streak = state.streak + 1 if state.candidate == detected else 1
    if streak >= SWITCH_AFTER:
        return LanguageState(detected)
    return LanguageState(state.language, detected, streak)
