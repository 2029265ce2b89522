"""Rasa NLU components: a normalising tokenizer, a language detector, an unknown-words guard,
and the safety check (lexicon, learned risk model, the gate that makes their verdict win).

All are listed in ``config.yml`` by module path. The tokenizer makes every featurizer after
it see the matching key of :mod:`bot.nlu.normalise` instead of the raw spelling; the detector
adds ``language`` (``fr``/``es``/``bm``) and ``language_confidence`` to the parse result; the
guard sends messages made only of never-seen words to ``nlu_fallback``; the risk check
reads the tracker Rasa gives it (her previous messages, a check-in waiting for her answer);
the gate adds ``safety_level`` (``clear``/``possible``/``none``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from pathlib import Path
from typing import Any, ClassVar

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Token
from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import (
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot import LANGUAGES
from bot.nlu.language_id import LanguageIdentifier
from bot.nlu.normalise import words
from bot.safety import GENERAL, load_lexicon
from bot.safety.context import (
    CHECKIN_INTENT,
    CHECKIN_SAFE_INTENT,
    HELP,
    SAFE,
    Recent,
    checkin_answer,
    recent,
    window_text,
)
from bot.safety.risk import CLEAR, DATA_DIR, LEVELS, NONE, POSSIBLE, RiskModel, Thresholds

logger = logging.getLogger(__name__)

_CHUNK = re.compile(r"\S+")


def _source_fingerprint(*modules: str) -> str:
    """Hash of our own source files, so that a change in them retrains the component
    (Rasa's cache only sees the component's configuration otherwise)."""
    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in modules:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def override_intent(message: Message, name: str) -> None:
    """Make ``name`` the message's intent, with full confidence, at the top of the ranking
    (the classifier's own ranking stays below it for analysis)."""
    intent = {INTENT_NAME_KEY: name, PREDICTED_CONFIDENCE_KEY: 1.0}
    message.data[INTENT] = intent
    message.data[INTENT_RANKING_KEY] = [intent, *(message.data.get(INTENT_RANKING_KEY) or [])]


class StatelessComponent(GraphComponent):
    """Base of our components that learn nothing: built from no configuration, adding
    nothing to the training data. Subclasses only write ``process``."""

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> StatelessComponent:
        """A new instance (no state to load)."""
        return cls()

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Nothing to add to the training data."""
        return training_data


class LearnedComponent(GraphComponent):
    """Base of our components that learn a :class:`~bot.nlu.linear.LinearTextModel`:
    created empty, trained, persisted in Rasa's model storage, loaded with the model.
    Subclasses name ``model_class`` and write ``train`` (ending with :meth:`persist`)."""

    model_class: ClassVar[type[LanguageIdentifier] | type[RiskModel]]

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Any = None,
    ) -> None:
        self._config = config
        self._model_storage = model_storage
        self._resource = resource
        self._model = model

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> LearnedComponent:
        """Untrained (see ``train``)."""
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> LearnedComponent:
        """With the model saved by ``train``."""
        with model_storage.read_from(resource) as directory:
            return cls(config, model_storage, resource, cls.model_class.load(directory))

    def persist(self, model: LanguageIdentifier | RiskModel) -> Resource:
        """Keep ``model`` and write it into the model storage."""
        self._model = model
        with self._model_storage.write_to(self._resource) as directory:
            model.save(directory)
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Nothing to add to the training data."""
        return training_data


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class NormalisingTokenizer(WhitespaceTokenizer):
    """Whitespace tokens whose text is the normalised form of what the user typed.

    Offsets still point into the original message, so entity extraction keeps working.
    Very long messages are cut at ``max_tokens``: no health question needs more, and a
    flood of text must not stall the model for everyone else.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Adds ``max_tokens`` to the whitespace tokenizer's options."""
        return {**WhitespaceTokenizer.get_default_config(), "max_tokens": 200}

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """Retrain when the normaliser changes."""
        return _source_fingerprint("normalise.py", "components.py")

    def tokenize(self, message: Message, attribute: str) -> list[Token]:
        """Normalise the user's text; other attributes (intent names) as Rasa does."""
        if attribute != TEXT:
            return super().tokenize(message, attribute)
        text = message.get(attribute) or ""
        tokens: list[Token] = []
        for chunk in _CHUNK.finditer(text):
            for word in words(chunk.group()):
                tokens.append(Token(word, chunk.start(), chunk.end()))
            if len(tokens) >= self._config["max_tokens"]:
                break
        if not tokens:
            # Emoji, punctuation or nothing at all: one token keeps the featurizers fed.
            tokens = [Token(text.strip() or "_", 0, len(text))]
        return self._apply_token_pattern(tokens[: self._config["max_tokens"]])


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LanguageDetector(LearnedComponent):
    """Detects fr/es/bm per message, learned from the ``language`` metadata of the NLU data.

    Every NLU block carries ``metadata: {language: xx}``; examples without it (bare
    digits shared by all languages) are not used for training.
    """

    model_class = LanguageIdentifier

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """``regularisation`` is the inverse L2 strength of the logistic regression."""
        return {"regularisation": 10.0}

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """Retrain when the model code or the normaliser changes."""
        return _source_fingerprint("normalise.py", "linear.py", "language_id.py")

    @staticmethod
    def labelled_examples(training_data: TrainingData) -> list[tuple[str, str]]:
        """``(text, language)`` for every example whose metadata names one of our languages."""
        examples = []
        for message in training_data.training_examples:
            metadata = message.get("metadata") or {}
            language = (metadata.get("example") or {}).get("language") or (
                metadata.get("intent") or {}
            ).get("language")
            if message.get(TEXT) and language in LANGUAGES:
                examples.append((message.get(TEXT), language))
        return examples

    def train(self, training_data: TrainingData) -> Resource:
        """Fit the identifier on the labelled examples and persist it."""
        examples = self.labelled_examples(training_data)
        logger.debug("Language detector trained on %d examples.", len(examples))
        return self.persist(LanguageIdentifier.train(examples, self._config["regularisation"]))

    def process(self, messages: list[Message]) -> list[Message]:
        """Add ``language`` and ``language_confidence`` to each parse result."""
        if self._model is None:
            return messages
        for message in messages:
            guess = self._model.predict(message.get(TEXT) or "")
            message.set("language", guess.language, add_to_output=True)
            message.set("language_confidence", round(guess.confidence, 4), add_to_output=True)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class UnknownWordsFallback(GraphComponent):
    """Sends a message none of whose words occur in the training data to ``nlu_fallback``.

    DIET is confident even on gibberish ("zzkq vvbrt"): a closed-set classifier must pick a
    known intent. A message made only of words the model has never seen is not understood,
    however confident the classifier is, so the assistant says so and shows the menu instead
    of guessing. Messages without letters (digits, emoji) are left alone: menus use them.
    Listed after ``FallbackClassifier`` in ``config.yml``.
    """

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        vocabulary: frozenset[str] = frozenset(),
    ) -> None:
        self._model_storage = model_storage
        self._resource = resource
        self._vocabulary = vocabulary

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """Retrain when the normaliser changes."""
        return _source_fingerprint("normalise.py", "components.py")

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> UnknownWordsFallback:
        """Untrained: knows no words (see :meth:`train`)."""
        return cls(config, model_storage, resource)

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> UnknownWordsFallback:
        """With the vocabulary saved by :meth:`train`."""
        with model_storage.read_from(resource) as directory:
            words_file = Path(directory) / "vocabulary.json"
            vocabulary = frozenset(json.loads(words_file.read_text(encoding="utf-8")))
        return cls(config, model_storage, resource, vocabulary)

    def train(self, training_data: TrainingData) -> Resource:
        """Remember every normalised word of the training examples."""
        vocabulary = sorted(
            {w for m in training_data.training_examples for w in words(m.get(TEXT) or "")}
        )
        with self._model_storage.write_to(self._resource) as directory:
            (Path(directory) / "vocabulary.json").write_text(
                json.dumps(vocabulary, ensure_ascii=False), encoding="utf-8"
            )
        self._vocabulary = frozenset(vocabulary)
        return self._resource

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        """Nothing to add to the training data."""
        return training_data

    def understood(self, text: str) -> bool:
        """Whether at least one word of ``text`` is known, or it has no letters at all."""
        lettered = [w for w in words(text) if any(ch.isalpha() for ch in w)]
        return not lettered or any(w in self._vocabulary for w in lettered)

    def process(self, messages: list[Message]) -> list[Message]:
        """Replace the intent of messages made only of unknown words by ``nlu_fallback``."""
        for message in messages:
            if not self._vocabulary or self.understood(message.get(TEXT) or ""):
                continue
            override_intent(message, DEFAULT_NLU_FALLBACK_INTENT_NAME)
        return messages


SAFETY_KEY = "safety"
RISK_KEY = "risk"
LEVEL_KEY = "safety_level"
EMERGENCY_INTENT = "emergency"
COUNSELLOR_INTENT = "request_counsellor"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class RiskCheck(LearnedComponent):
    """The learned risk model (:mod:`bot.safety.risk`) beside the lexicon: adds
    ``risk: {"score", "level"}`` to every parse result. :class:`SafetyGate` turns it, the
    lexicon's verdict and the intent into ``safety_level``. The thresholds come from
    out-of-fold scores of ordinary examples (``python -m bot eval`` prints them)."""

    model_class = RiskModel

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Inverse L2 strength, and the scores from which a message is possible / clear."""
        return {"regularisation": 30.0, "possible_threshold": 0.35, "clear_threshold": 0.7}

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """Retrain when the model code, the normaliser or the model's own data change."""
        digest = hashlib.sha256(_source_fingerprint("normalise.py", "linear.py").encode())
        here = Path(__file__).resolve().parents[1] / "safety"
        digest.update((here / "risk.py").read_bytes())
        for path in sorted(DATA_DIR.glob("*.yml")):
            digest.update(path.read_bytes())
        return digest.hexdigest()

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        model: Any = None,
    ) -> None:
        super().__init__(config, model_storage, resource, model)
        self._thresholds = Thresholds(config["possible_threshold"], config["clear_threshold"])

    @staticmethod
    def labelled_examples(training_data: TrainingData) -> list[tuple[str, bool]]:
        """``(text, is_emergency)`` for every intent example of the NLU data."""
        return [
            (m.get(TEXT), m.get(INTENT) == EMERGENCY_INTENT)
            for m in training_data.intent_examples
            if m.get(TEXT)
        ]

    def train(self, training_data: TrainingData) -> Resource:
        """Fit on the NLU examples (``emergency`` or not) and ``data/safety``; persist."""
        labelled = self.labelled_examples(training_data)
        model = RiskModel.train(labelled, regularisation=self._config["regularisation"])
        return self.persist(model)

    def process(
        self, messages: list[Message], tracker: DialogueStateTracker | None = None
    ) -> list[Message]:
        """Score every message alone and, in a conversation, with her previous messages
        (:mod:`bot.safety.context`): the higher level wins. Rasa passes the tracker as it
        was before this message (``POST /model/parse``: an empty one)."""
        if self._model is None:
            return messages
        recent = Recent() if tracker is None else recent_in(tracker)
        for message in messages:
            text = message.get(TEXT) or ""
            score = self._model.score(text)
            risk: dict[str, Any] = {"score": round(score, 4),
                                    "level": self._thresholds.level(score)}  # fmt: skip
            if recent.texts:
                together = self._model.score(window_text(recent.texts, text))
                risk["context_score"] = round(together, 4)
                if LEVELS.index(self._thresholds.level(together)) < LEVELS.index(risk["level"]):
                    risk.update(level=self._thresholds.level(together), by="context")
            if recent.checkin_pending:
                risk["checkin_pending"] = True
            message.set(RISK_KEY, risk, add_to_output=True)
        return messages


def recent_in(tracker: DialogueStateTracker) -> Recent:
    """:func:`bot.safety.context.recent` over a Rasa tracker, newest event first."""
    now = time.time()
    return recent((event.as_dict() for event in reversed(tracker.events)), now)


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class SafetyCheck(StatelessComponent):
    """First in the pipeline: the deterministic emergency check of :mod:`bot.safety`.

    Adds ``safety: {"category": ...}`` to the parse result when a pattern matches (nothing
    otherwise). :class:`SafetyGate`, last in the pipeline, makes the verdict win over
    whatever the classifiers decide in between.
    """

    def __init__(self) -> None:
        """Reads the lexicon shipped with the code (``bot/safety/lexicon.yml``), once."""
        self._lexicon = load_lexicon()

    def process(self, messages: list[Message]) -> list[Message]:
        """Flag the messages that match an emergency pattern."""
        for message in messages:
            category = self._lexicon.category(message.get(TEXT) or "")
            if category:
                message.set(SAFETY_KEY, {"category": category, "by": "lexicon"}, True)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class SafetyGate(StatelessComponent):
    """Last in the pipeline: the safety verdict wins over whatever was classified.

    ``safety_level`` is ``clear`` when the lexicon matched (:class:`SafetyCheck`), the
    classifier said ``emergency`` or the risk model's level, alone or with her last
    messages, is ``clear``; the intent then becomes ``emergency`` (category ``general``
    without a pattern match). It is ``possible`` when the model says so: the intent becomes
    ``safety_checkin`` (the classifier's kept in ``risk.intent``), except a request for a
    person, which a person answers. Right after a check-in, "2", "no", "help" or more risk
    is ``clear``, and "1", "yes" is ``safety_checkin_safe``. ``none`` otherwise."""

    def process(self, messages: list[Message]) -> list[Message]:
        """Make the safety verdict, the level and the intent agree."""
        for message in messages:
            intent = (message.get(INTENT) or {}).get(INTENT_NAME_KEY)
            risk = message.get(RISK_KEY) or {}
            model_level = risk.get("level", NONE)
            pending = bool(risk.get("checkin_pending"))
            answer = checkin_answer(message.get(TEXT) or "") if pending else None
            level = CLEAR
            if message.get(SAFETY_KEY):
                override_intent(message, EMERGENCY_INTENT)
            elif intent == EMERGENCY_INTENT:
                message.set(SAFETY_KEY, {"category": GENERAL, "by": "intent"}, True)
            elif model_level == CLEAR:
                override_intent(message, EMERGENCY_INTENT)
                message.set(SAFETY_KEY, {"category": GENERAL, "by": risk.get("by", "model")}, True)
            elif pending and (model_level == POSSIBLE or answer == HELP):
                # "2", "no", "help" to "are you safe?", or no answer and more risk.
                override_intent(message, EMERGENCY_INTENT)
                message.set(SAFETY_KEY, {"category": GENERAL, "by": "checkin"}, True)
            elif model_level == POSSIBLE:
                level = POSSIBLE
                if intent != COUNSELLOR_INTENT:  # asking for a person: a person is better
                    risk["intent"] = intent  # what she asked, answered with the check-in
                    override_intent(message, CHECKIN_INTENT)
            else:
                level = NONE
                if answer == SAFE:
                    override_intent(message, CHECKIN_SAFE_INTENT)
            message.set(LEVEL_KEY, level, add_to_output=True)
        return messages
