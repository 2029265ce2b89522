"""Risk over a conversation (bot/safety/context.py) and the check-in, as the NLU sees them:
the window of her previous messages, the check-in answer in three languages as people write
it, and the gate's decisions. The model is a fixed scorer here (the combination is under
test); tests/stack/test_risk_levels.py runs the trained one."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, ClassVar

import pytest
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.core.events import ActionExecuted, BotUttered, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.components import RiskCheck, SafetyCheck, SafetyGate
from bot.safety.context import (
    CHECKIN_ACTION,
    CHECKIN_OPEN,
    HELP,
    SAFE,
    WITHIN,
    checkin_answer,
    recent,
)

NOW = 1_800_000_000.0


def user(text: str, ago: float = 60.0, level: str = "none", **metadata: Any) -> dict[str, Any]:
    return {"event": "user", "text": text, "timestamp": NOW - ago,
            "parse_data": {"safety_level": level}, "metadata": metadata}  # fmt: skip


def action(name: str, ago: float = 30.0) -> dict[str, Any]:
    return {"event": "action", "name": name, "timestamp": NOW - ago}


# -- the window -----------------------------------------------------------------------------


def test_the_window_holds_her_last_two_messages_oldest_first() -> None:
    events = [user("un", 300), action("action_listen"), user("deux", 200), user("trois", 100)]
    assert recent(reversed(events), NOW).texts == ("deux", "trois")


@pytest.mark.parametrize(
    ("older", "why"),
    [
        (user("il m'a frappee", 100, level="clear"), "answered as an emergency"),
        (user("je suis fatiguee", 100, level="possible"), "already checked in"),
        (user("je suis fatiguee", 100, handoff=True), "read by a counsellor"),
        (user("/choose_option", 100), "a button"),
        (user("je suis fatiguee", WITHIN + 1), "another moment of her day"),
    ],
)
def test_the_window_ends_at_what_was_handled_or_is_old(older: dict[str, Any], why: str) -> None:
    events = [user("avant", WITHIN + 100), older]
    assert recent(reversed(events), NOW).texts == (), why


def test_a_checkin_in_the_last_bot_turn_is_pending_for_a_while() -> None:
    asked = [user("je suis fatiguee de tout", 120, level="possible"), action(CHECKIN_ACTION)]
    assert recent(reversed(asked), NOW).checkin_pending
    assert not recent(reversed(asked), NOW + CHECKIN_OPEN + 60).checkin_pending
    answered = [*asked, user("c'est quoi la pilule", 20), action("action_health_answer", 10)]
    assert not recent(reversed(answered), NOW).checkin_pending


# -- her answer to the check-in --------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["2", "deux", "non", "Non.", "nn", "jai besoin daide", "aidez moi svp", "au secours",
     "ca va pas", "pas en securite", "j'ai peur",
     "no", "dos", "necesito ayuda", "ayudame porfa", "no estoy bien", "tengo miedo",
     "ayi", "n mago bɛ dɛmɛ na", "n mago be deme na", "siran bɛ n na",
     "oui j'ai besoin d'aide"],
)
def test_help_answers(text: str) -> None:
    assert checkin_answer(text) == HELP


@pytest.mark.parametrize(
    "text",
    ["1", "un", "oui", "ouii", "wi", "oui ca va je suis en securite", "je vais bien merci",
     "si", "sii", "sí", "uno", "estoy bien", "tranquila", "estoy segura",
     "awɔ", "awo", "ɔwɔ, n lakananen don", "n kɛnɛ"],
)
def test_safe_answers(text: str) -> None:
    assert checkin_answer(text) == SAFE


@pytest.mark.parametrize("text", ["c'est quoi la pilule du lendemain", "donde hay un centro",
                                  "bonjour", ""])
def test_anything_else_is_her_next_message(text: str) -> None:
    assert checkin_answer(text) is None


# -- the risk check over a tracker -----------------------------------------------------------


class Scorer:
    """Scores by the words it knows: what the window adds is the only question here."""

    WEIGHTS: ClassVar[dict[str, float]] = {
        "fatiguee": 0.3, "personne": 0.3, "loin": 0.3, "pont": 0.9,
    }  # fmt: skip

    def score(self, text: str) -> float:
        return min(1.0, sum(w for word, w in self.WEIGHTS.items() if word in text))


@pytest.fixture
def risk(tmp_path: Path) -> RiskCheck:
    config = {**RiskCheck.get_default_config(), "possible_threshold": 0.5,
              "clear_threshold": 0.85}  # fmt: skip
    return RiskCheck(config, LocalModelStorage(tmp_path), Resource("risk"), Scorer())


def tracker(*events: Any) -> DialogueStateTracker:
    return DialogueStateTracker.from_events("her", list(events))


def parse(
    risk: RiskCheck, text: str, history: DialogueStateTracker | None, intent: str = "out_of_scope"
) -> Message:
    message = Message(data={TEXT: text, "intent": {"name": intent, "confidence": 0.6}})
    risk.process([message], history)
    SafetyGate().process(SafetyCheck().process([message]))
    return message


def test_risk_accumulates_over_her_last_messages(risk: RiskCheck) -> None:
    now = time.time()
    history = tracker(
        UserUttered("je suis fatiguee de tout", timestamp=now - 120,
                    parse_data={"safety_level": "none"}),
        BotUttered("...", timestamp=now - 110),
        UserUttered("personne ne m'aime", timestamp=now - 60, parse_data={"safety_level": "none"}),
    )  # fmt: skip
    alone = parse(risk, "demain je serai loin", None)
    assert alone.get("risk")["level"] == "none" and alone.get("safety_level") == "none"
    together = parse(risk, "demain je serai loin", history)
    assert together.get("risk")["by"] == "context"
    assert together.get("safety_level") == "clear"
    assert together.get("intent")["name"] == "emergency"
    assert together.get("safety") == {"category": "general", "by": "context"}


def test_context_never_lowers_a_level(risk: RiskCheck) -> None:
    history = tracker(UserUttered("bonjour", timestamp=time.time() - 30))
    message = parse(risk, "je suis sur le pont", history)
    assert message.get("safety_level") == "clear"
    assert message.get("safety") == {"category": "general", "by": "model"}


def test_a_possible_message_gets_the_checkin_and_keeps_what_she_asked(risk: RiskCheck) -> None:
    message = parse(risk, "je suis fatiguee, personne", None)
    assert message.get("safety_level") == "possible"
    assert message.get("intent")["name"] == "safety_checkin"
    assert message.get("risk")["intent"] == "out_of_scope"


def test_a_worried_request_for_a_person_goes_to_a_person(risk: RiskCheck) -> None:
    message = parse(risk, "je suis fatiguee, personne, je veux parler", None,
                    intent="request_counsellor")  # fmt: skip
    assert message.get("safety_level") == "possible"
    assert message.get("intent")["name"] == "request_counsellor"  # the queue, not a check-in


@pytest.mark.parametrize(
    ("text", "intent", "level"),
    [
        ("2", "emergency", "clear"),
        ("non", "emergency", "clear"),
        ("ayuda", "emergency", "clear"),
        ("personne ne me croit, je suis fatiguee", "emergency", "clear"),  # more risk
        ("1", "safety_checkin_safe", "none"),
        ("oui ca va", "safety_checkin_safe", "none"),
        ("awɔ", "safety_checkin_safe", "none"),
        ("c'est quoi la pilule", "out_of_scope", "none"),  # her next question, as usual
    ],
)
def test_her_answer_to_the_checkin(risk: RiskCheck, text: str, intent: str, level: str) -> None:
    now = time.time()
    history = tracker(
        UserUttered("je suis fatiguee, personne", timestamp=now - 60,
                    parse_data={"safety_level": "possible"}),
        ActionExecuted(CHECKIN_ACTION, timestamp=now - 59),
        BotUttered("Es-tu en securite maintenant ?", timestamp=now - 59),
        ActionExecuted("action_listen", timestamp=now - 58),
    )  # fmt: skip
    message = parse(risk, text, history)
    assert (message.get("intent")["name"], message.get("safety_level")) == (intent, level)
    if intent == "emergency":
        assert message.get("safety")["by"] in {"checkin", "lexicon", "model", "context"}
