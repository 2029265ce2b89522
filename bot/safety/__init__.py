"""Emergencies first: a deterministic check on every message, and the numbers to give.

The check runs on the normalised text (:mod:`bot.nlu.normalise`) against the patterns of
``lexicon.yml``, in all languages at once (people mix them). It favours recall: a false
alarm costs one unneeded message, a miss can cost a life. The numbers come from
``emergency_numbers.yml``, which records each number's source; only verified ones are shown.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine

from bot.db.base import utcnow
from bot.db.transactions import session_factory
from bot.i18n import Translator
from bot.nlu.normalise import normalise
from bot.safety.models import SafetyAlert
from bot.safety.risk import CLEAR

logger = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
# Checked in this order: when several match, the most medically urgent wins.
CATEGORIES = ("overdose", "obstetric", "suicide", "sexual_violence", "violence")
GENERAL = "general"
MAX_NUMBERS = 3

# The fixed, pre-approved response of each kind of emergency (domain/safety.yml).
RESPONSES = {
    "overdose": "utter_emergency_overdose",
    "obstetric": "utter_emergency_obstetric",
    "suicide": "utter_emergency_suicide",
    "sexual_violence": "utter_emergency_sexual_violence",
    "violence": "utter_emergency_violence",
    GENERAL: "utter_emergency_general",
}

# Where to go when no number is verified there. Overdose has its own: "stay with the person"
# and "go to the health centre" would be two opposite orders; one coherent instruction.
GO_NOW = {"overdose": "utter_emergency_go_now_overdose"}
GO_NOW_DEFAULT = "utter_emergency_go_now"


def go_now_response(category: str) -> str:
    """The response saying where to go now, for ``category``."""
    return GO_NOW.get(category, GO_NOW_DEFAULT)


def go_now_key(category: str) -> str:
    """Its catalog key (``utter_emergency_go_now_overdose`` -> ``emergency.go_now.overdose``)."""
    return "emergency.go_now" + (f".{category}" if category in GO_NOW else "")


@dataclass(frozen=True)
class Lexicon:
    """Compiled patterns per category."""

    patterns: dict[str, tuple[re.Pattern[str], ...]]

    def category(self, text: str) -> str | None:
        """The emergency category ``text`` falls in, or ``None``."""
        key = normalise(text)
        if not key:
            return None
        for category in CATEGORIES:
            if any(p.search(key) for p in self.patterns.get(category, ())):
                return category
        return None


@functools.lru_cache(maxsize=2)
def load_lexicon(path: Path = HERE / "lexicon.yml") -> Lexicon:
    """Read and compile ``lexicon.yml`` (once per process)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    compiled = {}
    for category in CATEGORIES:
        by_language = data.get(category) or {}
        compiled[category] = tuple(
            re.compile(pattern) for patterns in by_language.values() for pattern in patterns
        )
    return Lexicon(compiled)


@dataclass(frozen=True)
class EmergencyNumber:
    """One number: what it is for, where it comes from, whether it was verified."""

    id: str
    number: str
    categories: tuple[str, ...]
    source: str
    status: str
    verified: bool

    @property
    def label_key(self) -> str:
        """The catalog key of its short label."""
        return f"number.{self.id}"


@functools.lru_cache(maxsize=2)
def load_numbers(
    path: Path = HERE / "emergency_numbers.yml",
) -> dict[str, tuple[EmergencyNumber, ...]]:
    """Every number per country code, in priority order, verified or not."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {
        country: tuple(
            EmergencyNumber(
                id=entry["id"],
                number=str(entry["number"]),
                categories=tuple(entry.get("categories") or ()),
                source=entry["source"],
                status=str(entry.get("status", "")),
                verified=bool(entry.get("verified")),
            )
            for entry in entries
        )
        for country, entries in data.items()
    }


def numbers_for(country: str | None, category: str) -> list[EmergencyNumber]:
    """The verified numbers to give for ``category`` in ``country`` (at most three).

    An unknown category (the ``emergency`` intent alone) gets the country's first
    verified numbers.
    """
    entries = [n for n in load_numbers().get(country or "", ()) if n.verified]
    if category != GENERAL:
        entries = [n for n in entries if category in n.categories]
    return entries[:MAX_NUMBERS]


def record_alert(
    engine: Engine,
    conversation_id: str,
    category: str,
    language: str | None,
    country: str | None,
    level: str = CLEAR,
) -> int:
    """Store an alert for review and for a priority handoff (``clear``), or a check-in
    (``possible``) for the programme's counts; returns its id.

    Logged without the conversation id or any message text.
    """
    with session_factory(engine).begin() as session:
        alert = SafetyAlert(
            conversation_id=conversation_id,
            category=category,
            language=language,
            country=country,
            level=level,
            needs_handoff=level == CLEAR,
        )
        session.add(alert)
        session.flush()
        alert_id = int(alert.id)
    logger.info("Safety alert %d recorded: category=%s level=%s country=%s", alert_id, category,
                level, country)  # fmt: skip
    return alert_id


def numbers_given(engine: Engine, conversation_id: str) -> None:
    """Her numbers (or where to go now) were sent: her latest emergency still waiting for
    them gets the time, the dashboard's "time to numbers"."""
    with session_factory(engine).begin() as session:
        latest = session.scalar(
            select(func.max(SafetyAlert.id)).where(
                SafetyAlert.conversation_id == conversation_id, SafetyAlert.level == CLEAR
            )
        )
        if latest is not None:
            session.execute(
                update(SafetyAlert)
                .where(SafetyAlert.id == latest, SafetyAlert.numbers_at.is_(None))
                .values(numbers_at=utcnow())
            )


def numbers_listed(country: str | None, category: str, language: str | None) -> str | None:
    """ "3114 (suicide prevention), 15 (SAMU)": the verified numbers to give, with their
    labels in her language; None when none is verified there."""
    translate = Translator(language)
    numbers = numbers_for(country, category if category in RESPONSES else GENERAL)
    if not numbers:
        return None
    return ", ".join(f"{n.number} ({translate(n.label_key)})" for n in numbers)


def numbers_line(category: str, language: str | None, country: str | None) -> str:
    """The line with the verified numbers of ``country`` for ``category``, or where to go
    now when none is verified (another country, or none known yet)."""
    listed = numbers_listed(country, category, language)
    if listed is None:
        return Translator(language)(go_now_key(category))
    return Translator(language)("emergency.numbers", numbers=listed)


def emergency_messages(category: str, language: str | None, country: str | None) -> tuple[str, str]:
    """The fixed reply of ``category`` and the numbers line, rendered outside a Rasa turn
    (an emergency written while a person owns the conversation, or in a turn that crashed).
    The same catalog entries as ``domain/safety.yml``'s responses."""
    category = category if category in RESPONSES else GENERAL
    return Translator(language)(f"emergency.{category}"), numbers_line(category, language, country)
