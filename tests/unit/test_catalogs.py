"""Every sentence a user reads is in the catalogs, in fr, es and bm, and nowhere else."""

from __future__ import annotations

import ast
import io
import re
from datetime import date, datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

from bot import LANGUAGES, PROJECT_ROOT
from bot.i18n import Translator, format_date, format_datetime, translations
from bot.i18n.catalogs import REVIEW_FLAG, catalog_problems, load_po, load_template
from bot.i18n.extract import keys_in_domain

KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*(\.[A-Z]{2})?$")  # local.<key>.FR: a country


def extracted_keys() -> set[str]:
    """Keys as `make i18n-extract` finds them now, in the domain and the code."""
    with (PROJECT_ROOT / "babel.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    return {
        str(message)
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(PROJECT_ROOT), method_map, options_map
        )
    }


def domain_files() -> list[Path]:
    return sorted((PROJECT_ROOT / "domain").glob("*.yml"))


def test_template_is_up_to_date() -> None:
    """locales/messages.pot matches the domain and the code (run `make i18n-update`)."""
    assert {m.id for m in load_template() if m.id} == extracted_keys()


def test_no_entry_missing_fuzzy_empty_or_unused() -> None:
    problems = catalog_problems(extracted_keys())
    assert not problems, "\n".join(problems)


def test_every_domain_text_is_a_catalog_key() -> None:
    for path in domain_files():
        for key in keys_in_domain(yaml.safe_load(path.read_text(encoding="utf-8"))):
            assert KEY.match(key), f"{path.name}: {key!r} looks like a sentence, not a key"


def _python_files() -> list[Path]:
    return [p for d in ("bot", "actions") for p in (PROJECT_ROOT / d).rglob("*.py")]


def test_code_sends_no_literal_text() -> None:
    """Actions send responses or rendered keys, never a literal `text=`."""
    for path in _python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "utter_message":
                for keyword in node.keywords:
                    assert keyword.arg not in {"text", "template"}, (
                        f"{path}:{node.lineno}: utter_message({keyword.arg}=...) "
                        "bypasses the catalogs; use response=..."
                    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_key_renders_in_its_language(language: str) -> None:
    translate = Translator(language)
    for key in extracted_keys():
        assert translate(key) != key


def test_plural_forms_per_language() -> None:
    """The compiled catalogs choose plural forms as each language does (bm has one)."""
    fr, es, bm = (translations(language).plural for language in ("fr", "es", "bm"))
    assert [fr(n) for n in (0, 1, 2)] == [0, 0, 1]
    assert [es(n) for n in (0, 1, 2)] == [1, 0, 1]
    assert [bm(n) for n in (0, 1, 2, 10)] == [0, 0, 0, 0]


def test_every_bambara_text_is_flagged_until_reviewed() -> None:
    """A Bambara entry is flagged for review, or shares its text with French (autonyms)."""
    french = {m.id: m.string for m in load_po("fr") if m.id}
    for message in load_po("bm"):
        if not message.id or message.string == french[message.id]:
            continue
        comments = " ".join(message.user_comments)
        assert REVIEW_FLAG in comments or "reviewed:" in comments, message.id


def test_compiled_catalogs_match_sources(tmp_path: Path) -> None:
    """The .mo files the servers read say what the .po files say."""
    from babel.messages.mofile import read_mo

    for language in LANGUAGES:
        mo = PROJECT_ROOT / "locales" / language / "LC_MESSAGES" / "messages.mo"
        compiled = {m.id: m.string for m in read_mo(io.BytesIO(mo.read_bytes())) if m.id}
        source = {m.id: m.string for m in load_po(language) if m.id}
        assert compiled == source, f"{language}: run `make catalogs`"


def test_dates_in_each_language() -> None:
    day = date(2024, 3, 15)
    assert format_date(day, "bm") == "juma 15 marisi 2024"
    assert format_date(day, "fr") == "vendredi 15 mars 2024"
    assert format_date(day, "es") == "viernes, 15 de marzo de 2024"
    when = datetime(2024, 3, 15, 18, 30, tzinfo=timezone.utc)
    assert format_datetime(when, "bm", ZoneInfo("Africa/Bamako")) == "juma 15 marisi 2024, 18:30"
    assert format_datetime(when, "es", ZoneInfo("America/Lima")).endswith("13:30")
    assert format_datetime(when, "fr", ZoneInfo("Europe/Paris")).endswith("19:30")


def test_unknown_language_renders_in_the_default() -> None:
    assert Translator("en")("greet") == Translator("fr")("greet")


HEALTH_AREAS = ("contraception.", "pregnancy.", "addiction.", "emergency.")


@pytest.mark.parametrize("language", LANGUAGES)
def test_health_answers_fit_two_sms_and_name_their_source(language: str) -> None:
    """Each part of an answer costs at most 2 segments as the SMS channel sends it, and its
    catalog comment names the source and that a clinical review is pending or done."""
    from bot.gsm7 import encode

    health = [m for m in load_po(language) if str(m.id).startswith(HEALTH_AREAS)]
    assert len(health) >= 33 + 6
    for message in health:
        assert encode(message.string).segments <= 2, (message.id, len(message.string))
        comments = " ".join(message.user_comments)
        assert "source: " in comments, message.id
        assert "clinical review" in comments, message.id


def test_health_topics_cover_the_required_sub_topics() -> None:
    keys = {str(m.id) for m in load_po("fr")}
    for area, minimum in (("contraception", 12), ("pregnancy", 10), ("addiction", 8)):
        subs = {k.split(".")[1] for k in keys if k.startswith(area + ".")}
        assert len(subs) >= minimum, (area, subs)
