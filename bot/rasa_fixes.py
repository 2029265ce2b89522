"""Fixes to Rasa 3.6.21 internals, applied once by the Rasa server process at start-up.

Each fix keeps Rasa's behaviour and removes a measured cost; each is tested in
``tests/test_rasa_fixes.py`` against the behaviour it replaces.

- ``RemoteAction._validate_action_result`` calls ``jsonschema.validate`` on every answer of
  the action server, which first checks the schema itself against the JSON-Schema
  meta-schema: py-spy showed that check as 60 % of the Python time of a turn, time during
  which the webhooks wait for the interpreter lock (``make bench-channels``). Here the
  schema is checked once and its validator kept; invalid answers are refused as before.
"""

from __future__ import annotations

import functools
from typing import Any

_applied = False


@functools.cache
def _action_response_validator() -> Any:
    from jsonschema.validators import validator_for
    from rasa.core.actions.action import RemoteAction

    schema = RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)


def _validate_action_result(self: Any, result: dict[str, Any]) -> bool:
    """Rasa's method with the validator built once (same errors, same message)."""
    from jsonschema.exceptions import best_match
    from rasa.shared.constants import DOCS_BASE_URL

    error = best_match(_action_response_validator().iter_errors(result))
    if error is None:
        return True
    error.message += (
        ". Failed to validate Action server response from API, make sure your response "
        "from the Action endpoint is valid. For more information about the format visit "
        f"{DOCS_BASE_URL}/custom-actions"
    )
    raise error


def apply() -> None:
    """Install the fixes (idempotent)."""
    global _applied
    if _applied:
        return
    from rasa.core.actions.action import RemoteAction

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    _applied = True
