"""Babel extractor for the Rasa domain: every response text and button title is a message key.

Named in ``babel.cfg``, so ``make i18n-extract`` collects keys from the domain and from
``N_()``/``_()`` calls in the code into ``locales/messages.pot``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import yaml


def keys_in_domain(domain: dict[str, Any]) -> Iterator[str]:
    """The catalog keys a domain's responses use (texts and button titles)."""
    for variations in (domain.get("responses") or {}).values():
        for variation in variations:
            if variation.get("text"):
                yield variation["text"]
            for button in variation.get("buttons") or []:
                yield button["title"]


def extract_domain(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """Babel extraction method (declared under ``[extractors]`` in ``babel.cfg``)."""
    domain = yaml.safe_load(fileobj.read().decode("utf-8")) or {}
    for key in keys_in_domain(domain):
        yield 0, None, key, []


def extract_numbers(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Any
) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """Babel extraction method for ``bot/safety/emergency_numbers.yml``: each number's
    label key (``number.<id>``), shown beside the number."""
    data = yaml.safe_load(fileobj.read().decode("utf-8")) or {}
    for entries in data.values():
        for entry in entries:
            yield 0, None, f"number.{entry['id']}", []
