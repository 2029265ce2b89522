"""Our Rasa components, trained and run through Rasa's own storage and message types."""

from pathlib import Path

import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.components import (
    LanguageDetector,
    NormalisingTokenizer,
    RiskCheck,
    SafetyCheck,
    SafetyGate,
    UnknownWordsFallback,
)


def _example(text: str, intent: str, language: str) -> Message:
    return Message(
        data={TEXT: text, "intent": intent, "metadata": {"intent": {"language": language}}}
    )


TRAINING = TrainingData(
    [
        _example("bonjour je veux un rendez vous", "greet", "fr"),
        _example("merci beaucoup madame", "thank", "fr"),
        _example("hola quiero una cita", "greet", "es"),
        _example("muchas gracias senora", "thank", "es"),
        _example("i ni ce n b'a fɛ", "greet", "bm"),
        _example("a ni ce kosɛbɛ", "thank", "bm"),
        Message(data={TEXT: "2", "intent": "choose_option"}),  # no language: not learnt
    ]
)


@pytest.fixture
def storage(tmp_path: Path) -> LocalModelStorage:
    return LocalModelStorage(tmp_path)


def _context() -> ExecutionContext:
    return ExecutionContext(GraphSchema({}), "test")


def _train_and_load(cls: type, storage: LocalModelStorage, name: str):
    resource = Resource(name)
    component = cls.create(cls.get_default_config(), storage, resource, _context())
    component.train(TRAINING)
    return cls.load(cls.get_default_config(), storage, resource, _context())


def test_tokenizer_features_see_the_normalised_words() -> None:
    tokenizer = NormalisingTokenizer(NormalisingTokenizer.get_default_config())
    message = Message(data={TEXT: "N b'a fɛ, jsuis là"})
    tokenizer.process([message])
    tokens = message.get(TOKENS_NAMES[TEXT])
    assert [t.text for t in tokens] == ["n", "be", "a", "fe", "je", "suis", "la"]
    assert (tokens[1].start, tokens[1].end) == (2, 5)  # offsets stay in the original text


def test_tokenizer_caps_huge_messages_and_keeps_emoji_messages() -> None:
    tokenizer = NormalisingTokenizer(NormalisingTokenizer.get_default_config())
    huge, emoji = Message(data={TEXT: "bla " * 10_000}), Message(data={TEXT: "😀😀"})
    tokenizer.process([huge, emoji])
    assert len(huge.get(TOKENS_NAMES[TEXT])) == 200
    assert len(emoji.get(TOKENS_NAMES[TEXT])) == 1


def test_language_detector_learns_from_metadata(storage: LocalModelStorage) -> None:
    detector = _train_and_load(LanguageDetector, storage, "lang")
    messages = [Message(data={TEXT: t}) for t in ("hola gracias", "merci bonjour", "a ni ce")]
    detector.process(messages)
    assert [m.get("language") for m in messages] == ["es", "fr", "bm"]
    assert "language" in messages[0].as_dict(only_output_properties=True)


def test_unknown_words_go_to_fallback(storage: LocalModelStorage) -> None:
    guard = _train_and_load(UnknownWordsFallback, storage, "guard")
    known, unknown, digits = (
        Message(data={TEXT: t, "intent": {"name": "greet", "confidence": 0.99}})
        for t in ("BONJOUR!!", "zzkq vvbrt plof", "3")
    )
    guard.process([known, unknown, digits])
    assert known.get("intent")["name"] == "greet"
    assert unknown.get("intent")["name"] == "nlu_fallback"
    assert digits.get("intent")["name"] == "greet"


def test_safety_verdict_wins_over_the_classifier() -> None:
    check, gate = SafetyCheck(), SafetyGate()
    greet = {"name": "greet", "confidence": 0.9}
    urgent = Message(data={TEXT: "je veux me tuer", "intent": greet, "intent_ranking": [greet]})
    ordinary = Message(data={TEXT: "bonjour", "intent": {"name": "greet", "confidence": 0.9}})
    classified = Message(
        data={TEXT: "aidez moi svp", "intent": {"name": "emergency", "confidence": 0.8}}
    )
    gate.process(check.process([urgent, ordinary, classified]))
    assert urgent.get("intent")["name"] == "emergency"
    assert urgent.get("intent_ranking")[1]["name"] == "greet"  # the classifier's view is kept
    assert urgent.get("safety")["category"] == "suicide"
    assert ordinary.get("intent")["name"] == "greet"
    assert ordinary.get("safety") is None
    assert classified.get("safety") == {"category": "general", "by": "intent"}
    assert [m.get("safety_level") for m in (urgent, ordinary, classified)] == [
        "clear", "none", "clear",
    ]  # fmt: skip


def _scored(text: str, level: str) -> Message:
    greet = {"name": "greet", "confidence": 0.9}
    return Message(data={TEXT: text, "intent": greet, "intent_ranking": [greet],
                         "risk": {"score": 0.5, "level": level}})  # fmt: skip


def test_the_risk_model_sets_the_level_the_lexicon_still_wins() -> None:
    check, gate = SafetyCheck(), SafetyGate()
    model_clear, possible, none = (_scored("je pars demain matin", lv)
                                   for lv in ("clear", "possible", "none"))  # fmt: skip
    lexicon_but_none = _scored("je veux me tuer", "none")
    gate.process(check.process([model_clear, possible, none, lexicon_but_none]))
    assert model_clear.get("intent")["name"] == "emergency"
    assert model_clear.get("safety") == {"category": "general", "by": "model"}
    assert [m.get("safety_level") for m in (model_clear, possible, none, lexicon_but_none)] == [
        "clear", "possible", "none", "clear",
    ]  # fmt: skip
    assert possible.get("intent")["name"] == "safety_checkin"  # a check-in, not an emergency
    assert possible.get("risk")["intent"] == "greet"  # what she asked, answered with it
    assert possible.get("safety") is None
    assert "safety_level" in possible.as_dict(only_output_properties=True)


def test_risk_check_trains_on_the_nlu_and_its_own_data(storage: LocalModelStorage) -> None:
    training = TrainingData(
        [*TRAINING.training_examples, _example("aidez moi il me frappe", "emergency", "fr"),
         _example("ayuda me pega", "emergency", "es")]
    )  # fmt: skip
    resource = Resource("risk")
    config = RiskCheck.get_default_config()
    component = RiskCheck.create(config, storage, resource, _context())
    component.train(training)
    loaded = RiskCheck.load(config, storage, resource, _context())
    messages = [Message(data={TEXT: t}) for t in ("merci beaucoup madame", "")]
    loaded.process(messages)
    for message in messages:
        risk = message.get("risk")
        assert 0.0 <= risk["score"] <= 1.0 and risk["level"] in {"clear", "possible", "none"}
    assert messages[0].get("risk")["level"] == "none"
    assert "risk" in messages[0].as_dict(only_output_properties=True)
