"""Measuring understanding on held-out sets written separately from ``data/nlu``.

- language detection: ``tests/data/language_heldout.yml`` (``make eval-language``);
- top-level intents, beside a TF-IDF + logistic-regression baseline, and language again:
  ``tests/data/intents_test/<lang>.yml`` (the figure), ``tests/data/intents_dev/<lang>.yml``
  (the first held-out set; its misses have guided new training data since, so it is a
  development set now and its score is optimistic) (``make eval``);
- the safety check: recall on ``tests/data/redteam/<lang>.yml``, false alarms on the
  non-emergency held-out messages (``make eval``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot import LANGUAGES, PROJECT_ROOT

HELDOUT = PROJECT_ROOT / "tests" / "data" / "language_heldout.yml"
TARGET = 0.95


def load_heldout(path: Path = HELDOUT) -> dict[str, list[str]]:
    """``{language: [message, ...]}`` from the held-out file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {lang: list(data[lang]) for lang in LANGUAGES}


@dataclass
class LanguageReport:
    """Accuracy per language and the messages that were missed."""

    accuracy: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    misses: list[tuple[str, str, str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = [f"{'lang':<6}{'n':>5}{'accuracy':>10}"]
        for lang in LANGUAGES:
            out.append(f"{lang:<6}{self.counts[lang]:>5}{self.accuracy[lang]:>10.3f}")
        out.extend(f"  missed {exp}->{got}: {text}" for exp, got, text in self.misses)
        return out


def language_report(detect: Callable[[str], str], heldout: dict[str, list[str]]) -> LanguageReport:
    """Run ``detect`` on every held-out message and score it per language."""
    report = LanguageReport()
    for lang, messages in heldout.items():
        hits = 0
        for text in messages:
            got = detect(text)
            if got == lang:
                hits += 1
            else:
                report.misses.append((lang, got, text))
        report.counts[lang] = len(messages)
        report.accuracy[lang] = hits / len(messages)
    return report


# -- intents, baseline and safety (make eval) ---------------------------------------------

DEV_SETS = PROJECT_ROOT / "tests" / "data" / "intents_dev"
TEST_SETS = PROJECT_ROOT / "tests" / "data" / "intents_test"
REDTEAM = PROJECT_ROOT / "tests" / "data" / "redteam"
# Half of a second, independent red-team list, never seen by whoever widens the lexicon or
# writes training data (the other half guided them): the recall that says how the safety
# check does on wording nobody tuned it for.
REDTEAM_FRESH = PROJECT_ROOT / "tests" / "data" / "redteam_fresh"
# Held-out messages per health sub-topic ("contraception/prep": [...]), written apart from
# data/nlu (issue 16): does the question reach the right answer, not only the right intent?
SUBTOPIC_TEST_SETS = PROJECT_ROOT / "tests" / "data" / "subtopics_test"
SUBTOPIC_DEV_SETS = PROJECT_ROOT / "tests" / "data" / "subtopics_dev"
# The top-level intents other parts of the project rely on (issue #3); scored with macro-F1.
CONTRACT_INTENTS = (
    "greet", "goodbye", "thank", "contraception", "pregnancy", "addiction", "book_workshop",
    "cancel_booking", "my_bookings", "request_counsellor", "emergency", "out_of_scope",
)  # fmt: skip
# Share of an intent test set that may coincide with training examples (common phrases).
MAX_SEEN_SHARE = 0.2
F1_TARGETS = {"fr": 0.92, "es": 0.92, "bm": 0.85}
RECALL_TARGET = 1.0
FALSE_ALARM_LIMIT = 0.03


def load_sets(directory: Path) -> dict[str, dict[str, list[str]]]:
    """``{language: {label: [message, ...]}}`` from ``<directory>/<lang>.yml``."""
    return {
        lang: yaml.safe_load((directory / f"{lang}.yml").read_text(encoding="utf-8"))
        for lang in LANGUAGES
    }


@dataclass
class IntentScores:
    """Accuracy and macro-F1 of the top-level intent for one language."""

    n: int
    accuracy: float
    macro_f1: float
    per_intent: dict[str, float] = field(default_factory=dict)


def score_intents(predict: Callable[[str], str], examples: dict[str, list[str]]) -> IntentScores:
    """Score ``predict`` (text -> top-level intent) on ``{intent: [messages]}``."""
    from sklearn.metrics import accuracy_score, f1_score  # lazy: loads scikit-learn (1 s)

    truth = [intent for intent, messages in examples.items() for _ in messages]
    predicted = [predict(text) for messages in examples.values() for text in messages]
    labels = list(CONTRACT_INTENTS)
    per_intent = f1_score(truth, predicted, labels=labels, average=None, zero_division=0)
    return IntentScores(
        n=len(truth),
        accuracy=float(accuracy_score(truth, predicted)),
        macro_f1=float(per_intent.mean()),
        per_intent={label: float(f) for label, f in zip(labels, per_intent, strict=True)},
    )


def chosen_subtopic(parsed: dict[str, Any]) -> str:
    """The answer a parse result leads to, as ``actions/health.py`` picks it: the intent, then
    the best-ranked response of that intent ("contraception/prep"); the intent alone when it
    is not a health intent or nothing of it is ranked."""
    intent = top_level((parsed.get("intent") or {}).get("name") or "")
    selectors = parsed.get("response_selector") or {}
    selector = selectors.get(intent) or selectors.get("default") or {}
    for ranked in selector.get("ranking") or []:
        key = ranked.get("intent_response_key") or ""
        if key.startswith(f"{intent}/"):
            return str(key)
    return intent


@dataclass
class SubtopicScores:
    """Share of held-out questions that reached their answer, and the misses."""

    n: int
    accuracy: float
    intent_accuracy: float
    misses: list[tuple[str, str, str]] = field(default_factory=list)


def score_subtopics(choose: Callable[[str], str], examples: dict[str, list[str]]) -> SubtopicScores:
    """Score ``choose`` (text -> "intent/sub-topic") on ``{"intent/sub": [messages]}``."""
    hits = intent_hits = 0
    misses = []
    for expected, messages in examples.items():
        for text in messages:
            got = choose(text)
            hits += got == expected
            intent_hits += top_level(got) == top_level(expected)
            if got != expected:
                misses.append((expected, got, text))
    n = sum(len(m) for m in examples.values())
    return SubtopicScores(n, hits / n if n else 0.0, intent_hits / n if n else 0.0, misses)


def top_level(intent: str) -> str:
    """``contraception/pill_missed`` -> ``contraception``."""
    return intent.split("/", 1)[0]


def train_baseline(examples: list[tuple[str, str]]) -> Callable[[str], str]:
    """TF-IDF (words and bigrams) + logistic regression on the raw text: the reference a
    trained Rasa model must beat. Same training examples, none of our normalisation."""
    from sklearn.feature_extraction.text import TfidfVectorizer  # lazy: loads scikit-learn
    from sklearn.linear_model import LogisticRegression  # lazy: loads scikit-learn (1 s)
    from sklearn.pipeline import make_pipeline  # lazy: loads scikit-learn

    texts, labels = zip(*examples, strict=True)
    model = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, lowercase=True),
        LogisticRegression(max_iter=2000, C=10.0),
    )
    model.fit(list(texts), list(labels))
    return lambda text: str(model.predict([text])[0])


@dataclass
class SafetyScores:
    """Recall on the red-team list and false alarms on the other held-out messages."""

    recall: float
    caught: int
    total: int
    false_alarm_rate: float
    false_alarms: int
    ordinary: int
    missed: list[str] = field(default_factory=list)
    alarms: list[str] = field(default_factory=list)


def score_safety(
    is_emergency: Callable[[str], bool], redteam: dict[str, list[str]], ordinary: list[str]
) -> SafetyScores:
    """Every red-team message must be caught; few ordinary ones may be."""
    attacks = [text for messages in redteam.values() for text in messages]
    missed = [text for text in attacks if not is_emergency(text)]
    alarms = [text for text in ordinary if is_emergency(text)]
    return SafetyScores(
        recall=1 - len(missed) / len(attacks),
        caught=len(attacks) - len(missed),
        total=len(attacks),
        false_alarm_rate=len(alarms) / len(ordinary) if ordinary else 0.0,
        false_alarms=len(alarms),
        ordinary=len(ordinary),
        missed=missed,
        alarms=alarms,
    )
