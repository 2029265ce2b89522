"""Linear text classifiers over the normaliser's words and character n-grams.

Shared by the language detector and the risk model: a multinomial logistic regression over
word unigrams and in-word character n-grams of the normalised text (see
:mod:`bot.nlu.normalise`), stored as plain arrays and a vocabulary (no pickle), so that a
model file cannot run code when loaded. Character n-grams carry typos, missing accents and
SMS spellings ("jsui", "enceinte"/"ansseinte") that whole words miss.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from bot.nlu.normalise import words

CHAR_NGRAMS = (1, 2, 3, 4)


def features(text: str, bigrams: bool = False) -> Counter[str]:
    """Word unigrams and in-word character n-grams of the normalised ``text``, and word
    bigrams if asked ("dernier message" says more than "dernier" and "message")."""
    feats: Counter[str] = Counter()
    lettered = [word for word in words(text) if any(ch.isalpha() for ch in word)]
    for word in lettered:
        feats["w:" + word] += 1
        padded = f" {word} "
        for n in CHAR_NGRAMS:
            for i in range(len(padded) - n + 1):
                feats[padded[i : i + n]] += 1
    if bigrams:
        for first, second in itertools.pairwise(lettered):
            feats[f"b:{first} {second}"] += 1
    return feats


def vector(feats: Counter[str], vocabulary: dict[str, int]) -> np.ndarray:
    """Log-scaled counts of the known features, L2-normalised."""
    vec = np.zeros(len(vocabulary))
    for key, count in feats.items():
        index = vocabulary.get(key)
        if index is not None:
            vec[index] = 1.0 + math.log(count)
    norm = np.linalg.norm(vec)
    return vec / norm if norm else vec


class LinearTextModel:
    """Trainable multinomial classifier; :meth:`train`, :meth:`probabilities`, :meth:`save`."""

    def __init__(
        self,
        labels: Sequence[str],
        vocabulary: dict[str, int],
        coef: np.ndarray,
        intercept: np.ndarray,
        bigrams: bool = False,
    ) -> None:
        self.labels = list(labels)
        self.vocabulary = vocabulary
        self.coef = coef
        self.intercept = intercept
        self.bigrams = bigrams

    @classmethod
    def fit(
        cls,
        examples: Iterable[tuple[str, str]],
        regularisation: float = 10.0,
        bigrams: bool = False,
    ) -> LinearTextModel:
        """Fit on ``(text, label)`` pairs, classes weighted by their inverse frequency (a
        small class counts as much as a large one). Texts without letters are skipped."""
        from scipy import sparse  # lazy: only training needs it, not every command
        from sklearn.linear_model import LogisticRegression  # lazy: loads scikit-learn (1 s)

        rows: list[Counter[str]] = []
        labels: list[str] = []
        for text, label in examples:
            feats = features(text, bigrams)
            if feats:
                rows.append(feats)
                labels.append(label)
        names = sorted(set(labels))
        if len(names) < 2:
            raise ValueError(f"need examples of at least two labels, got {names}")
        vocabulary: dict[str, int] = {}
        for feats in rows:
            for key in feats:
                vocabulary.setdefault(key, len(vocabulary))
        matrix = sparse.vstack([sparse.csr_matrix(vector(f, vocabulary)) for f in rows])
        model = LogisticRegression(
            C=regularisation, max_iter=2000, class_weight="balanced", random_state=0
        )
        model.fit(matrix, [names.index(label) for label in labels])
        coef, intercept = model.coef_, model.intercept_
        if len(names) == 2:  # sklearn keeps one row for binary problems
            coef = np.vstack([-coef[0], coef[0]]) / 2
            intercept = np.array([-intercept[0], intercept[0]]) / 2
        return cls(names, vocabulary, coef, intercept, bigrams)

    def probabilities(self, text: str) -> dict[str, float]:
        """Each label's probability for ``text``; the prior alone when no feature is known."""
        feats = features(text, self.bigrams)
        scores = self.coef @ vector(feats, self.vocabulary) + self.intercept
        probs = np.exp(scores - scores.max())
        probs /= probs.sum()
        return {label: float(p) for label, p in zip(self.labels, probs, strict=True)}

    def save(self, directory: Path, name: str, label_key: str = "labels") -> None:
        """Write ``<name>.json`` (labels under ``label_key``, vocabulary) and ``<name>.npz``."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{name}.json").write_text(
            json.dumps(
                {label_key: self.labels, "vocabulary": self.vocabulary, "bigrams": self.bigrams}
            ),
            encoding="utf-8",
        )
        np.savez(directory / f"{name}.npz", coef=self.coef, intercept=self.intercept)

    @classmethod
    def read(cls, directory: Path, name: str, label_key: str = "labels") -> LinearTextModel:
        """A model written by :meth:`save`."""
        meta = json.loads((directory / f"{name}.json").read_text(encoding="utf-8"))
        with np.load(directory / f"{name}.npz", allow_pickle=False) as arrays:
            return cls(
                meta[label_key],
                meta["vocabulary"],
                arrays["coef"],
                arrays["intercept"],
                bool(meta.get("bigrams", False)),
            )
