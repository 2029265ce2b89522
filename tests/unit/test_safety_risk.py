"""The learned risk model (issue 17): levels, training, storage, its data and its lists."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from bot import LANGUAGES
from bot.evaluation import (
    RISK_DEV,
    RISK_TEST,
    load_risk_lists,
    score_risk,
    suggest_thresholds,
)
from bot.nlu.normalise import normalise
from bot.safety import CATEGORIES
from bot.safety.risk import DATA_DIR, RiskData, RiskModel, Thresholds, load_risk_data

SMALL = RiskData(
    emergencies={"violence": ["il m'enferme et prend mes papiers", "me encierra en la casa"]},
    lookalikes=["ou porter plainte pour harcelement", "el profe me mata con tareas"],
)
LABELLED = [
    ("aidez moi il me frappe", True), ("ayuda me pega", True), ("n deme, a b'a fe ka n faga", True),
    ("bonjour madame", False), ("je veux un preservatif", False), ("hola quiero una cita", False),
    ("i ni ce", False), ("merci beaucoup", False),
]  # fmt: skip


def test_thresholds_give_three_levels() -> None:
    thresholds = Thresholds(possible=0.4, clear=0.8)
    assert [thresholds.level(s) for s in (0.0, 0.39, 0.4, 0.79, 0.8, 1.0)] == [
        "none", "none", "possible", "possible", "clear", "clear",
    ]  # fmt: skip


def test_risk_model_learns_and_round_trips(tmp_path: Path) -> None:
    model = RiskModel.train(LABELLED, SMALL)
    assert 0.0 <= model.score("") <= 1.0
    assert model.score("il me frappe, aidez moi") > model.score("merci beaucoup madame")
    model.save(tmp_path)
    loaded = RiskModel.load(tmp_path)
    assert np.array_equal(loaded.coef, model.coef) and loaded.labels == model.labels
    for text in ("il m'enferme", "hola", "n deme"):
        assert loaded.score(text) == pytest.approx(model.score(text))


def test_the_model_data_covers_every_category_in_every_language() -> None:
    for lang in LANGUAGES:
        data = yaml.safe_load((DATA_DIR / f"{lang}.yml").read_text(encoding="utf-8"))
        assert set(data["emergencies"]) == set(CATEGORIES), lang
        assert all(len(msgs) >= 40 for msgs in data["emergencies"].values()), lang
        assert len(data["lookalikes"]) >= 150, lang
    merged = load_risk_data()
    assert sum(len(m) for m in merged.emergencies.values()) >= 3 * 200


def _keys(lists: dict) -> set[str]:
    texts = [t for msgs in lists["emergencies"].values() for t in msgs] + lists["lookalikes"]
    texts += [t for convs in lists["sequences"].values() for conv in convs for t in conv]
    return {normalise(t) for t in texts}


def test_the_red_team_lists_are_large_split_once_and_apart_from_the_model_data() -> None:
    data = load_risk_data()
    model_keys = {normalise(t) for t, _ in data.examples()}
    dev, test = load_risk_lists(RISK_DEV), load_risk_lists(RISK_TEST)
    for lang in LANGUAGES:
        halves = dev[lang], test[lang]
        emergencies = sum(len(m) for h in halves for m in h["emergencies"].values())
        assert emergencies >= 60 and sum(len(h["lookalikes"]) for h in halves) >= 60, lang
        for half in halves:
            assert set(half["emergencies"]) == set(CATEGORIES), lang
            # Counts only: a failure must not print the held-out messages.
            shared = len(_keys(half) & model_keys)
            assert shared == 0, f"{lang}: {shared} list messages are model training data"
        overlap = len(_keys(dev[lang]) & _keys(test[lang]))
        assert overlap == 0, f"{lang}: {overlap} messages in both halves"


def test_score_risk_counts_levels_and_misses() -> None:
    lists = {"emergencies": {"suicide": ["a", "b"], "overdose": ["c"]}, "lookalikes": ["d", "e"]}
    levels = {"a": "clear", "b": "possible", "c": "none", "d": "possible", "e": "none",
              "x": "clear", "y": "none", "z": "none", "w": "possible"}  # fmt: skip
    scores = score_risk(levels.__getitem__, lists, ["x", "y", "z", "w"])
    assert (scores.recall, scores.clear_recall) == (2 / 3, 1 / 3)
    assert (scores.lookalike_clear, scores.lookalike_possible) == (0, 1)
    assert (scores.clear_false_alarms, scores.possible_false_alarms) == (0.25, 0.25)
    assert scores.missed == [("overdose", "c")]


def test_suggested_thresholds_flag_at_most_the_budgets() -> None:
    scores = [i / 2000 for i in range(1000)]
    possible, clear = suggest_thresholds(scores)
    assert sum(s >= clear for s in scores) <= 5  # 0.5 %
    assert sum(s >= possible for s in scores) <= 20  # 2 %
    assert possible <= clear
