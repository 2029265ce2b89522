"""The learned half of the safety check: how likely a message shows danger, beside the lexicon.

The lexicon (``lexicon.yml``) explains itself and catches the obvious; it cannot catch an
emergency without a risk word ("the teacher says I pass if I go to his place", "this is my
last message"). :class:`RiskModel` is a logistic regression over the normaliser's words and
character n-grams, trained on the ``emergency`` examples of ``data/nlu`` and the emergencies
of ``data/safety/<lang>.yml`` against every other example and that file's look-alikes. Its
score becomes a level with two thresholds (``config.yml``) that flag at most 0.5 % and 2 % of
ordinary messages the model has not seen (:func:`out_of_fold_scores`; ``make eval`` prints
them), never set on the test half of the risk list:

- ``clear``: today's emergency (fixed reply, numbers, priority handoff);
- ``possible``: for a short check-in ("are you safe right now?"), not built yet: such a
  message is answered as any other;
- ``none``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from bot import LANGUAGES, PROJECT_ROOT
from bot.nlu.linear import LinearTextModel

CLEAR = "clear"
POSSIBLE = "possible"
NONE = "none"
LEVELS = (CLEAR, POSSIBLE, NONE)

RISK = "risk"
DATA_DIR = PROJECT_ROOT / "data" / "safety"
_FILE = "risk_model"


@dataclass(frozen=True)
class Thresholds:
    """Scores from which a message is ``possible`` and ``clear``."""

    possible: float
    clear: float

    def level(self, score: float) -> str:
        """The level of a model score."""
        if score >= self.clear:
            return CLEAR
        return POSSIBLE if score >= self.possible else NONE


@dataclass(frozen=True)
class RiskData:
    """The model's own examples: emergencies per category, and look-alikes."""

    emergencies: dict[str, list[str]]
    lookalikes: list[str]

    def examples(self) -> list[tuple[str, str]]:
        """``(text, "risk"|"none")`` pairs."""
        risky = [(t, RISK) for msgs in self.emergencies.values() for t in msgs]
        return risky + [(t, NONE) for t in self.lookalikes]


def load_risk_data(directory: Path = DATA_DIR) -> RiskData:
    """``data/safety/<lang>.yml`` of every language, merged."""
    emergencies: dict[str, list[str]] = {}
    lookalikes: list[str] = []
    for lang in LANGUAGES:
        path = directory / f"{lang}.yml"
        if not path.is_file():
            continue
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for category, messages in (data.get("emergencies") or {}).items():
            emergencies.setdefault(category, []).extend(messages or [])
        lookalikes.extend(data.get("lookalikes") or [])
    return RiskData(emergencies, lookalikes)


def out_of_fold_scores(
    labelled: Iterable[tuple[str, bool]],
    data: RiskData | None = None,
    folds: int = 5,
    regularisation: float = 30.0,
) -> list[float]:
    """The score of every ordinary NLU example (not an emergency, not a look-alike) from a
    model trained without it: how the model scores ordinary text it has never seen. The
    development messages were shaped by earlier misses, so their scores are kinder than
    new text's; thresholds set on these hold better on new messages."""
    examples = [(text, RISK if risky else NONE, True) for text, risky in labelled]
    examples += [(text, label, False) for text, label in (data or load_risk_data()).examples()]
    order = list(range(len(examples)))
    random.Random(0).shuffle(order)
    scores: list[float] = []
    for fold in range(folds):
        held = set(order[fold::folds])
        train = [(t, label) for i, (t, label, _) in enumerate(examples) if i not in held]
        model = RiskModel.fit(train, regularisation, bigrams=True)
        scores += [model.probabilities(examples[i][0])[RISK] for i in sorted(held)
                   if examples[i][1] == NONE and examples[i][2]]  # fmt: skip
    return scores


class RiskModel(LinearTextModel):
    """Binary risk classifier: :meth:`score` is the probability that a message shows danger."""

    @classmethod
    def train(
        cls,
        labelled: Iterable[tuple[str, bool]],
        data: RiskData | None = None,
        regularisation: float = 30.0,
    ) -> RiskModel:
        """Fit on ``(text, is_emergency)`` pairs (the NLU data) and the model's own data,
        with word bigrams ("mon dernier message")."""
        examples = [(text, RISK if risky else NONE) for text, risky in labelled]
        examples += (data or load_risk_data()).examples()
        model = cls.fit(examples, regularisation, bigrams=True)
        assert isinstance(model, RiskModel)
        return model

    def score(self, text: str) -> float:
        """Probability of danger, 0..1 (the prior when no feature is known)."""
        return self.probabilities(text)[RISK]

    def save(self, directory: Path, name: str = _FILE, label_key: str = "labels") -> None:
        """Write ``risk_model.json`` and ``risk_model.npz`` in ``directory``."""
        super().save(directory, name, label_key)

    @classmethod
    def load(cls, directory: Path) -> RiskModel:
        """Read a model written by :meth:`save`."""
        model = cls.read(directory, _FILE)
        assert isinstance(model, RiskModel)
        return model
