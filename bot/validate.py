"""``rasa data validate`` that only tolerates what this project does on purpose.

Three Rasa warnings are accepted, each only where it is known to be wrong:

- a response no rule or story uses, when an action sends it (its name appears in
  ``actions/`` or ``bot/``): our menus and fallback are sent by actions;
- an intent "duplicated across domain files" that is a retrieval intent (``utter_<it>/...``
  responses exist): Rasa adds retrieval intents from the NLU data to a domain that must
  also declare them for the rules, and then reports its own addition as a duplicate;
- an intent with no NLU examples that a payload sends (``"/media"``) or that the safety
  gate sets (the check-in intents of :mod:`bot.safety.context`): never classified.

Any other warning fails validation.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from bot import PROJECT_ROOT
from bot.content import LOCAL_RESPONSE_PREFIX
from bot.safety.context import GATE_INTENTS

if TYPE_CHECKING:
    from rasa.shared.importers.importer import TrainingDataImporter

_UNUSED = re.compile(r"The utterance '([^']+)' is not used in any story or rule\.")
_NO_EXAMPLES = re.compile(
    r"The intent '([^']+)' is listed in the domain file, but is not found in the NLU"
)
_DUPLICATED = re.compile(r"The following duplicated intents have been found .*: (.+)$")


def _code_text(root: Path) -> str:
    """All of our Python source, to look up which responses the code sends."""
    return "\n".join(
        path.read_text(encoding="utf-8")
        for folder in ("actions", "bot")
        for path in (root / folder).rglob("*.py")
    )


def _is_retrieval_intent(intent: str, importer: TrainingDataImporter) -> bool:
    return any(r.startswith(f"utter_{intent}/") for r in importer.get_domain().responses)


def validate(root: Path = PROJECT_ROOT) -> list[str]:
    """Validate domain, data and config; return the warnings that are problems."""
    from rasa.cli.utils import validate_files  # lazy: loads Rasa (0.5 s)
    from rasa.shared.importers.importer import TrainingDataImporter  # lazy: loads Rasa
    from rasa.utils.common import EXPECTED_WARNINGS  # lazy: loads Rasa

    importer = TrainingDataImporter.load_from_config(
        str(root / "config.yml"), str(root / "domain"), [str(root / "data")]
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        validate_files(fail_on_warnings=False, max_history=None, importer=importer)
    code = _code_text(root)
    problems = []
    for warning in caught:
        if warning.category is not UserWarning:
            continue  # deprecations from libraries, not findings about our data
        message = str(warning.message)
        if any(re.match(pattern, message) for _, pattern in EXPECTED_WARNINGS):
            continue  # the warnings Rasa itself silences
        unused = _UNUSED.search(message)
        if unused and any(f"{q}{unused.group(1)}{q}" in code for q in "\"'"):
            continue
        if unused and unused.group(1).startswith(LOCAL_RESPONSE_PREFIX):
            continue  # what her country adds: sent by actions/health.py, by name
        no_examples = _NO_EXAMPLES.search(message)
        if no_examples and (no_examples.group(1) in GATE_INTENTS
                            or any(f"{q}/{no_examples.group(1)}{q}" in code for q in "\"'")):
            continue
        duplicated = _DUPLICATED.search(message)
        if duplicated and all(
            _is_retrieval_intent(i.strip(), importer) for i in duplicated.group(1).split(",")
        ):
            continue
        problems.append(message)
    return problems
