"""The training data: one folder per language, each example labelled with its language."""

from collections import Counter

import pytest
from rasa.shared.nlu.training_data.loading import load_data

from bot import LANGUAGES, PROJECT_ROOT

NLU = PROJECT_ROOT / "data" / "nlu"
BASIC_INTENTS = {
    "greet", "goodbye", "thank", "help", "out_of_scope", "choose_language",
    "choose_option", "request_counsellor", "book_workshop", "about",
}


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_example_carries_its_folder_language(language: str) -> None:
    data = load_data(str(NLU / language))
    assert data.intent_examples
    for message in data.intent_examples:
        metadata = (message.get("metadata") or {}).get("intent") or {}
        assert metadata.get("language") == language, message.get("text")


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_language_covers_the_basic_intents(language: str) -> None:
    counts = Counter(m.get("intent") for m in load_data(str(NLU / language)).intent_examples)
    assert set(counts) >= BASIC_INTENTS
    assert min(counts[i] for i in BASIC_INTENTS) >= 15, counts


def test_no_text_is_labelled_with_two_intents() -> None:
    seen: dict[str, str] = {}
    for message in load_data(str(NLU)).intent_examples:
        text = message.get("text").strip().casefold()
        intent = message.get("intent")
        assert seen.setdefault(text, intent) == intent, (text, intent, seen[text])


def test_shared_numbers_have_no_language() -> None:
    for message in load_data(str(NLU / "common")).intent_examples:
        assert not any(ch.isalpha() for ch in message.get("text"))
        assert "language" not in ((message.get("metadata") or {}).get("intent") or {})
