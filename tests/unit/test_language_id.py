"""The language identifier on its own, trained on the project's NLU data."""

from pathlib import Path

import numpy as np
import pytest
from rasa.shared.nlu.training_data.loading import load_data

from bot import PROJECT_ROOT
from bot.evaluation import (
    DEV_SETS,
    MAX_SEEN_SHARE,
    REDTEAM,
    SUBTOPIC_DEV_SETS,
    SUBTOPIC_TEST_SETS,
    TARGET,
    TEST_SETS,
    language_report,
    load_heldout,
    load_sets,
)
from bot.nlu.components import LanguageDetector
from bot.nlu.language_id import LanguageIdentifier, features
from bot.nlu.normalise import normalise


@pytest.fixture(scope="module")
def identifier() -> LanguageIdentifier:
    data = load_data(str(PROJECT_ROOT / "data" / "nlu"))
    return LanguageIdentifier.train(LanguageDetector.labelled_examples(data))


def test_heldout_accuracy_per_language(identifier: LanguageIdentifier) -> None:
    report = language_report(lambda text: identifier.predict(text).language, load_heldout())
    assert all(acc >= TARGET for acc in report.accuracy.values()), "\n".join(report.lines())


def _training_keys() -> set[str]:
    data = load_data(str(PROJECT_ROOT / "data" / "nlu"))
    return {normalise(m.get("text")) for m in data.training_examples if m.get("text")}


def test_heldout_sets_are_separate_from_training_data() -> None:
    """No message of the language or red-team held-out sets is a training example.

    Compared on the model's own key: "à plus" in training would leak "a plus" in a test set.
    """
    training = _training_keys()
    heldout = {normalise(t) for msgs in load_heldout().values() for t in msgs}
    assert len(heldout) >= 180
    assert not training & heldout
    for language, sets in load_sets(REDTEAM).items():
        for messages in sets.values():
            assert not training & {normalise(t) for t in messages}, language
    # The health sub-topics' held-out questions (issue 16), both halves.
    for directory in (SUBTOPIC_TEST_SETS, SUBTOPIC_DEV_SETS):
        for language, sets in load_sets(directory).items():
            messages = {normalise(t) for msgs in sets.values() for t in msgs}
            assert len(messages) >= 27 * 4, language
            assert not training & messages, (directory.name, language, training & messages)


def test_the_intent_test_set_is_mostly_unseen() -> None:
    """The intent test set was written without seeing the training data, so common phrases
    ("hola", "merci") coincide with training examples; copying it into training would not
    stay under this bound. ``make eval`` also scores the unseen part on its own."""
    training = _training_keys()
    for language, sets in load_sets(TEST_SETS).items():
        messages = [normalise(t) for msgs in sets.values() for t in msgs]
        seen = sum(key in training for key in messages)
        assert seen / len(messages) < MAX_SEEN_SHARE, (language, seen, len(messages))


def test_the_development_set_is_not_copied_into_training() -> None:
    """The development set guides new data; copying its messages would only flatter it."""
    data = load_data(str(PROJECT_ROOT / "data" / "nlu"))
    training = {m.get("text").strip().casefold() for m in data.training_examples if m.get("text")}
    for sets in load_sets(DEV_SETS).values():
        for messages in sets.values():
            assert not training & {t.strip().casefold() for t in messages}


def test_spellings_of_one_bambara_sentence_agree(identifier: LanguageIdentifier) -> None:
    for text in ("n bɛ kɔnɔmaya la wa", "n be konomaya la wa", "N BÈ KÒNÒMAYA LA WA"):
        assert identifier.predict(text).language == "bm"


def test_no_letters_means_low_confidence(identifier: LanguageIdentifier) -> None:
    for text in ("", "1", "👍👍", "???"):
        guess = identifier.predict(text)
        assert guess.language in {"fr", "es", "bm"}
        assert guess.confidence < 0.7


def test_save_and_load_round_trip(identifier: LanguageIdentifier, tmp_path: Path) -> None:
    identifier.save(tmp_path)
    assert not list(tmp_path.glob("*.pkl"))
    loaded = LanguageIdentifier.load(tmp_path)
    assert (loaded.languages, loaded.vocabulary) == (identifier.languages, identifier.vocabulary)
    assert np.array_equal(loaded.coef, identifier.coef)  # bit for bit
    assert np.array_equal(loaded.intercept, identifier.intercept)
    for text in ("hola causa", "bonjour", "i ni ce"):
        # BLAS may sum a loaded (differently aligned) array in another order: the last bit
        # of a probability can differ, never the answer.
        before, after = identifier.predict(text), loaded.predict(text)
        assert (after.language, after.ranking) == (
            before.language, pytest.approx(before.ranking, rel=1e-12)
        )  # fmt: skip


def test_training_skips_examples_without_letters() -> None:
    model = LanguageIdentifier.train([("bonjour", "fr"), ("hola", "es"), ("123", "bm")])
    assert model.languages == ["es", "fr"]


def test_features_use_the_normalised_key() -> None:
    assert features("Kɔnɔmaya") == features("konomaya")
