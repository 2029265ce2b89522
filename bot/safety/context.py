"""Risk over a conversation, not one message: what the last messages add, and the check-in.

A message the risk model scores ``none`` alone can be the third of "je suis fatiguée de
tout", "personne ne m'aime", "demain ça sera fini". :func:`recent` reads her tracker (the
events before the message being parsed) for the previous messages the risk check should
read with it, and whether the assistant's last turn asked "are you safe right now?".

The window is short and ends at anything already handled: a message that was itself
``clear`` or ``possible`` (answered, or checked in), a message relayed to a counsellor (a
person read it), a button, or one older than :data:`WITHIN`. Without that, the words of an
emergency answered a minute ago would raise every message after it.

:func:`checkin_answer` reads her reply to the check-in: ``help`` ("2", "non", "aide",
"ayuda", "dɛmɛ", "ça va pas") goes to the emergency answer; ``safe`` ("1", "oui", "je vais
bien", "estoy bien") to a kind thank-you; anything else is her next message, answered as
usual (more risk in it, though, is ``clear``: see ``SafetyGate``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.i18n import N_
from bot.menu import chosen_number, yes_no
from bot.nlu.normalise import words

CHECKIN_ACTION = "action_safety_checkin"
CHECKIN_INTENT = "safety_checkin"  # set by the gate at level possible (no NLU examples)
CHECKIN_SAFE_INTENT = "safety_checkin_safe"  # set by the gate: her "1", "oui" to it
GATE_INTENTS = (CHECKIN_INTENT, CHECKIN_SAFE_INTENT)
WINDOW = 2  # previous messages read with the current one
WITHIN = 30 * 60.0  # seconds: older messages are another moment of her day
CHECKIN_OPEN = 12 * 3600.0  # seconds: "silence, then more risk" within this is clear
HANDLED = frozenset({"clear", "possible"})

HELP, SAFE = "help", "safe"
# The check-in's two answers (catalog key, payload), as buttons or a numbered list: the
# payloads are what an SMS user types, read by checkin_answer like any written answer.
CHECKIN_ANSWERS = ((N_("safety.checkin.safe"), "1"), (N_("safety.checkin.help"), "2"))
HELP_WORDS = frozenset({
    "aide", "daide", "laide", "aidez", "aider", "aidezmoi", "help", "sos", "secours",
    "urgence", "ayuda", "ayudame", "ayudenme", "auxilio", "socorro", "urgencia", "deme",
    "demen", "malo", "mal", "peur", "miedo", "siran", "danger", "peligro",
})  # fmt: skip
SAFE_WORDS = frozenset({
    "bien", "tranquille", "tranquila", "tranquilo", "securite", "segura", "seguro", "kene",
    "safe", "calme", "calma",
})  # fmt: skip


@dataclass(frozen=True)
class Recent:
    """What the risk check reads beside the message: her previous messages still in the
    window (oldest first), and whether a check-in is waiting for her answer."""

    texts: tuple[str, ...] = ()
    checkin_pending: bool = False


def _is_user(event: Mapping[str, Any]) -> bool:
    return event.get("event") == "user"


def recent(events_newest_first: Iterable[Mapping[str, Any]], now: float) -> Recent:
    """Read the events before the message being parsed, newest first (a generator: the
    walk stops at the window's end, however long the tracker)."""
    texts: list[str] = []
    pending = False
    seen_user = False
    for event in events_newest_first:
        if not _is_user(event):
            if (not seen_user and event.get("event") == "action"
                    and event.get("name") == CHECKIN_ACTION
                    and now - float(event.get("timestamp") or 0) <= CHECKIN_OPEN):  # fmt: skip
                pending = True
            continue
        seen_user = True
        parse = event.get("parse_data") or {}
        text = str(event.get("text") or "")
        too_old = now - float(event.get("timestamp") or 0) > WITHIN
        relayed = bool((event.get("metadata") or {}).get("handoff"))
        if too_old or relayed or text.startswith("/") or parse.get("safety_level") in HANDLED:
            break
        texts.append(text)
        if len(texts) == WINDOW:
            break
    return Recent(tuple(reversed(texts)), pending)


def window_text(recent_texts: Iterable[str], text: str) -> str:
    """The messages read together, as one text (the model's features are bags of words)."""
    return " ".join([*recent_texts, text])


def checkin_answer(text: str) -> str | None:
    """``help``, ``safe`` or None for her reply to "are you safe right now? 1 yes, 2 I need
    help". Help wins over safe: "oui j'ai besoin d'aide" is a call for help."""
    tokens = set(words(text))
    number = chosen_number(text)
    if tokens & HELP_WORDS or number == 2:
        return HELP
    answer = yes_no(text)
    if answer is False:
        return HELP
    if answer is True or number == 1 or tokens & SAFE_WORDS:
        return SAFE
    return None
