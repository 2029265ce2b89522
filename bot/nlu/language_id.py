"""Which of French, Spanish and Bambara a message is written in.

A :class:`~bot.nlu.linear.LinearTextModel` over word and character n-grams of the normalised
text. Discriminative weights matter here: French nouns inside a Bambara sentence ("atelier",
"préservatif") appear in the Bambara training data too, so the model learns that the short
Bambara function words (bɛ, ka, ye, ma, n') decide, not them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from bot.nlu.linear import LinearTextModel, features

__all__ = ["Guess", "LanguageIdentifier", "features"]

_FILE = "language_id"


@dataclass(frozen=True)
class Guess:
    """A language guess: the best language, its probability, and every probability."""

    language: str
    confidence: float
    ranking: dict[str, float]


class LanguageIdentifier(LinearTextModel):
    """Trainable language identifier; :meth:`train`, :meth:`predict`, :meth:`save`/:meth:`load`."""

    @property
    def languages(self) -> list[str]:
        """The languages it tells apart, sorted."""
        return self.labels

    @classmethod
    def train(
        cls, examples: Iterable[tuple[str, str]], regularisation: float = 10.0
    ) -> LanguageIdentifier:
        """Fit on ``(text, language)`` pairs (texts without letters say nothing: skipped)."""
        model = cls.fit(examples, regularisation)
        assert isinstance(model, LanguageIdentifier)
        return model

    def predict(self, text: str) -> Guess:
        """The most likely language of ``text``. Without any known letters the answer
        falls back to the prior, with a low confidence."""
        ranking = self.probabilities(text)
        best = max(ranking, key=ranking.__getitem__)
        return Guess(best, ranking[best], ranking)

    def save(self, directory: Path, name: str = _FILE, label_key: str = "languages") -> None:
        """Write ``language_id.json`` and ``language_id.npz`` in ``directory``."""
        super().save(directory, name, label_key)

    @classmethod
    def load(cls, directory: Path) -> LanguageIdentifier:
        """Read a model written by :meth:`save`."""
        model = cls.read(directory, _FILE, "languages")
        assert isinstance(model, LanguageIdentifier)
        return model
