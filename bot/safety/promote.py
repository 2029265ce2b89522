"""A reviewed message into the risk check's data: ``python -m bot safety promote``.

A ``missed`` message goes under ``emergencies: <category>``, a ``false_alarm`` under
``lookalikes``, of one language's file in one split:

- ``train``: ``data/safety/<lang>.yml``, the risk model's own examples;
- ``dev`` / ``test``: ``tests/data/risk_dev/<lang>.yml`` / ``risk_test/<lang>.yml``, the
  independent lists it is measured on.

The files are written by hand and commented, so the line is inserted as text at the end of
its list (the file's comments and layout stay), then the result is parsed and must hold
exactly one more entry. A text already in any of these files, in any split or language
(compared by the normaliser's key), is refused: the tests keep training and test data apart.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot import LANGUAGES, PROJECT_ROOT
from bot.nlu.normalise import normalise
from bot.safety import CATEGORIES
from bot.safety.review import MISSED, PROMOTED, Review, SafetyReviews

logger = logging.getLogger(__name__)

# Where each split lives, under the project's root (a copy of it in tests).
SPLITS = {
    "train": Path("data") / "safety",
    "dev": Path("tests") / "data" / "risk_dev",
    "test": Path("tests") / "data" / "risk_test",
}
LOOKALIKES, EMERGENCIES = "lookalikes", "emergencies"


class PromotionError(ValueError):
    """Why a review cannot go into the data (shown to staff as it is)."""


@dataclass(frozen=True)
class Promotion:
    """What :func:`promote` wrote: the file and the list it went to."""

    path: Path
    section: str  # "emergencies: suicide" or "lookalikes"


def _texts(data: Any) -> list[str]:
    """Every message of a risk file: emergencies, look-alikes, conversations."""
    if not isinstance(data, dict):
        return []
    found = [t for msgs in (data.get(EMERGENCIES) or {}).values() for t in msgs or []]
    found += list(data.get(LOOKALIKES) or [])
    for conversations in (data.get("sequences") or {}).values():
        found += [t for conversation in conversations or [] for t in conversation or []]
    return [t for t in found if isinstance(t, str)]


def known_keys(root: Path = PROJECT_ROOT) -> set[str]:
    """The normalised key of every message of every split and language."""
    keys: set[str] = set()
    for directory in SPLITS.values():
        for path in sorted((root / directory).glob("*.yml")):
            keys |= {normalise(t) for t in _texts(yaml.safe_load(path.read_text("utf-8")))}
    return keys


def _list_end(lines: list[str], path: tuple[str, ...]) -> tuple[int, int]:
    """(index after the last item, the items' indentation) of the list at ``path``
    (``("lookalikes",)``, ``("emergencies", "suicide")``) in a block-style YAML file."""
    start, indent = 0, 0
    for depth, key in enumerate(path):
        pattern = re.compile(rf"^( *){re.escape(key)}:\s*(#.*)?$")
        for n in range(start, len(lines)):
            found = pattern.match(lines[n])
            if found and (depth == 0) == (found.group(1) == ""):
                start, indent = n + 1, len(found.group(1))
                break
        else:
            raise PromotionError(f"no list {': '.join(path)} in the file")
    last, item_indent = None, None
    for n in range(start, len(lines)):
        line = lines[n]
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        here = len(line) - len(line.lstrip(" "))
        if item_indent is None:
            if not stripped.startswith("- ") or here < indent:
                break
            item_indent = here
        if (here == item_indent and stripped.startswith("- ")) or here > item_indent:
            last = n
        else:
            break
    if last is None or item_indent is None:
        raise PromotionError(f"the list {': '.join(path)} is empty or not a block list")
    return last + 1, item_indent


def _at(data: Any, path: tuple[str, ...]) -> list[Any]:
    for key in path:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, list) else []


def appended(source: str, path: tuple[str, ...], text: str) -> str:
    """``source`` with ``text`` added at the end of the list at ``path``, every other line
    as it was; checked by parsing it (one more entry, the last being ``text``)."""
    lines = source.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    end, indent = _list_end(lines, path)
    item = yaml.safe_dump([text], allow_unicode=True, width=1_000_000)
    if item.count("\n") != 1:
        raise PromotionError("the text does not fit on one line")
    result = "".join([*lines[:end], " " * indent + item, *lines[end:]])
    before, after = _at(yaml.safe_load(source), path), _at(yaml.safe_load(result), path)
    if len(after) != len(before) + 1 or after[-1] != text:
        raise PromotionError("the file would not read back with the new entry; nothing written")
    return result


def _write(path: Path, content: str) -> None:
    """Replace the file at once (a reader never sees half of it)."""
    temporary = path.with_name(f".{path.name}.promote")
    temporary.write_text(content, encoding="utf-8")
    os.replace(temporary, path)


def promote(
    reviews: SafetyReviews, review_id: int, split: str, category: str | None = None,
    root: Path = PROJECT_ROOT,
) -> Promotion:  # fmt: skip
    """Append the review's masked text to its split's file and mark it promoted; raises
    :class:`PromotionError` with the reason, having changed nothing."""
    review = reviews.get(review_id)
    if review is None:
        raise PromotionError(f"no review #{review_id}")
    if review.status != "pending":
        raise PromotionError(f"review #{review_id} is {review.status} already")
    if split not in SPLITS:
        raise PromotionError(f"--to is one of {', '.join(SPLITS)}")
    path, section = _target(review, split, category, root)
    if normalise(review.text) in known_keys(root):
        raise PromotionError("this text is in the risk data or test lists already")
    content = appended(path.read_text(encoding="utf-8"), section, review.text)
    label = f"{split}/{section[-1]}"
    if not reviews.settle(review.id, PROMOTED, label):
        raise PromotionError(f"review #{review_id} changed meanwhile")
    try:
        _write(path, content)
    except OSError:
        reviews.reopen(review.id)
        raise
    logger.info("Safety review #%d promoted to %s.", review.id, label)
    return Promotion(path, ": ".join(section))


def _target(
    review: Review, split: str, category: str | None, root: Path
) -> tuple[Path, tuple[str, ...]]:
    """The file and list a review goes to."""
    if review.language not in LANGUAGES:
        raise PromotionError(f"no risk data for language {review.language!r}")
    if review.kind == MISSED:
        if category not in CATEGORIES:
            raise PromotionError(f"a missed danger needs --category ({', '.join(CATEGORIES)})")
        section: tuple[str, ...] = (EMERGENCIES, category)
    else:
        if category is not None:
            raise PromotionError("a false alarm goes under lookalikes: no --category")
        section = (LOOKALIKES,)
    path = root / SPLITS[split] / f"{review.language}.yml"
    if not path.is_file():
        raise PromotionError(f"{path} does not exist")
    return path, section
