"""Fixes to Rasa 3.6.21 internals, and the list of every Rasa internal this project relies on.

The fix, applied once by the Rasa server process at start-up (:func:`apply`), keeps Rasa's
behaviour and removes a measured cost:

- ``RemoteAction._validate_action_result`` calls ``jsonschema.validate`` on every answer of
  the action server, which first checks the schema itself against the JSON-Schema
  meta-schema: py-spy showed that check as 60 % of the Python time of a turn, time during
  which the webhooks wait for the interpreter lock (``make bench-channels``). Here the
  schema is checked once and its validator kept; invalid answers are refused as before.

:data:`RASA_INTERNALS` lists every private name, undocumented behaviour and monkey-patch of
Rasa and rasa-sdk that the code relies on: what, where, why, and the test of
``tests/unit/test_rasa_internals.py`` that fails when an upgrade changes it. That test file
also pins the Rasa and rasa-sdk versions the list was checked against: on an upgrade, read
each entry again, run the tests, and only then move the pin. Code that starts relying on a
new internal adds an entry here and its test there (a private Rasa name used in ``bot/`` or
``actions/`` and missing from this list fails the tests).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

_applied = False
# Rasa's own functions that apply() replaced, by "Class.attribute" (for the tests).
_originals: dict[str, Any] = {}


@dataclass(frozen=True)
class RasaInternal:
    """One thing of Rasa or rasa-sdk the project relies on beyond its documented API."""

    name: str  # the Rasa name or behaviour
    used_in: str  # where we rely on it
    why: str  # what we need of it, what would break
    test: str  # the test in tests/unit/test_rasa_internals.py that guards it


RASA_INTERNALS: tuple[RasaInternal, ...] = (
    RasaInternal(
        "rasa.core.nlg.response.TemplatedNaturalLanguageGenerator._random_response_for"
        "(utter_action, output_channel, filled_slots)",
        "bot/i18n/nlg.py (CatalogNLG.generate)",
        "Picks the response variation as Rasa does (channel, slot conditions, with our slot "
        "overrides). Returns the domain's own dict, not a copy: render_response copies it.",
        "test_random_response_for_picks_a_variation_by_channel_and_condition",
    ),
    RasaInternal(
        "rasa.core.nlg.response.TemplatedNaturalLanguageGenerator._fill_response"
        "(response, filled_slots, **kwargs)",
        "bot/i18n/nlg.py (CatalogNLG.generate)",
        "Fills {slot} and {keyword} placeholders in the rendered text and button titles "
        "(keywords win over slots).",
        "test_fill_response_fills_slot_and_keyword_placeholders",
    ),
    RasaInternal(
        "NaturalLanguageGenerator.create: an endpoints.yml 'nlg: type: <module path>' is "
        "built as cls(endpoint_config=..., domain=...)",
        "endpoints.yml, bot/i18n/nlg.py (CatalogNLG.__init__)",
        "Our NLG is loaded by module path and needs the domain's responses.",
        "test_custom_nlg_is_built_from_its_module_path",
    ),
    RasaInternal(
        "RemoteAction._utter_responses: the keys of an action's message besides 'response' "
        "(slots=, position=...) reach nlg.generate(**kwargs); the channel name passed is "
        "output_channel.name() called on the instance; the leftovers end in the BotUttered",
        "actions/* (dispatcher.utter_message(response=..., slots=...)), bot/i18n/nlg.py "
        "(SLOTS_KEYWORD), bot/channels/inbound.py (ContactOutput.name)",
        "An action renders with the slot values it is about to set, and its numbers/dates; "
        "channel-specific variations follow our output channel.",
        "test_remote_action_passes_utter_message_keywords_to_the_nlg",
    ),
    RasaInternal(
        "RemoteAction._validate_action_result(self, result) -> bool, called by "
        "RemoteAction.run on every action-server answer (monkey-patched)",
        "bot/rasa_fixes.py (apply, called by bot/channels/base.py from_credentials)",
        "Replaced by a cached validator: the method must keep its name, signature and "
        "contract (True, or jsonschema.ValidationError with Rasa's message).",
        "test_remote_action_run_validates_through_validate_action_result",
    ),
    RasaInternal(
        "RemoteAction.action_response_format_spec() (static): the JSON schema of an "
        "action-server answer",
        "bot/rasa_fixes.py (_action_response_validator)",
        "The cached validator is built from it; it must still accept rasa-sdk's answers and "
        "refuse malformed ones.",
        "test_action_response_format_spec_accepts_sdk_answers_and_refuses_bad_ones",
    ),
    RasaInternal(
        "Agent.lock_store.lock(conversation_id): async context manager, also held by "
        "Agent.handle_message for the whole turn",
        "bot/handoff/tracker.py (RasaHistory._append)",
        "Relayed handoff messages and the resume are written between turns, never inside one.",
        "test_tracker_writes_under_the_lock_wait_for_the_turn",
    ),
    RasaInternal(
        "Agent.lock_store.delete_lock(conversation_id): frees a conversation's ticket lock, "
        "also one a killed process held (Redis lock store)",
        "bot/channels/inbound.py (TurnRunner._free_rasa_lock)",
        "The conversation an instance takes over from a dead one is not held up to the "
        "lock's lifetime (60 s) by the dead turn's lock.",
        "test_a_dead_turns_rasa_lock_is_freed_when_its_conversation_is_taken_over",
    ),
    RasaInternal(
        "Agent.tracker_store (FailSafeTrackerStore): get_or_create_tracker(sender_id), "
        "tracker.update(event), save(tracker) appends only the new events (SQL store), "
        "retrieve(sender_id); MessageProcessor.handle_message saves before it returns",
        "bot/handoff/tracker.py (RasaHistory), bot/channels/inbound.py (TurnRunner._rasa_turn "
        "reads the language slot after the turn)",
        "Events appended outside a turn are stored once, in order; the language read after "
        "a turn is the one the turn set.",
        "test_tracker_store_round_trips_appended_events",
    ),
    RasaInternal(
        "ConversationPaused stops the prediction loop (MessageProcessor._should_handle_message"
        "); ConversationResumed unpauses; a following ActionExecuted('action_listen') makes "
        "the next turn start from prev_action = action_listen",
        "actions/handoff.py (ConversationPaused), bot/handoff/tracker.py (RasaHistory.resume)",
        "After a handoff the bot is silent; after the hand-back rules apply again instead of "
        "continuing from the paused action.",
        "test_pause_then_resume_and_listen_give_the_next_turn_a_fresh_start",
    ),
    RasaInternal(
        "app.ctx.agent: set by rasa.core.run.load_agent_on_start, a 'before_server_start' "
        "listener; Rasa's on_new_message handler calls app.ctx.agent.handle_message",
        "bot/channels/base.py (after_server_start listener), bot/channels/sms.py, telegram.py, "
        "local.py (request.app.ctx.agent)",
        "The channels reach the agent's tracker and lock stores through it, once loaded.",
        "test_app_ctx_agent_is_set_before_server_start",
    ),
    RasaInternal(
        "InputChannel contract: credentials.yml keys are module paths built with "
        "cls.from_credentials(credentials); blueprint(on_new_message) is mounted at "
        "/webhooks/<url_prefix() = name()>",
        "credentials.yml, bot/runtime.py (SmsChannel...), bot/channels/base.py (ProviderInput)",
        "Our channels are found, built without arguments from Rasa, and served where the "
        "providers post.",
        "test_credentials_build_channels_by_module_path_and_mount_them_under_webhooks",
    ),
    RasaInternal(
        "OutputChannel.send_response dispatch: buttons -> send_text_with_buttons(recipient_id, "
        "text, buttons, **kwargs) only, text -> send_text_message(recipient_id, text, "
        "**kwargs), custom -> send_custom_json only when not empty",
        "bot/channels/inbound.py (ContactOutput)",
        "Each bot message is sent once, with its buttons, through the methods we override.",
        "test_output_channel_send_response_calls_the_methods_we_override",
    ),
    RasaInternal(
        "Tracker state sent to the action server: parse-data keys added by components "
        "(language, safety) in latest_message, UserMessage.metadata as the user event's "
        "metadata, UserMessage.input_channel as latest_input_channel",
        "bot/channels/inbound.py (UserMessage(..., input_channel=, message_id=, metadata=)), "
        "actions/safety.py (country metadata, safety), actions/handoff.py (input channel), "
        "actions/language.py (language)",
        "The actions see what the channels and our NLU components added.",
        "test_action_server_sees_parse_keys_metadata_and_input_channel",
    ),
    RasaInternal(
        "rasa-sdk events deserialise into Rasa events (SlotSet, FollowupAction, "
        "ConversationPaused, SessionStarted, ActionExecuted)",
        "actions/* (session start carrying the language, FollowupAction, handoff pause)",
        "The wire format between rasa-sdk 3.6.2 and Rasa 3.6.21.",
        "test_sdk_events_deserialise_into_rasa_events",
    ),
    RasaInternal(
        "Message.set(key, value, add_to_output=True) puts a key in the parse result; a key "
        "already output (intent, intent_ranking) may be overwritten through message.data",
        "bot/nlu/components.py (LanguageDetector, SafetyCheck, SafetyGate, override_intent)",
        "language, language_confidence and safety reach the tracker; our intent overrides win.",
        "test_message_output_properties_carry_our_parse_keys",
    ),
    RasaInternal(
        "Tokenizer._apply_token_pattern(tokens) and Tokenizer._config (set by __init__ from "
        "the config GraphNode merged with get_default_config())",
        "bot/nlu/components.py (NormalisingTokenizer.tokenize)",
        "Our tokenizer keeps Rasa's token_pattern handling and reads max_tokens.",
        "test_graph_node_merges_defaults_and_tokenizer_privates_exist",
    ),
    RasaInternal(
        "GraphComponent.fingerprint_addon(config) is part of the training cache key",
        "bot/nlu/components.py (_source_fingerprint)",
        "A change in normalise.py or language_id.py retrains the components that use them.",
        "test_fingerprint_addon_changes_the_training_cache_key",
    ),
    RasaInternal(
        "GraphComponent API (create/load/train/process/process_training_data signatures, "
        "ModelStorage.read_from/write_to) and DefaultV1Recipe.register/ComponentType: "
        "config.yml names our components by module path, the recipe runs them in order and "
        "adds RegexMessageHandler after them, which replaces '/intent' messages (payloads) "
        "by a new Message without our keys",
        "config.yml, bot/nlu/components.py",
        "Our components are built, trained, loaded and run where config.yml puts them; "
        "button payloads still become intents.",
        "test_recipe_runs_our_components_in_order_then_the_regex_handler",
    ),
    RasaInternal(
        "DefaultV1Recipe._get_needs_from_args: an NLU component whose process() has a "
        "'tracker' parameter gets the PLACEHOLDER_TRACKER input, which "
        "MessageProcessor.parse_message fills with the conversation's tracker before the "
        "message is added (an empty one for POST /model/parse)",
        "bot/nlu/components.py (RiskCheck.process: risk over the last messages, the check-in)",
        "The risk check reads her previous messages and whether it just asked 'are you "
        "safe?'; without the tracker it would judge every message alone.",
        "test_an_nlu_component_asking_for_the_tracker_gets_it",
    ),
    RasaInternal(
        "NLU YAML metadata layout: a block's metadata is message.get('metadata')['intent'], "
        "an example's is ['example']",
        "bot/nlu/components.py (LanguageDetector.labelled_examples)",
        "The language detector learns from the language metadata of data/nlu.",
        "test_nlu_yaml_metadata_layout",
    ),
    RasaInternal(
        "rasa.cli.utils.validate_files(fail_on_warnings, max_history, importer) reports "
        "findings with warnings.warn(UserWarning) in the texts bot/validate.py matches "
        "(unused utterance, intent without examples, duplicated intents across domain "
        "files for retrieval intents); rasa.utils.common.EXPECTED_WARNINGS is a list of "
        "(category, regex) pairs",
        "bot/validate.py (validate, _UNUSED, _NO_EXAMPLES, _DUPLICATED)",
        "Were a warning moved to structlog or reworded, validation would pass silently.",
        "test_validator_findings_are_user_warnings_our_patterns_match",
    ),
    RasaInternal(
        "EndpointConfig.request opens a new aiohttp session per call; InMemoryLockStore holds "
        "no event-loop object",
        "bot/channels/inbound.py (TurnLoop: Rasa's turns run on a second event loop)",
        "Rasa's turn, the action-server calls and the locks work on a loop other than the "
        "server's.",
        "test_action_endpoint_and_lock_store_are_not_bound_to_one_event_loop",
    ),
    RasaInternal(
        "rasa.utils.common.configure_logging_and_warnings(log_level), "
        "rasa.utils.log_utils.configure_structlog(log_level), Agent.load(path) and "
        "Agent.parse_message(text) -> dict",
        "bot/__main__.py (_quiet_rasa, _eval, _eval_language)",
        "Undocumented helpers that quiet Rasa's logs in our commands; parse results carry "
        "intent and language.",
        "test_command_line_helpers_keep_their_signatures",
    ),
    RasaInternal(
        "SQLTrackerStore's table 'events' (id, sender_id, type_name, timestamp, intent_name, "
        "action_name, data = json.dumps(event.as_dict()) with default separators)",
        "bot/privacy/tracker.py (RasaEvents: erase a conversation, scrub old texts)",
        "Rasa 3.6 has no API to delete a conversation or blank its old texts; we delete and "
        "rewrite its rows, and find words by the JSON's '\"text\": \"' spelling.",
        "test_tracker_events_table_is_the_one_privacy_erases",
    ),
)


@functools.cache
def _action_response_validator() -> Any:
    from jsonschema.validators import validator_for  # lazy: only the Rasa server validates
    from rasa.core.actions.action import RemoteAction  # lazy: Rasa core loads TensorFlow

    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
    """Rasa's method with the validator built once (same errors, same message)."""
    from jsonschema.exceptions import best_match  # lazy: only the Rasa server validates
    from rasa.shared.constants import DOCS_BASE_URL  # lazy: with the rest of Rasa

    error = best_match(_action_response_validator().iter_errors(result))
    if error is None:
        return True
    error.message += (
        ". Failed to validate Action server response from API, make sure your response "
        "from the Action endpoint is valid. For more information about the format visit "
        f"{DOCS_BASE_URL}/custom-actions"
    )
    raise error


def original(name: str) -> Any:
    """Rasa's own attribute ``name`` ("RemoteAction._validate_action_result"), patched or not."""
    if name in _originals:
        return _originals[name]
    from rasa.core.actions.action import RemoteAction  # lazy: Rasa core loads TensorFlow

    cls_name, _, attribute = name.partition(".")
    if cls_name != "RemoteAction":
        raise KeyError(name)
    return RemoteAction.__dict__[attribute]


def apply() -> None:
    """Install the fixes (idempotent)."""
    global _applied
    if _applied:
        return
    from rasa.core.actions.action import RemoteAction  # lazy: Rasa core loads TensorFlow

    _originals["RemoteAction._validate_action_result"] = RemoteAction.__dict__[
        "_validate_action_result"
    ]
    RemoteAction._validate_action_result = _validate_action_result
    _applied = True
