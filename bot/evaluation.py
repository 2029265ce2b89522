"""Language-detection accuracy on the held-out set of ``tests/data/language_heldout.yml``.

The set is written separately from ``data/nlu`` (SMS spelling, no-accent Bambara, French
words inside Bambara). ``make eval-language`` measures the trained model with it; the test
suite holds the same figures to a floor of 0.95 per language.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

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
