"""Every Rasa and rasa-sdk internal the project relies on, checked against the installed
versions: :data:`bot.rasa_fixes.RASA_INTERNALS` lists them, one test here guards each.

Fast on purpose: no model, no server, tiny in-memory domains. An upgrade of Rasa that
changes one of these fails here rather than in a conversation.
"""

from __future__ import annotations

import ast
import asyncio
import copy
import functools
import inspect
import re
import sys
import time
import uuid
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp
import pytest
import rasa
import rasa_sdk
from jsonschema import ValidationError
from rasa.cli.utils import validate_files
from rasa.core import run
from rasa.core.actions.action import RemoteAction, create_bot_utterance
from rasa.core.agent import Agent
from rasa.core.channels import channel as rasa_channel
from rasa.core.channels.channel import InputChannel, OutputChannel, UserMessage
from rasa.core.lock_store import InMemoryLockStore, LockStore
from rasa.core.nlg.generator import NaturalLanguageGenerator
from rasa.core.nlg.response import TemplatedNaturalLanguageGenerator
from rasa.core.processor import MessageProcessor
from rasa.core.tracker_store import InMemoryTrackerStore, SQLTrackerStore
from rasa.engine.constants import PLACEHOLDER_TRACKER
from rasa.engine.graph import ExecutionContext, GraphComponent, GraphNode, GraphSchema
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.engine.training.fingerprinting import calculate_fingerprint_key
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    Event,
    FollowupAction,
    SessionStarted,
    SlotSet,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from rasa.shared.core.training_data.story_reader.yaml_story_reader import YAMLStoryReader
from rasa.shared.data import TrainingType
from rasa.shared.importers.importer import TrainingDataImporter
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.utils.io import read_config_file
from rasa.utils import common as rasa_common
from rasa.utils import log_utils
from rasa.utils.endpoints import EndpointConfig
from rasa_sdk import Tracker
from rasa_sdk import events as sdk_events
from rasa_sdk.executor import CollectingDispatcher
from sanic import Blueprint, Sanic, response

from bot import PROJECT_ROOT, rasa_fixes
from bot import validate as our_validate
from bot.i18n.nlg import CatalogNLG
from bot.nlu.components import (
    LanguageDetector,
    NormalisingTokenizer,
    RiskCheck,
    SafetyCheck,
    SafetyGate,
    UnknownWordsFallback,
)

RASA_VERSION = "3.6.21"
RASA_SDK_VERSION = "3.6.2"

DOMAIN = Domain.from_dict(
    {
        "intents": ["greet", "handoff", "media"],
        "actions": ["action_handoff", "action_x"],
        "slots": {
            "language": {
                "type": "text",
                "influence_conversation": False,
                "mappings": [{"type": "custom"}],
            },
            "part": {
                "type": "categorical",
                "values": ["more"],
                "influence_conversation": False,
                "mappings": [{"type": "custom"}],
            },
        },
        "responses": {
            "utter_greet": [{"text": "hello {language}"}, {"text": "sms hello", "channel": "sms"}],
            "utter_part": [
                {"text": "start"},
                {"text": "more", "condition": [{"type": "slot", "name": "part", "value": "more"}]},
            ],
        },
    }
)


def _parameters(function: Any) -> list[str]:
    return list(inspect.signature(function).parameters)


def _tracker(*events: Event) -> DialogueStateTracker:
    return DialogueStateTracker.from_events("c1", [ActionExecuted("action_listen"), *events],
                                            DOMAIN.slots)  # fmt: skip


class NamedOutput(OutputChannel):
    """An output channel as ours (bot.channels.inbound.ContactOutput): name() asked of the
    instance, the three send methods overridden and recorded."""

    def __init__(self, channel: str = "sms") -> None:
        self._channel = channel
        self.sent: list[tuple[str, Any, dict[str, Any]]] = []

    def name(self) -> str:  # type: ignore[override]
        return self._channel

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        self.sent.append(("text", text, kwargs))

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        self.sent.append(("buttons", (text, buttons), kwargs))

    async def send_custom_json(
        self, recipient_id: str, json_message: dict[str, Any], **kwargs: Any
    ) -> None:
        self.sent.append(("custom", json_message, kwargs))


class ProbeInput(InputChannel):
    """An input channel built by Rasa from credentials.yml, as ours are."""

    credentials: dict[str, Any] | None = None
    handler: Any = None

    @classmethod
    def name(cls) -> str:
        return "probe"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> ProbeInput:
        made = cls()
        made.credentials = credentials
        return made

    def blueprint(self, on_new_message: Any) -> Blueprint:
        self.handler = on_new_message
        hook = Blueprint(f"probe_{uuid.uuid4().hex}", __name__)

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Any) -> Any:
            return response.text("")

        return hook


# -- the response generator (bot/i18n/nlg.py) ----------------------------------------------


def test_random_response_for_picks_a_variation_by_channel_and_condition() -> None:
    method = TemplatedNaturalLanguageGenerator._random_response_for
    assert _parameters(method) == ["self", "utter_action", "output_channel", "filled_slots"]
    nlg = TemplatedNaturalLanguageGenerator(DOMAIN.responses)
    sms = nlg._random_response_for("utter_greet", "sms", {})
    assert sms == {"text": "sms hello", "channel": "sms"}
    assert any(sms is r for r in DOMAIN.responses["utter_greet"])  # Rasa's own dict: copy it
    assert nlg._random_response_for("utter_greet", "telegram", {}) == {"text": "hello {language}"}
    assert nlg._random_response_for("utter_part", "sms", {"part": "more"})["text"] == "more"
    assert nlg._random_response_for("utter_part", "sms", {"part": None})["text"] == "start"
    assert nlg._random_response_for("utter_unknown", "sms", {}) is None


def test_fill_response_fills_slot_and_keyword_placeholders() -> None:
    method = TemplatedNaturalLanguageGenerator._fill_response
    parameters = inspect.signature(method).parameters
    assert list(parameters)[:3] == ["self", "response", "filled_slots"]
    assert any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    nlg = TemplatedNaturalLanguageGenerator(DOMAIN.responses)
    response = {
        "text": "{language}: number {position}",
        "buttons": [{"title": "{position} more", "payload": "/greet"}],
    }
    filled = nlg._fill_response(response, {"language": "bm", "position": 1}, position=3)
    assert filled["text"] == "bm: number 3"  # keywords win over slots
    assert filled["buttons"] == [{"title": "3 more", "payload": "/greet"}]


def test_custom_nlg_is_built_from_its_module_path() -> None:
    assert _parameters(NaturalLanguageGenerator.generate) == [
        "self", "utter_action", "tracker", "output_channel", "kwargs",
    ]  # fmt: skip
    nlg = NaturalLanguageGenerator.create(EndpointConfig(type="bot.i18n.nlg.CatalogNLG"), DOMAIN)
    assert isinstance(nlg, CatalogNLG)
    assert nlg.responses == DOMAIN.responses


# -- the action server's answers (actions/*, bot/rasa_fixes.py) -----------------------------


class _ActionEndpoint:
    """What RemoteAction.run needs of its EndpointConfig: an answer to one request."""

    url = "http://actions.invalid"

    def __init__(self, answer: dict[str, Any]) -> None:
        self.kwargs: dict[str, Any] = {}
        self.answer = answer

    async def request(self, **kwargs: Any) -> dict[str, Any]:
        return copy.deepcopy(self.answer)


class _RecordingNLG(TemplatedNaturalLanguageGenerator):
    def __init__(self) -> None:
        super().__init__(DOMAIN.responses)
        self.calls: list[tuple[str, str, dict[str, Any]]] = []

    async def generate(
        self, utter_action: str, tracker: Any, output_channel: str, **kwargs: Any
    ) -> dict[str, Any]:
        self.calls.append((utter_action, output_channel, kwargs))
        return {"text": "rendered"}


def _sdk_answer() -> dict[str, Any]:
    """An action's answer as rasa-sdk makes it (actions/common.py, actions/handoff.py)."""
    dispatcher = CollectingDispatcher()
    dispatcher.utter_message(response="utter_greet", slots={"language": "bm"}, position=3)
    return {"events": [sdk_events.SlotSet("language", "bm")], "responses": dispatcher.messages}


def test_remote_action_passes_utter_message_keywords_to_the_nlg() -> None:
    nlg, output = _RecordingNLG(), NamedOutput("sms")
    action = RemoteAction("action_x", _ActionEndpoint(_sdk_answer()))
    events = asyncio.run(action.run(output, nlg, _tracker(), DOMAIN))
    [(utter_action, channel, kwargs)] = nlg.calls
    assert (utter_action, channel) == ("utter_greet", "sms")  # the instance's name()
    assert kwargs["slots"] == {"language": "bm"} and kwargs["position"] == 3
    bot, slot = events
    assert isinstance(bot, BotUttered) and bot.text == "rendered"
    assert bot.metadata["utter_action"] == "utter_greet"
    assert slot == SlotSet("language", "bm")


def test_remote_action_run_validates_through_validate_action_result(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rasa_original = rasa_fixes.original("RemoteAction._validate_action_result")
    assert _parameters(rasa_original) == ["self", "result"]
    checked: list[dict[str, Any]] = []

    def spy(self: RemoteAction, result: dict[str, Any]) -> bool:
        checked.append(result)
        return rasa_original(self, result)

    monkeypatch.setattr(RemoteAction, "_validate_action_result", spy)
    action = RemoteAction("action_x", _ActionEndpoint({"events": "not a list"}))
    with pytest.raises(ValidationError, match="Failed to validate Action server response"):
        asyncio.run(action.run(NamedOutput(), _RecordingNLG(), _tracker(), DOMAIN))
    assert checked == [{"events": "not a list"}]


ANSWERS: list[tuple[dict[str, Any], bool]] = [
    (_sdk_answer(), True),
    ({"events": [], "responses": []}, True),
    ({"events": [{"event": "slot", "name": "language", "value": "bm"}], "responses": [{}]}, True),
    ({"events": [{"event": "followup", "name": "action_listen"}]}, True),
    ({"events": [{"event": "pause"}, {"event": "session_started"}]}, True),
    ({}, True),
    ({"events": "not a list"}, False),
    ({"events": [{"name": "no event key"}]}, False),
    ({"responses": ["not an object"]}, False),
    ({"events": [{"event": "slot", "name": 3}]}, False),
]


@pytest.mark.parametrize(("answer", "valid"), ANSWERS)
def test_action_response_format_spec_accepts_sdk_answers_and_refuses_bad_ones(
    answer: dict[str, Any], valid: bool
) -> None:
    """Rasa's spec still tells good answers from bad ones, and our cached validator
    (rasa_fixes.apply) gives Rasa's own verdict on each, with the same message."""
    assert _parameters(RemoteAction.action_response_format_spec) == []
    rasa_fixes.apply()
    rasa_fixes.apply()  # idempotent
    action = RemoteAction("action_x", None)
    rasa_original = rasa_fixes.original("RemoteAction._validate_action_result")
    assert RemoteAction._validate_action_result is not rasa_original
    for validate in (rasa_original, RemoteAction._validate_action_result):
        if valid:
            assert validate(action, copy.deepcopy(answer)) is True
        else:
            with pytest.raises(ValidationError, match="Failed to validate Action server resp"):
                validate(action, copy.deepcopy(answer))


# -- trackers, locks and the handoff (bot/handoff/tracker.py) -------------------------------


async def _append(agent: Agent, conversation_id: str, events: list[Event]) -> None:
    """What bot.handoff.tracker.RasaHistory does, with the same Rasa calls."""
    async with agent.lock_store.lock(conversation_id):
        tracker = await agent.tracker_store.get_or_create_tracker(conversation_id)
        for event in events:
            tracker.update(event)
        await agent.tracker_store.save(tracker)


def test_tracker_writes_under_the_lock_wait_for_the_turn() -> None:
    assert _parameters(LockStore.lock)[:2] == ["self", "conversation_id"]

    async def scenario() -> list[str]:
        agent = Agent(domain=DOMAIN, lock_store=InMemoryLockStore())
        started, finish = asyncio.Event(), asyncio.Event()

        class Processor:  # the turn: holds the conversation while it runs
            async def handle_message(self, message: UserMessage) -> None:
                started.set()
                await finish.wait()
                await _append(agent, "unrelated", [])  # other conversations are free
                tracker = await agent.tracker_store.get_or_create_tracker(message.sender_id)
                tracker.update(UserUttered("turn"))
                await agent.tracker_store.save(tracker)

        agent.processor = Processor()
        turn = asyncio.create_task(agent.handle_message(UserMessage("hi", sender_id="c1")))
        await started.wait()
        write = asyncio.create_task(_append(agent, "c1", [UserUttered("relayed")]))
        await asyncio.sleep(0.05)
        assert not write.done()  # waits for the turn
        finish.set()
        await asyncio.wait_for(asyncio.gather(turn, write), timeout=5)
        tracker = await agent.tracker_store.retrieve("c1")
        return [e.text for e in tracker.events if isinstance(e, UserUttered)]

    assert asyncio.run(scenario()) == ["turn", "relayed"]


def test_a_dead_turns_rasa_lock_is_freed_when_its_conversation_is_taken_over() -> None:
    """A ticket issued to a turn that never ends (its process was killed) holds the lock;
    delete_lock frees it at once, and the next turn takes the lock without waiting."""
    assert _parameters(LockStore.delete_lock)[:2] == ["self", "conversation_id"]

    async def scenario() -> float:
        store = InMemoryLockStore()
        store.issue_ticket("c1", lock_lifetime=60)  # the dead turn's ticket, never finished
        assert store.is_someone_waiting("c1") or store.get_lock("c1") is not None
        store.delete_lock("c1")
        start = time.monotonic()
        async with store.lock("c1", wait_time_in_seconds=0.05):
            pass
        return time.monotonic() - start

    assert asyncio.run(scenario()) < 1.0


@pytest.mark.parametrize("kind", ["memory", "sql"])
def test_tracker_store_round_trips_appended_events(kind: str, tmp_path: Path) -> None:
    store = (
        InMemoryTrackerStore(DOMAIN)
        if kind == "memory"
        else SQLTrackerStore(DOMAIN, dialect="sqlite", db=str(tmp_path / "trackers.db"))
    )
    agent = Agent(domain=DOMAIN, tracker_store=store, lock_store=InMemoryLockStore())
    assert _parameters(type(agent.tracker_store).get_or_create_tracker)[:2] == [
        "self", "sender_id",
    ]  # fmt: skip

    async def scenario() -> DialogueStateTracker:
        await _append(agent, "c1", [UserUttered("relayed", metadata={"handoff": True})])
        await _append(agent, "c1", [
            BotUttered("answer", metadata={"handoff": True, "counsellor": "7"}),
            ConversationResumed(), ActionExecuted("action_listen"),
        ])  # fmt: skip
        return await agent.tracker_store.retrieve("c1")

    tracker = asyncio.run(scenario())
    assert [e.type_name for e in tracker.events] == ["action", "user", "bot", "resume", "action"]
    assert tracker.events[1].metadata == {"handoff": True}
    assert tracker.events[2].metadata["counsellor"] == "7"
    # After a turn, the channels read the tracker Rasa saved before handle_message returned.
    assert "await self.save_tracker(tracker)" in inspect.getsource(MessageProcessor.handle_message)


def test_pause_then_resume_and_listen_give_the_next_turn_a_fresh_start() -> None:
    paused = _tracker(
        UserUttered("parler", intent={"name": "handoff", "confidence": 1.0}),
        ActionExecuted("action_handoff"),
        ConversationPaused(),
        UserUttered("relayed", metadata={"handoff": True}),
        BotUttered("from the counsellor", metadata={"handoff": True}),
    )
    assert paused.is_paused()
    assert not MessageProcessor._should_handle_message(paused)
    assert "self._should_handle_message(tracker)" in inspect.getsource(
        MessageProcessor._run_prediction_loop
    )  # a paused conversation gets no bot action

    greet = UserUttered("hi", intent={"name": "greet", "confidence": 1.0})
    resumed = copy.deepcopy(paused)
    for event in (ConversationResumed(), ActionExecuted("action_listen"), greet):
        resumed.update(event)
    assert not resumed.is_paused() and MessageProcessor._should_handle_message(resumed)
    state = resumed.past_states(DOMAIN)[-1]
    assert state["prev_action"] == {"action_name": "action_listen"}
    assert state["user"]["intent"] == "greet"

    # Without the action_listen, the next turn would continue the paused action.
    unlistened = copy.deepcopy(paused)
    for event in (ConversationResumed(), copy.deepcopy(greet)):
        unlistened.update(event)
    assert unlistened.past_states(DOMAIN)[-1]["prev_action"] == {"action_name": "action_handoff"}


# -- the server and the channels (bot/channels/*, credentials.yml) -------------------------


def test_app_ctx_agent_is_set_before_server_start(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = object()

    async def load_agent(**kwargs: Any) -> Any:
        return loaded

    monkeypatch.setattr(run.agent, "load_agent", load_agent)
    app = SimpleNamespace(ctx=SimpleNamespace())
    assert asyncio.run(run.load_agent_on_start("m.tar.gz", None, None, app, None)) is loaded
    assert app.ctx.agent is loaded

    listeners: list[tuple[Any, str]] = []
    fake_app = SimpleNamespace(
        register_listener=lambda listener, event: listeners.append((listener, event)),
        run=lambda **kwargs: None,
    )
    monkeypatch.setattr(run, "create_http_input_channels", lambda channel, credentials: [])
    monkeypatch.setattr(run, "configure_app", lambda *args, **kwargs: fake_app)
    monkeypatch.setattr(run.telemetry, "track_server_start", lambda *args, **kwargs: None)
    monkeypatch.setattr(rasa_common, "update_sanic_log_level", lambda *args, **kwargs: None)
    run.serve_application(model_path="m.tar.gz", credentials="credentials.yml")
    starts = [
        event for listener, event in listeners
        if isinstance(listener, functools.partial) and listener.func is run.load_agent_on_start
    ]  # fmt: skip
    assert starts == ["before_server_start"]  # before our channels' after_server_start


def test_credentials_build_channels_by_module_path_and_mount_them_under_webhooks(
    tmp_path: Path,
) -> None:
    for method, parameters in (
        (InputChannel.name, []),
        (InputChannel.from_credentials, ["credentials"]),
        (InputChannel.url_prefix, ["self"]),
        (InputChannel.blueprint, ["self", "on_new_message"]),
        (InputChannel.get_output_channel, ["self"]),
    ):
        assert _parameters(method) == parameters, method
    assert _parameters(UserMessage)[:3] == ["text", "output_channel", "sender_id"]
    assert {"input_channel", "message_id", "metadata"} <= set(_parameters(UserMessage))

    credentials = tmp_path / "credentials.yml"
    credentials.write_text(f"rest:\n{__name__}.ProbeInput:\n  token: x\n", encoding="utf-8")
    rest, probe = run.create_http_input_channels(None, str(credentials))
    assert isinstance(probe, ProbeInput) and probe.credentials == {"token": "x"}

    app = Sanic(f"rasa_internals_{uuid.uuid4().hex}")
    rasa_channel.register([rest, probe], app, route="/webhooks/")
    app.router.finalize()
    assert "webhooks/probe/webhook" in {r.path for r in app.router.routes}

    handled: list[UserMessage] = []

    class LoadedAgent:
        async def handle_message(self, message: UserMessage) -> None:
            handled.append(message)

    app.ctx.agent = LoadedAgent()  # what load_agent_on_start sets
    message = UserMessage("hi", NamedOutput(), "c1", input_channel="probe")
    asyncio.run(probe.handler(message))
    assert handled == [message]


def test_output_channel_send_response_calls_the_methods_we_override() -> None:
    for name, parameters in (
        ("send_text_message", ["self", "recipient_id", "text", "kwargs"]),
        ("send_text_with_buttons", ["self", "recipient_id", "text", "buttons", "kwargs"]),
        ("send_custom_json", ["self", "recipient_id", "json_message", "kwargs"]),
        ("send_response", ["self", "recipient_id", "message"]),
    ):
        assert _parameters(getattr(OutputChannel, name)) == parameters, name
    output = NamedOutput()
    buttons = [{"title": "Oui", "payload": "/greet"}]

    async def send(message: dict[str, Any]) -> None:
        bot = create_bot_utterance({"utter_action": "utter_greet", "custom": {}, **message})
        await output.send_response("c1", bot.message())

    asyncio.run(send({"text": "Bonjour", "buttons": buttons}))
    asyncio.run(send({"text": "Au revoir"}))
    asyncio.run(send({"custom": {"kind": "card"}}))
    assert [(kind, what) for kind, what, _ in output.sent] == [
        ("buttons", ("Bonjour", buttons)), ("text", "Au revoir"), ("custom", {"kind": "card"}),
    ]  # fmt: skip
    assert output.sent[0][2]["utter_action"] == "utter_greet"  # extra keys as **kwargs


def test_action_server_sees_parse_keys_metadata_and_input_channel() -> None:
    parse_data = {
        "intent": {"name": "greet", "confidence": 1.0}, "entities": [], "text": "i ni ce",
        "language": "bm", "safety": {"category": "suicide", "by": "lexicon"},
    }  # fmt: skip
    user = UserUttered("i ni ce", parse_data["intent"], [], parse_data, input_channel="sms",
                       message_id="sms-1", metadata={"country": "ML"})  # fmt: skip
    source = inspect.getsource(MessageProcessor._handle_message_with_tracker)
    assert "input_channel=message.input_channel" in source
    assert "metadata=message.metadata" in source
    state = _tracker(user).current_state(EventVerbosity.ALL)
    tracker = Tracker.from_dict(state)
    assert tracker.latest_message["language"] == "bm"
    assert tracker.latest_message["safety"]["category"] == "suicide"
    assert tracker.get_latest_input_channel() == "sms"
    assert [e.get("metadata") for e in tracker.events if e.get("event") == "user"] == [
        {"country": "ML"}
    ]


def test_sdk_events_deserialise_into_rasa_events() -> None:
    pairs = [
        (sdk_events.SlotSet("language", "bm"), SlotSet("language", "bm")),
        (sdk_events.FollowupAction("action_listen"), FollowupAction("action_listen")),
        (sdk_events.ConversationPaused(), ConversationPaused()),
        (sdk_events.SessionStarted(), SessionStarted()),
        (sdk_events.ActionExecuted("action_listen"), ActionExecuted("action_listen")),
    ]
    for sdk_event, rasa_event in pairs:
        assert Event.from_parameters(dict(sdk_event)) == rasa_event, sdk_event


# -- our NLU components (bot/nlu/components.py, config.yml; read only) ----------------------


def test_message_output_properties_carry_our_parse_keys() -> None:
    assert _parameters(Message.set) == ["self", "prop", "info", "add_to_output"]
    message = Message(data={TEXT: "aidez moi"})
    message.set(INTENT, {"name": "greet", "confidence": 0.9}, add_to_output=True)  # a classifier
    message.set(INTENT_RANKING_KEY, [], add_to_output=True)
    message.set("language", "fr", add_to_output=True)
    message.set("not_output", 1)
    message.data[INTENT] = {"name": "emergency", "confidence": 1.0}  # override_intent
    output = message.as_dict(only_output_properties=True)
    assert output["language"] == "fr" and output[INTENT]["name"] == "emergency"
    assert INTENT_RANKING_KEY in output and "not_output" not in output


def test_graph_node_merges_defaults_and_tokenizer_privates_exist(tmp_path: Path) -> None:
    assert _parameters(Tokenizer._apply_token_pattern) == ["self", "tokens"]
    node = GraphNode(
        node_name="tokenizer", component_class=NormalisingTokenizer, constructor_name="create",
        component_config={}, fn_name="process", inputs={"messages": "parent"}, eager=True,
        model_storage=LocalModelStorage(tmp_path), resource=None,
        execution_context=ExecutionContext(GraphSchema({}), "test"),
    )  # fmt: skip
    _, [message] = node(("parent", [Message(data={TEXT: "bla " * 300})]))
    assert len(message.get(TOKENS_NAMES[TEXT])) == 200  # max_tokens read from self._config
    tokenizer = NormalisingTokenizer({**NormalisingTokenizer.get_default_config(),
                                      "token_pattern": r"ab"})  # fmt: skip
    split = Message(data={TEXT: "abab xyz"})
    tokenizer.process([split])  # Rasa's token_pattern, applied by _apply_token_pattern
    assert [t.text for t in split.get(TOKENS_NAMES[TEXT])] == ["ab", "ab", "xyz"]


def test_fingerprint_addon_changes_the_training_cache_key(monkeypatch: pytest.MonkeyPatch) -> None:
    assert _parameters(GraphComponent.fingerprint_addon) == ["config"]
    config = NormalisingTokenizer.get_default_config()
    before = calculate_fingerprint_key(NormalisingTokenizer, config, {})
    monkeypatch.setattr(NormalisingTokenizer, "fingerprint_addon",
                        classmethod(lambda cls, config: "normalise.py changed"))  # fmt: skip
    assert calculate_fingerprint_key(NormalisingTokenizer, config, {}) != before


def test_recipe_runs_our_components_in_order_then_the_regex_handler(tmp_path: Path) -> None:
    assert _parameters(GraphComponent.create) == [
        "config", "model_storage", "resource", "execution_context",
    ]  # fmt: skip
    assert _parameters(GraphComponent.load)[:4] == _parameters(GraphComponent.create)
    assert _parameters(DefaultV1Recipe.register) == ["component_types", "is_trainable",
                                                     "model_from"]  # fmt: skip
    component_types = set(DefaultV1Recipe.ComponentType.__members__)
    assert {"MESSAGE_TOKENIZER", "INTENT_CLASSIFIER"} <= component_types
    storage = LocalModelStorage(tmp_path)
    with storage.write_to(Resource("r")) as directory:
        (Path(directory) / "f").write_text("x")
    with storage.read_from(Resource("r")) as directory:
        assert (Path(directory) / "f").read_text() == "x"

    config = read_config_file(str(PROJECT_ROOT / "config.yml"))
    graph = DefaultV1Recipe().graph_config_for_recipe(config, {}, TrainingType.BOTH)
    predict = graph.predict_schema.nodes
    order = [s.uses for s in predict.values() if s.fn == "process"]
    ours = [SafetyCheck, NormalisingTokenizer, LanguageDetector, UnknownWordsFallback, SafetyGate]
    assert [c for c in order if c in ours] == ours
    assert order[-1].__name__ == "RegexMessageHandler"
    assert order[order.index(SafetyGate) + 1].__name__ == "RegexMessageHandler"
    trained = {s.uses for s in graph.train_schema.nodes.values() if s.fn == "train"}
    assert {LanguageDetector, UnknownWordsFallback} <= trained

    # After our SafetyGate, a "/intent" payload is replaced by a new message: our keys go.
    payload = Message(data={TEXT: "/media"})
    payload.set("safety", {"category": "x"}, add_to_output=True)
    unpacked = YAMLStoryReader.unpack_regex_message(payload, DOMAIN)
    assert unpacked.get(INTENT)["name"] == "media" and unpacked.get("safety") is None


def test_an_nlu_component_asking_for_the_tracker_gets_it() -> None:
    config = read_config_file(str(PROJECT_ROOT / "config.yml"))
    graph = DefaultV1Recipe().graph_config_for_recipe(config, {}, TrainingType.BOTH)
    risk = next(s for s in graph.predict_schema.nodes.values() if s.uses is RiskCheck)
    assert risk.needs.get("tracker") == PLACEHOLDER_TRACKER
    assert "tracker" in _parameters(MessageProcessor.parse_message)
    assert "tracker" in _parameters(MessageProcessor._parse_message_with_graph)
    source = inspect.getsource(MessageProcessor._parse_message_with_graph)
    assert "PLACEHOLDER_TRACKER: tracker" in source
    source = inspect.getsource(MessageProcessor._handle_message_with_tracker)
    assert "self.parse_message(message, tracker)" in source


def test_nlu_yaml_metadata_layout() -> None:
    data = RasaYAMLReader().reads(
        'version: "3.1"\nnlu:\n'
        "- intent: greet\n  metadata:\n    language: bm\n  examples: |\n    - i ni ce\n"
        "- intent: thank\n  examples:\n  - text: merci\n    metadata:\n      language: fr\n"
    )
    examples = {m.get(TEXT): m.get("metadata") for m in data.training_examples}
    assert examples["i ni ce"] == {"intent": {"language": "bm"}}
    assert examples["merci"] == {"example": {"language": "fr"}}
    assert LanguageDetector.labelled_examples(data) == [("i ni ce", "bm"), ("merci", "fr")]


# -- `rasa data validate` (bot/validate.py) ------------------------------------------------

PROBE_PROJECT = {
    "config.yml": "recipe: default.v1\nlanguage: en\nassistant_id: probe\npipeline: []\n"
    "policies: []\n",
    "domain/a.yml": 'version: "3.1"\nintents:\n  - greet\n  - faq\n  - silent\nresponses:\n'
    "  utter_greet:\n    - text: hi\n  utter_orphan:\n    - text: orphan\n"
    "  utter_faq/ask:\n    - text: answer\n",
    "data/nlu.yml": 'version: "3.1"\nnlu:\n  - intent: greet\n    examples: |\n      - hello\n'
    "      - hi there\n  - intent: faq/ask\n    examples: |\n      - what is this\n"
    "      - tell me more\n",
    "data/rules.yml": 'version: "3.1"\nrules:\n  - rule: greet\n    steps:\n'
    "      - intent: greet\n      - action: utter_greet\n  - rule: faq\n    steps:\n"
    "      - intent: faq\n      - action: utter_faq\n",
}


def test_validator_findings_are_user_warnings_our_patterns_match(tmp_path: Path) -> None:
    assert _parameters(validate_files)[:3] == ["fail_on_warnings", "max_history", "importer"]
    assert all(
        issubclass(category, Warning) and isinstance(pattern, str)
        for category, pattern in rasa_common.EXPECTED_WARNINGS
    )
    for name, text in PROBE_PROJECT.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    importer = TrainingDataImporter.load_from_config(
        str(tmp_path / "config.yml"), str(tmp_path / "domain"), [str(tmp_path / "data")]
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        validate_files(fail_on_warnings=False, max_history=None, importer=importer)
    messages = [str(w.message) for w in caught if w.category is UserWarning]

    def found(pattern: re.Pattern[str]) -> list[str]:
        return [m.group(1) for m in map(pattern.search, messages) if m]

    assert found(our_validate._UNUSED) == ["utter_orphan"]
    assert found(our_validate._NO_EXAMPLES) == ["silent"]
    assert found(our_validate._DUPLICATED) == ["faq"]  # the retrieval intent Rasa adds again


# -- event loops, commands ------------------------------------------------------------------


def test_action_endpoint_and_lock_store_are_not_bound_to_one_event_loop() -> None:
    assert "async with self.session() as session" in inspect.getsource(EndpointConfig.request)
    endpoint = EndpointConfig("http://actions.invalid")

    async def sessions() -> bool:
        first, second = endpoint.session(), endpoint.session()
        fresh = first is not second and isinstance(first, aiohttp.ClientSession)
        await first.close()
        await second.close()
        return fresh

    assert asyncio.run(sessions())

    store = InMemoryLockStore()

    async def hold() -> None:
        async with store.lock("c1"):
            await asyncio.sleep(0)

    asyncio.run(hold())  # one event loop,
    asyncio.run(hold())  # then another: the same store works on both
    assert store.conversation_locks == {}


def test_command_line_helpers_keep_their_signatures() -> None:
    assert _parameters(rasa_common.configure_logging_and_warnings)[0] == "log_level"
    assert _parameters(log_utils.configure_structlog)[0] == "log_level"
    assert _parameters(Agent.load)[0] == "model_path"
    assert _parameters(Agent.parse_message) == ["self", "message_data"]
    assert inspect.iscoroutinefunction(inspect.unwrap(Agent.parse_message))  # awaited


def test_tracker_events_table_is_the_one_privacy_erases(tmp_path: Path) -> None:
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.events import BotUttered, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker
    from sqlalchemy import inspect as inspect_db

    from bot.privacy.tracker import EVENTS, RasaEvents

    store = SQLTrackerStore(dialect="sqlite", db=str(tmp_path / "rasa.db"))
    columns = {c["name"] for c in inspect_db(store.engine).get_columns("events")}
    assert columns == set(EVENTS.c.keys())
    tracker = DialogueStateTracker.from_events(
        "c1", [UserUttered("je suis a Lyon", {"name": "greet"}), BotUttered("Bonjour")])
    asyncio.run(store.save(tracker))
    with store.engine.connect() as connection:
        data = list(connection.execute(EVENTS.select()))
    assert sum('"text": "je suis a Lyon"' in row.data for row in data) == 1
    events = RasaEvents(store.engine)
    assert events.delete("c1") == len(data)
    store.engine.dispose()


# -- the list itself ------------------------------------------------------------------------


def test_versions_are_the_ones_the_list_was_checked_against() -> None:
    assert (rasa.__version__, rasa_sdk.__version__) == (RASA_VERSION, RASA_SDK_VERSION), (
        "Rasa or rasa-sdk was upgraded: re-check every entry of bot/rasa_fixes.RASA_INTERNALS "
        "(and its test here) against the new version, then update these pins."
    )


LIST_CHECKS = {
    "test_versions_are_the_ones_the_list_was_checked_against",
    "test_every_entry_names_its_test_and_every_test_its_entry",
    "test_private_rasa_names_and_patches_in_our_code_are_listed",
}


def test_every_entry_names_its_test_and_every_test_its_entry() -> None:
    module = sys.modules[__name__]
    tests = {n for n, f in vars(module).items() if n.startswith("test_") and callable(f)}
    listed = [entry.test for entry in rasa_fixes.RASA_INTERNALS]
    assert sorted(set(listed) - tests) == []  # every entry is guarded by a test here
    assert len(listed) == len(set(listed))
    assert sorted(tests - set(listed) - LIST_CHECKS) == []  # and every test is for an entry
    for entry in rasa_fixes.RASA_INTERNALS:
        assert entry.name and entry.used_in and entry.why, entry


# Private names of other libraries that our code uses (not Rasa's).
NOT_RASA = {"_SubParsersAction"}  # argparse


def test_private_rasa_names_and_patches_in_our_code_are_listed() -> None:
    """A private name our code uses without defining it, or an assignment to an attribute of
    a Rasa class, must have its entry in RASA_INTERNALS."""
    defined: set[str] = set()
    used: dict[str, str] = {}
    patched: dict[str, str] = {}
    for folder in ("bot", "actions"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            from_rasa = {
                alias.asname or alias.name
                for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("rasa")
                for alias in node.names
            }
            where = str(path.relative_to(PROJECT_ROOT))
            for node in ast.walk(tree):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    defined.add(node.name)
                elif isinstance(node, ast.arg):
                    defined.add(node.arg)
                elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                    defined.add(node.id)
                elif isinstance(node, ast.Attribute):
                    if isinstance(node.ctx, ast.Store):
                        defined.add(node.attr)
                        if isinstance(node.value, ast.Name) and node.value.id in from_rasa:
                            patched[f"{node.value.id}.{node.attr}"] = f"{where}:{node.lineno}"
                    elif node.attr.startswith("_") and not node.attr.startswith("__"):
                        used.setdefault(node.attr, f"{where}:{node.lineno}")
    listed = " ".join(entry.name for entry in rasa_fixes.RASA_INTERNALS)
    foreign = {n: w for n, w in used.items() if n not in defined and n not in NOT_RASA}
    assert {n: w for n, w in foreign.items() if n not in listed} == {}
    assert {n: w for n, w in patched.items() if n not in listed} == {}
    assert "RemoteAction._validate_action_result" in patched  # the scan sees our patch
