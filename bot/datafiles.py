"""Data files people edit by hand (schedules, the counsellor registry): read them or say
clearly where they are wrong, without a traceback; and the plain tables staff commands
print."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from bot import LANGUAGES


def load_yaml(path: Path) -> Any:
    """The parsed file; a ValueError naming the file and line when it is not valid YAML."""
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(error, "problem", None) or "syntax error"
        raise ValueError(f"{path}: not valid YAML{line}: {problem}") from None


def languages_of(raw: object, where: str) -> tuple[str, ...]:
    """``[fr, bm]`` or ``"fr, bm"`` -> ``("fr", "bm")``, order kept (the first one counts for
    counsellors); a ValueError naming ``where`` for an unknown, repeated or missing one."""
    if isinstance(raw, str):
        raw = re.split(r"[\s,;]+", raw.strip())
    if not isinstance(raw, list | tuple):
        raise ValueError(f"{where}: languages is a list such as [fr, bm]")
    languages = tuple(str(language).strip().lower() for language in raw if str(language).strip())
    if not languages:
        raise ValueError(f"{where}: at least one language is required ({', '.join(LANGUAGES)})")
    for n, language in enumerate(languages):
        if language not in LANGUAGES:
            raise ValueError(
                f"{where}: unknown language {language!r} (languages: {', '.join(LANGUAGES)})"
            )
        if language in languages[:n]:
            raise ValueError(f"{where}: language {language!r} is listed twice")
    return languages


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    """Columns padded to their widest cell, two spaces apart."""
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    return [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]
