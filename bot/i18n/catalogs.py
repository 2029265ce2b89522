"""Checks over the ``.po`` sources: completeness, placeholders, plural forms, review flags.

Used by the tests (a missing or fuzzy entry fails them) and by ``python -m bot i18n-review``.
"""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

from bot import LANGUAGES
from bot.i18n import DOMAIN, locales_dir

REVIEW_FLAG = "review: awaiting native speaker"
PLURAL_FORMS = {
    "fr": "nplurals=2; plural=(n > 1);",
    "es": "nplurals=2; plural=(n != 1);",
    "bm": "nplurals=1; plural=0;",
}
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


def po_path(language: str, directory: Path | None = None, domain: str = DOMAIN) -> Path:
    return (directory or locales_dir()) / language / "LC_MESSAGES" / f"{domain}.po"


def load_po(language: str, directory: Path | None = None, domain: str = DOMAIN) -> Catalog:
    """The editable catalog of ``language`` (``domain``: ``dashboard`` for the staff pages)."""
    with po_path(language, directory, domain).open("rb") as handle:
        return read_po(handle, locale=language)


def load_template(directory: Path | None = None, domain: str = DOMAIN) -> Catalog:
    """``messages.pot``: every key the domain and the code use (or ``dashboard.pot``)."""
    with ((directory or locales_dir()) / f"{domain}.pot").open("rb") as handle:
        return read_po(handle)


def placeholders(text: str) -> set[str]:
    return set(_PLACEHOLDER.findall(text))


def catalog_problems(keys: set[str], directory: Path | None = None, domain: str = DOMAIN,
                     languages: tuple[str, ...] = LANGUAGES) -> list[str]:  # fmt: skip
    """Everything wrong with the fr, es and bm catalogs for the message ``keys`` (or with
    another ``domain``'s ``languages``)."""
    problems = []
    reference: dict[str, set[str]] = {}
    for language in languages:
        catalog = load_po(language, directory, domain)
        header = dict(catalog.mime_headers)
        if header.get("Plural-Forms") != PLURAL_FORMS[language]:
            problems.append(f"{language}: Plural-Forms is {header.get('Plural-Forms')!r}")
        if catalog.fuzzy:
            problems.append(f"{language}: the header is marked fuzzy")
        present = {str(m.id) for m in catalog if m.id}
        for key in sorted(keys - present):
            problems.append(f"{language}: {key!r} is missing")
        for key in sorted(present - keys):
            problems.append(f"{language}: {key!r} is not used by the domain or the code")
        for message in catalog:
            if not message.id:
                continue
            if message.fuzzy:
                problems.append(f"{language}: {message.id!r} is fuzzy")
            string = message.string
            strings = string if isinstance(string, tuple) else (string,)  # plural: one a form
            texts = [s for s in strings if isinstance(s, str) and s.strip()]
            if len(texts) != len(strings):
                problems.append(f"{language}: {message.id!r} has no text")
                continue
            found: set[str] = set().union(*(placeholders(s) for s in texts))
            expected = reference.setdefault(str(message.id), found)
            if found != expected:
                problems.append(
                    f"{language}: {message.id!r} has placeholders {sorted(found)}, "
                    f"fr has {sorted(expected)}"
                )
    return problems


def awaiting_review(directory: Path | None = None) -> list[tuple[str, str, str]]:
    """``(language, key, text)`` of every entry flagged for a native speaker's review."""
    entries = []
    for language in LANGUAGES:
        for message in load_po(language, directory):
            if message.id and any(REVIEW_FLAG in c for c in message.user_comments):
                entries.append((language, str(message.id), str(message.string)))
    return entries
