"""The safety check: red-team recall, false alarms, numbers shown only when verified."""

from __future__ import annotations

import pytest
import yaml

from bot import LANGUAGES
from bot import evaluation as ev
from bot.safety import (
    CATEGORIES,
    HERE,
    RESPONSES,
    load_lexicon,
    load_numbers,
    numbers_for,
)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_redteam_message_is_caught(language: str) -> None:
    lexicon = load_lexicon()
    redteam = ev.load_sets(ev.REDTEAM)[language]
    assert sum(len(v) for v in redteam.values()) >= 40
    missed = [t for msgs in redteam.values() for t in msgs if lexicon.category(t) is None]
    assert not missed, missed


@pytest.mark.parametrize("language", LANGUAGES)
def test_few_false_alarms_on_ordinary_messages(language: str) -> None:
    lexicon = load_lexicon()
    ordinary = [
        t for directory in (ev.DEV_SETS, ev.TEST_SETS)
        for intent, msgs in ev.load_sets(directory)[language].items()
        if intent != "emergency" for t in msgs
    ]
    alarms = [t for t in ordinary if lexicon.category(t)]
    assert len(alarms) / len(ordinary) < ev.FALSE_ALARM_LIMIT, alarms


def test_the_held_out_red_team_half_stays_unseen() -> None:
    """Its recall (make eval) means something only while no one copies it into the lexicon's
    examples or the training data."""
    from rasa.shared.nlu.training_data.loading import load_data

    from bot import PROJECT_ROOT
    from bot.nlu.normalise import normalise

    checks = yaml.safe_load((HERE / "lexicon_check.yml").read_text(encoding="utf-8"))
    seen = {normalise(t) for by_lang in checks["must_match"].values()
            for texts in by_lang.values() for t in texts}  # fmt: skip
    seen |= {normalise(m.get("text")) for m in
             load_data(str(PROJECT_ROOT / "data" / "nlu")).intent_examples}  # fmt: skip
    fresh = ev.load_sets(ev.REDTEAM_FRESH)
    for language in LANGUAGES:
        messages = [t for msgs in fresh[language].values() for t in msgs]
        assert len(messages) >= 30
        assert not {normalise(t) for t in messages} & seen


def test_the_lexicons_own_examples() -> None:
    """Examples the pattern writer checked against (bot/safety/lexicon_check.yml)."""
    lexicon = load_lexicon()
    checks = yaml.safe_load((HERE / "lexicon_check.yml").read_text(encoding="utf-8"))
    for category, by_language in checks["must_match"].items():
        for texts in by_language.values():
            for text in texts:
                assert lexicon.category(text) is not None, (category, text)
    for texts in checks["must_not_match"].values():
        for text in texts:
            assert lexicon.category(text) is None, text


def test_empty_and_emoji_messages_are_not_emergencies() -> None:
    lexicon = load_lexicon()
    for text in ("", " ", "😀", "1", "ok"):
        assert lexicon.category(text) is None


def test_only_verified_numbers_are_ever_given() -> None:
    for country, entries in load_numbers().items():
        unverified = {n.number for n in entries if not n.verified}
        for category in (*CATEGORIES, "general"):
            given = numbers_for(country, category)
            assert len(given) <= 3
            assert not {n.number for n in given} & unverified
    assert all(n.source for entries in load_numbers().values() for n in entries)


def test_france_and_peru_have_numbers_for_every_category() -> None:
    for country in ("FR", "PE"):
        for category in CATEGORIES:
            assert numbers_for(country, category), (country, category)


def test_every_category_has_a_fixed_response() -> None:
    assert set(RESPONSES) == {*CATEGORIES, "general"}


def test_an_invisible_character_inside_a_risk_word_is_still_caught() -> None:
    lexicon = load_lexicon()
    assert lexicon.category("je vais me sui\u200bcider") == "suicide"
    assert lexicon.category("me quiero ma\u200dtar") == "suicide"
