"""Which of French, Spanish and Bambara a message is written in.

A multinomial logistic regression over word and character n-grams of the normalised text
(see :mod:`bot.nlu.normalise`). Discriminative weights matter here: French nouns inside a
Bambara sentence ("atelier", "préservatif") appear in the Bambara training data too, so the
model learns that the short Bambara function words (bɛ, ka, ye, ma, n') decide, not them.
The model is stored as plain arrays and a vocabulary (no pickle), so a model file cannot run
code when loaded.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from bot.nlu.normalise import words

CHAR_NGRAMS = (1, 2, 3, 4)


def features(text: str) -> Counter[str]:
    """Word unigrams and in-word character n-grams of the normalised ``text``."""
    feats: Counter[str] = Counter()
    for word in words(text):
        if not any(ch.isalpha() for ch in word):
            continue
        feats["w:" + word] += 1
        padded = f" {word} "
        for n in CHAR_NGRAMS:
            for i in range(len(padded) - n + 1):
                feats[padded[i : i + n]] += 1
    return feats


@dataclass(frozen=True)
class Guess:
    """A language guess: the best language, its probability, and every probability."""

    language: str
    confidence: float
    ranking: dict[str, float]


class LanguageIdentifier:
    """Trainable language identifier; :meth:`train`, :meth:`predict`, :meth:`save`/:meth:`load`."""

    def __init__(
        self,
        languages: Sequence[str],
        vocabulary: dict[str, int],
        coef: np.ndarray,
        intercept: np.ndarray,
    ) -> None:
        self.languages = list(languages)
        self.vocabulary = vocabulary
        self.coef = coef
        self.intercept = intercept

    @classmethod
    def train(
        cls, examples: Iterable[tuple[str, str]], regularisation: float = 10.0
    ) -> LanguageIdentifier:
        """Fit on ``(text, language)`` pairs. Texts without letters are skipped: they say
        nothing about a language."""
        rows: list[Counter[str]] = []
        labels: list[str] = []
        for text, language in examples:
            feats = features(text)
            if feats:
                rows.append(feats)
                labels.append(language)
        languages = sorted(set(labels))
        if len(languages) < 2:
            raise ValueError(f"need examples in at least two languages, got {languages}")
        vocabulary: dict[str, int] = {}
        for feats in rows:
            for key in feats:
                vocabulary.setdefault(key, len(vocabulary))
        matrix = sparse.vstack([sparse.csr_matrix(cls._vector(f, vocabulary)) for f in rows])
        model = LogisticRegression(
            C=regularisation, max_iter=2000, class_weight="balanced", random_state=0
        )
        model.fit(matrix, [languages.index(label) for label in labels])
        coef, intercept = model.coef_, model.intercept_
        if len(languages) == 2:  # sklearn keeps one row for binary problems
            coef = np.vstack([-coef[0], coef[0]]) / 2
            intercept = np.array([-intercept[0], intercept[0]]) / 2
        return cls(languages, vocabulary, coef, intercept)

    @staticmethod
    def _vector(feats: Counter[str], vocabulary: dict[str, int]) -> np.ndarray:
        vec = np.zeros(len(vocabulary))
        for key, count in feats.items():
            index = vocabulary.get(key)
            if index is not None:
                vec[index] = 1.0 + math.log(count)
        norm = np.linalg.norm(vec)
        return vec / norm if norm else vec

    def predict(self, text: str) -> Guess:
        """The most likely language of ``text``. Without any known letters the answer
        falls back to the prior, with a low confidence."""
        scores = self.coef @ self._vector(features(text), self.vocabulary) + self.intercept
        probs = np.exp(scores - scores.max())
        probs /= probs.sum()
        best = int(np.argmax(probs))
        ranking = {lang: float(p) for lang, p in zip(self.languages, probs, strict=True)}
        return Guess(self.languages[best], float(probs[best]), ranking)

    def save(self, directory: Path) -> None:
        """Write the model as ``language_id.json`` and ``language_id.npz`` in ``directory``."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "language_id.json").write_text(
            json.dumps({"languages": self.languages, "vocabulary": self.vocabulary}),
            encoding="utf-8",
        )
        np.savez(directory / "language_id.npz", coef=self.coef, intercept=self.intercept)

    @classmethod
    def load(cls, directory: Path) -> LanguageIdentifier:
        """Read a model written by :meth:`save`."""
        meta = json.loads((directory / "language_id.json").read_text(encoding="utf-8"))
        with np.load(directory / "language_id.npz", allow_pickle=False) as arrays:
            return cls(meta["languages"], meta["vocabulary"], arrays["coef"], arrays["intercept"])
