"""The Rasa fixes keep Rasa's verdicts: same answers accepted, same answers refused."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import ValidationError, validate
from rasa.core.actions.action import RemoteAction

from bot import rasa_fixes

ANSWERS: list[dict[str, Any]] = [
    {"events": [], "responses": []},
    {"events": [{"event": "slot", "name": "language", "value": "bm"}], "responses": [{}]},
    {"events": [{"event": "followup", "name": "action_listen"}]},
    {},
    {"events": "not a list"},
    {"events": [{"name": "no event key"}]},
    {"responses": ["not an object"]},
    {"events": [{"event": "slot", "name": 3}]},
]


@pytest.mark.parametrize("answer", ANSWERS)
def test_the_cached_validator_agrees_with_jsonschema(answer: dict[str, Any]) -> None:
    rasa_fixes.apply()
    rasa_fixes.apply()  # idempotent
    action = RemoteAction("action_x", None)
    try:
        validate(answer, RemoteAction.action_response_format_spec())
    except ValidationError:
        with pytest.raises(ValidationError, match="Failed to validate Action server response"):
            action._validate_action_result(answer)
    else:
        assert action._validate_action_result(answer) is True
