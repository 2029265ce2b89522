"""Every word of the staff dashboard is in its own catalogs (fr and es: the staff's
languages), complete, not fuzzy, compiled, and never written into a template."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo

from bot import PROJECT_ROOT
from bot.dashboard.labels import DOMAIN, LANGUAGES
from bot.dashboard.web import Renderer
from bot.i18n.catalogs import catalog_problems, load_po, load_template

TEMPLATES = PROJECT_ROOT / "bot" / "dashboard" / "templates"


def extracted_keys() -> set[str]:
    """Keys as `make i18n-extract` finds them: ``S_`` in the code, ``t`` in the templates."""
    with (PROJECT_ROOT / "babel-dashboard.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found = extract_from_dir(str(PROJECT_ROOT), method_map, options_map,
                             keywords={"S_": None, "t": None})  # fmt: skip
    return {str(message) for _file, _line, message, _comments, _context in found}


def test_the_template_is_up_to_date() -> None:
    """locales/dashboard.pot matches the code and the pages (run `make i18n-update`)."""
    assert {m.id for m in load_template(domain=DOMAIN) if m.id} == extracted_keys()


def test_no_entry_missing_fuzzy_empty_or_unused() -> None:
    problems = catalog_problems(extracted_keys(), domain=DOMAIN, languages=LANGUAGES)
    assert not problems, "\n".join(problems)


def test_the_dashboard_keys_stay_out_of_the_users_catalogs() -> None:
    """Users never read these: the fr, es and bm catalogs of the assistant do not hold them."""
    for language in ("fr", "es", "bm"):
        assert not [m.id for m in load_po(language) if str(m.id).startswith("dashboard.")]


@pytest.mark.parametrize("language", LANGUAGES)
def test_compiled_catalogs_match_sources(language: str) -> None:
    mo = PROJECT_ROOT / "locales" / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
    compiled = {m.id: m.string for m in read_mo(io.BytesIO(mo.read_bytes())) if m.id}
    source = {m.id: m.string for m in load_po(language, domain=DOMAIN) if m.id}
    assert compiled == source, f"{language}: run `make catalogs`"


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_renders_in_its_language(language: str) -> None:
    t = Renderer(PROJECT_ROOT / "locales").translator(language)
    for key in extracted_keys():
        text = t(key, at="2026-12-07 10:00") if "{at}" in t(key) else t(key)
        assert text != key and text.strip(), f"{language}: {key}"


@pytest.mark.parametrize("template", sorted(p.name for p in TEMPLATES.glob("*.html")))
def test_templates_hold_no_words_of_their_own(template: str) -> None:
    """Between the tags, only expressions, punctuation and symbols: every word is a key."""
    source = (TEMPLATES / template).read_text(encoding="utf-8")
    text = re.sub(r"{%.*?%}|{{.*?}}|{#.*?#}", " ", source, flags=re.S)
    text = re.sub(r"<[^>]*>", " ", text, flags=re.S)
    words = re.findall(r"[^\W\d_]{2,}", text)
    assert words == [], f"{template}: {words}"


def test_the_css_and_pages_load_nothing_from_elsewhere() -> None:
    for path in (*TEMPLATES.glob("*.html"), PROJECT_ROOT / "bot/dashboard/static/dashboard.css"):
        text = Path(path).read_text(encoding="utf-8")
        assert not re.search(r"https?://|//cdn|@import|<script", text), path.name
