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

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot import LANGUAGES, PROJECT_ROOT
from bot.safety.context import CHECKIN_ACTION, CHECKIN_INTENT, WINDOW, window_text

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


def classified_intent(parsed: dict[str, Any]) -> str:
    """The classifier's intent: under a safety check-in (level ``possible``) the intent she
    was classified with, which ``actions/checkin.py`` answers before the check-in."""
    name = str((parsed.get("intent") or {}).get("name") or "")
    if name == CHECKIN_INTENT:
        return str((parsed.get("risk") or {}).get("intent") or name)
    return name


def chosen_subtopic(parsed: dict[str, Any]) -> str:
    """The answer a parse result leads to, as ``actions/health.py`` picks it: the intent, then
    the best-ranked response of that intent ("contraception/prep"); the intent alone when it
    is not a health intent or nothing of it is ranked."""
    intent = top_level(classified_intent(parsed))
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


# -- the graded risk check (issue 17) ----------------------------------------------------

# An independent red-team list (emergencies per category, look-alikes, conversations), split
# once: the development half sets thresholds and may guide data; the test half is counted only.
RISK_DEV = PROJECT_ROOT / "tests" / "data" / "risk_dev"
RISK_TEST = PROJECT_ROOT / "tests" / "data" / "risk_test"
RISK_RECALL_TARGETS = {"fr": 0.97, "es": 0.97, "bm": 0.93}  # clear + possible
CLEAR_RECALL_TARGET = 0.90
CLEAR_FALSE_ALARM_LIMIT = 0.01
POSSIBLE_FALSE_ALARM_LIMIT = 0.03
# Share of ordinary development messages the thresholds may flag (below the limits above).
CLEAR_FALSE_ALARM_BUDGET = 0.005
POSSIBLE_FALSE_ALARM_BUDGET = 0.02


def load_risk_lists(directory: Path) -> dict[str, dict[str, Any]]:
    """``{language: {"emergencies": {category: [...]}, "lookalikes": [...], "sequences": ...}}``."""
    return load_sets(directory)


@dataclass
class RiskScores:
    """One system's levels on one list: recall per level, false alarms per level."""

    emergencies: int
    flagged: int  # clear or possible
    clear: int
    lookalikes: int
    lookalike_clear: int
    lookalike_possible: int
    ordinary: int
    ordinary_clear: int
    ordinary_possible: int
    missed: list[tuple[str, str]] = field(default_factory=list)  # (category, text)

    @property
    def recall(self) -> float:
        """Emergencies given ``clear`` or ``possible``."""
        return self.flagged / self.emergencies if self.emergencies else 0.0

    @property
    def clear_recall(self) -> float:
        """Emergencies given ``clear``."""
        return self.clear / self.emergencies if self.emergencies else 0.0

    @property
    def clear_false_alarms(self) -> float:
        """Ordinary messages given ``clear``."""
        return self.ordinary_clear / self.ordinary if self.ordinary else 0.0

    @property
    def possible_false_alarms(self) -> float:
        """Ordinary messages given ``possible`` (a check-in they did not need)."""
        return self.ordinary_possible / self.ordinary if self.ordinary else 0.0


def score_risk(
    level_of: Callable[[str], str], lists: dict[str, Any], ordinary: list[str]
) -> RiskScores:
    """Levels ``level_of`` gives to a risk list and to ordinary messages."""
    emergencies = [(c, t) for c, msgs in lists["emergencies"].items() for t in msgs]
    levels = [(c, t, level_of(t)) for c, t in emergencies]
    looks = [level_of(t) for t in lists["lookalikes"]]
    plain = [level_of(t) for t in ordinary]
    return RiskScores(
        emergencies=len(levels),
        flagged=sum(lv != "none" for *_, lv in levels),
        clear=sum(lv == "clear" for *_, lv in levels),
        lookalikes=len(looks),
        lookalike_clear=looks.count("clear"),
        lookalike_possible=looks.count("possible"),
        ordinary=len(plain),
        ordinary_clear=plain.count("clear"),
        ordinary_possible=plain.count("possible"),
        missed=[(c, t) for c, t, lv in levels if lv == "none"],
    )


async def conversation_levels(agent: Any, texts: list[str]) -> list[str]:
    """The level of each message of a conversation as a live one gives it: parsed with her
    tracker so far (the risk check reads her previous messages), the check-in recorded after
    a ``possible``, stopped at the first ``clear`` (the emergency answer takes over)."""
    from rasa.core.channels.channel import UserMessage  # lazy: loads Rasa
    from rasa.shared.core.events import ActionExecuted, UserUttered  # lazy: loads Rasa
    from rasa.shared.core.trackers import DialogueStateTracker  # lazy: loads Rasa

    tracker = DialogueStateTracker.from_events("eval", [])
    levels: list[str] = []
    for text in texts:
        data = await agent.processor.parse_message(UserMessage(text, sender_id="eval"), tracker)
        levels.append(str(data.get("safety_level")))
        if levels[-1] == "clear":
            break
        tracker.update(UserUttered(text, data["intent"], [], data))
        if levels[-1] == "possible":
            tracker.update(ActionExecuted(CHECKIN_ACTION))
        tracker.update(ActionExecuted("action_listen"))
    return levels


@dataclass
class SequenceScores:
    """Conversations whose risk shows over several messages (escalating) or never (calm):
    how many reached ``possible``/``clear``, and how many calm ones were flagged."""

    escalating: int
    escalating_flagged: int
    escalating_clear: int
    calm: int
    calm_flagged: int


def score_sequences(
    levels_of: Callable[[list[str]], list[str]], sequences: dict[str, list[list[str]]]
) -> SequenceScores:
    """``levels_of`` gives the level of each message of a conversation, in order."""
    rising = [levels_of(list(c)) for c in sequences.get("escalating") or []]
    calm = [levels_of(list(c)) for c in sequences.get("not_escalating") or []]
    return SequenceScores(
        escalating=len(rising),
        escalating_flagged=sum(any(lv != "none" for lv in c) for c in rising),
        escalating_clear=sum("clear" in c for c in rising),
        calm=len(calm),
        calm_flagged=sum(any(lv != "none" for lv in c) for c in calm),
    )


def suggest_thresholds(ordinary_scores: list[float]) -> tuple[float, float]:
    """(possible, clear) thresholds that flag at most the budgets of ordinary development
    messages: the clear threshold just above the (1 - 0.5 %) quantile of their scores, the
    possible one above the (1 - 2 %) quantile."""
    ranked = sorted(ordinary_scores, reverse=True)

    def above(share: float) -> float:
        allowed = int(share * len(ranked))
        return round(min(0.99, ranked[allowed] + 0.005), 3) if ranked else 0.99

    clear = above(CLEAR_FALSE_ALARM_BUDGET)
    return min(clear, above(POSSIBLE_FALSE_ALARM_BUDGET)), clear


def risk_report(
    parse: Callable[[str], dict[str, Any]],
    lexicon_category: Callable[[str], str | None],
    score_of: Callable[[str], float],
    ordinary: dict[str, dict[str, list[str]]],
    unseen_scores: list[float],
    conversation: Callable[[list[str]], list[str]],
) -> tuple[list[str], bool]:
    """The graded check on the risk lists, per language: the lexicon alone, the model alone
    and both (``safety_level``), on the test half (counted only) and the development half
    (whose misses are printed). ``ordinary`` is ``{"test"|"dev": {language: [messages
    without danger]}}``; ``unseen_scores`` are out-of-fold scores of ordinary training
    examples, from which the thresholds are suggested; ``conversation`` gives the levels of
    a conversation's messages in turn (the risk check reading her previous ones, the bot's
    check-in after a ``possible``). Returns lines and whether the targets are met."""
    import time  # lazy: only the report times the check

    halves = {"test": load_risk_lists(RISK_TEST), "dev": load_risk_lists(RISK_DEV)}
    systems: dict[str, Callable[[str], str]] = {
        "lexicon": lambda t: "clear" if lexicon_category(t) else "none",
        "model": lambda t: str(parse(t)["risk"]["level"]),
        "combined": lambda t: str(parse(t)["safety_level"]),
    }
    lines = [f"{'lang':<5}{'half':<5}{'system':<10}{'n':>4}{'recall':>8}{'clear':>7}"
             f"{'look c/p':>10}{'ordinary c/p':>15}"]  # fmt: skip
    ok = True
    details = []
    for lang in LANGUAGES:
        for half, lists in halves.items():
            for name, level_of in systems.items():
                s = score_risk(level_of, lists[lang], ordinary[half][lang])
                look = f"{s.lookalike_clear}/{s.lookalike_possible}"
                lines.append(
                    f"{lang:<5}{half:<5}{name:<10}{s.emergencies:>4}{s.recall:>8.3f}"
                    f"{s.clear_recall:>7.3f}{look:>10}"
                    f"{s.clear_false_alarms:>8.3f}/{s.possible_false_alarms:.3f}"
                )
                if half == "test" and name == "combined":
                    ok &= s.recall >= RISK_RECALL_TARGETS[lang]
                    ok &= s.clear_recall >= CLEAR_RECALL_TARGET
                    ok &= s.clear_false_alarms < CLEAR_FALSE_ALARM_LIMIT
                    ok &= s.possible_false_alarms < POSSIBLE_FALSE_ALARM_LIMIT
                if half == "dev" and name == "combined":
                    details += [f"  {lang} risk dev miss ({c}): {t}" for c, t in s.missed]
    lines.append(f"{'lang':<5}{'half':<5}{'conversations':<15}{'escalating flagged/clear':>26}"
                 f"{'calm flagged':>14}")  # fmt: skip
    for lang in LANGUAGES:
        for half, lists in halves.items():
            sequences = lists[lang].get("sequences") or {}
            alone = score_sequences(lambda c: [str(parse(t)["safety_level"]) for t in c],
                                    sequences)  # fmt: skip
            together = score_sequences(conversation, sequences)
            for name, seq in (("each alone", alone), ("in context", together)):
                rising = f"{seq.escalating_flagged}/{seq.escalating_clear} of {seq.escalating}"
                lines.append(f"{lang:<5}{half:<5}{name:<15}{rising:>26}"
                             f"{f'{seq.calm_flagged} of {seq.calm}':>14}")  # fmt: skip
    # Ordinary conversations: three ordinary test messages in a row (shuffled once), how
    # often reading them together raises a level that each alone would not have.
    for lang in LANGUAGES:
        plain = list(ordinary["test"][lang])
        random.Random(0).shuffle(plain)
        triples = [plain[i:i + 3] for i in range(0, len(plain) - 2, 3)]
        raised = 0
        for triple in triples:
            levels = conversation(triple)
            raised += levels != [str(parse(x)["safety_level"]) for x in triple][:len(levels)]
        lines.append(f"{lang:<5}test ordinary conversations of 3: context raised a level in "
                     f"{raised} of {len(triples)} ({raised / max(1, len(triples)):.1%})")
    possible, clear = suggest_thresholds(unseen_scores)
    details.append(f"  thresholds suggested by out-of-fold scores of {len(unseen_scores)} "
                   f"ordinary examples: possible {possible}, clear {clear} (config.yml)")
    messages = [t for half in ordinary.values() for msgs in half.values() for t in msgs]
    started = time.perf_counter()
    for text in messages:
        lexicon_category(text)
        score_of(text)
    cost = (time.perf_counter() - started) / len(messages) * 1000
    started = time.perf_counter()
    for i in range(WINDOW, len(messages)):  # the message, then with the previous ones
        lexicon_category(messages[i])
        score_of(messages[i])
        score_of(window_text(messages[i - WINDOW:i], messages[i]))
    in_context = (time.perf_counter() - started) / max(1, len(messages) - WINDOW) * 1000
    details.append(f"  cost of the check (lexicon + model) per message: {cost:.2f} ms alone, "
                   f"{in_context:.2f} ms with the window of previous messages (mean over "
                   f"{len(messages)} messages, outside Rasa)")  # fmt: skip
    return lines + details, ok
