"""``rasa data validate`` that only tolerates what this project does on purpose.

Rasa warns about every response no rule or story uses; ours are often sent by actions
(menus, fallback). Such a warning is accepted only when the response's name appears in
``actions/`` or ``bot/``; any other warning fails validation.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from bot import PROJECT_ROOT

_UNUSED = re.compile(r"The utterance '([^']+)' is not used in any story or rule\.")


def _sent_by_code(name: str, root: Path) -> bool:
    quoted = (f'"{name}"', f"'{name}'")
    return any(
        q in path.read_text(encoding="utf-8")
        for folder in ("actions", "bot")
        for path in (root / folder).rglob("*.py")
        for q in quoted
    )


def validate(root: Path = PROJECT_ROOT) -> list[str]:
    """Validate domain, data and config; return the warnings that are problems."""
    from rasa.cli.utils import validate_files
    from rasa.shared.importers.importer import TrainingDataImporter

    importer = TrainingDataImporter.load_from_config(
        str(root / "config.yml"), str(root / "domain"), [str(root / "data")]
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        validate_files(fail_on_warnings=False, max_history=None, importer=importer)
    problems = []
    for warning in caught:
        if warning.category is not UserWarning:
            continue  # deprecations from libraries, not findings about our data
        message = str(warning.message)
        unused = _UNUSED.search(message)
        if unused and _sent_by_code(unused.group(1), root):
            continue
        problems.append(message)
    return problems
