"""Privacy's small parts: its words, its texts' length, the slots the purge scrubs, the
tracker JSON scrub, files created 0600, and logs without a library's debug lines."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

import pytest
import yaml

from bot import LANGUAGES, PROJECT_ROOT, booking, handoff
from bot.channels.optout import HELP_WORDS, START_WORDS, STOP_WORDS, keyword
from bot.gsm7 import encode
from bot.i18n import Translator
from bot.logs import Scrubber
from bot.menu import MENUS, chosen_option
from bot.privacy import FORGET_ASK, FORGET_NO, FORGET_WORDS, FORGET_YES, NOTICE, NOTICE_WORDS
from bot.privacy.files import private_by_default, restrict
from bot.privacy.tracker import FREE_TEXT_SLOTS, scrub


def test_the_privacy_words_are_their_own() -> None:
    taken = set(STOP_WORDS) | set(START_WORDS) | set(HELP_WORDS)
    taken |= {keyword(w) for w in (*handoff.KEYWORDS, *booking.KEYWORDS)}
    assert not (set(FORGET_WORDS) | set(NOTICE_WORDS)) & taken
    assert not set(FORGET_WORDS) & set(NOTICE_WORDS)
    assert {FORGET_WORDS[keyword(w)] for w in ("Effacer !", "borrár", "Jɔsi", "jOsI")} == {
        "fr", "es", "bm"}  # fmt: skip
    assert keyword("/privacy") in NOTICE_WORDS and keyword("Gundo") in NOTICE_WORDS


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_notice_is_one_sms_and_the_question_two(language: str) -> None:
    translate = Translator(language)
    notice = encode(translate(NOTICE, days=365))
    assert (notice.encoding, notice.segments) == ("GSM-7", 1)
    question = translate(FORGET_ASK) + f"\n1. {translate(FORGET_YES)}\n2. {translate(FORGET_NO)}"
    assert encode(question).segments <= 2
    # The notice names the word that erases, in her language.
    word = {"fr": "EFFACER", "es": "BORRAR", "bm": "JOSI"}[language]
    assert word in notice.text


@pytest.mark.parametrize(("answer", "option"), [("5", 5), ("effacer", 5), ("borrar mis datos", 5),
                                                ("cinq", 5), ("josi", 5)])  # fmt: skip
def test_the_main_menu_offers_to_erase(answer: str, option: int) -> None:
    assert chosen_option("main", answer) == option
    assert MENUS["main"][option - 1].handler == "forget_me"


def test_the_scrubbed_slots_are_those_filled_from_her_words() -> None:
    from_text = set()
    for path in (PROJECT_ROOT / "domain").glob("*.yml"):
        slots = (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("slots") or {}
        for name, slot in slots.items():
            if any(m.get("type") == "from_text" for m in slot.get("mappings") or []):
                from_text.add(name)
    assert set(FREE_TEXT_SLOTS) == from_text


def test_scrub_blanks_words_and_keeps_the_event() -> None:
    user = {"event": "user", "text": "je suis à Lyon", "timestamp": 1.0,
            "parse_data": {"text": "je suis à Lyon", "intent": {"name": "inform"},
                           "entities": [{"entity": "city", "value": "Lyon"}]}}  # fmt: skip
    assert scrub("user", user)
    assert user == {"event": "user", "text": None, "timestamp": 1.0,
                    "parse_data": {"text": None, "intent": {"name": "inform"}, "entities": []}}
    assert not scrub("user", user)  # once is enough
    slot = {"event": "slot", "name": "language", "value": "fr"}
    assert not scrub("slot", slot) and slot["value"] == "fr"
    typed = {"event": "slot", "name": "country_answer", "value": "je suis à Lyon"}
    assert scrub("slot", typed) and typed["value"] is None


def test_files_are_created_for_their_owner_only(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        loose = tmp_path / "var" / "app.db"
        loose.parent.mkdir()
        loose.write_text("x")
        (tmp_path / "var" / "model.txt").write_text("x")
        assert restrict(tmp_path / "var") == 1  # the database, not any file
        private_by_default()
        made = tmp_path / "var" / "new.log"
        made.write_text("x")
        for path in (loose, made):
            assert stat.S_IMODE(path.stat().st_mode) == 0o600
    finally:
        os.umask(old)


def test_a_librarys_debug_lines_never_reach_the_logs() -> None:
    scrubber = Scrubber()

    def record(name: str, level: int, text: str) -> logging.LogRecord:
        return logging.LogRecord(name, level, __file__, 1, text, None, None)

    assert not scrubber.filter(record("rasa.core.processor", logging.DEBUG, "user said 'x'"))
    assert scrubber.filter(record("rasa.core.processor", logging.INFO, "model loaded"))
    ours = record("bot.channels.inbound", logging.DEBUG, "to +22376123456")
    assert scrubber.filter(ours) and "+22376123456" not in ours.getMessage()
