"""Cutting replies to what a channel carries, and buttons as text.

An SMS part is one segment (160 GSM-7 or 70 UCS-2 characters): feature phones show
concatenated messages badly, and separate one-segment parts cost the same as a long one.
A Telegram message holds 4096 characters. Cuts fall between paragraphs, then sentences,
then words, never inside a word unless a single word is longer than a part.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from bot.gsm7 import encode

TELEGRAM_LIMIT = 4096
_SENTENCE_END = re.compile(r"((?<=\D[.!?…:;])[ \t]+|\s*\n\s*)")  # not after "2."


def _pack(pieces: list[tuple[str, str]], fits: Callable[[str], bool]) -> list[str]:
    """Join consecutive ``(separator, piece)`` pairs, separators kept, while they fit."""
    parts: list[str] = []
    current = ""
    for sep, piece in pieces:
        candidate = f"{current}{sep}{piece}" if current else piece
        if fits(candidate):
            current = candidate
            continue
        if current:
            parts.append(current)
        current = piece
    if current:
        parts.append(current)
    return parts


def _hard_cut(word: str, fits: Callable[[str], bool]) -> list[str]:
    parts, current = [], ""
    for ch in word:
        if current and not fits(current + ch):
            parts.append(current)
            current = ""
        current += ch
    return [*parts, current] if current else parts


def split_text(text: str, fits: Callable[[str], bool]) -> list[str]:
    """``text`` in parts that each satisfy ``fits``, cut at the most natural boundary:
    line breaks and sentence ends first (kept inside a part), then spaces."""
    text = text.strip()
    if not text:
        return []
    if fits(text):
        return [text]
    tokens = _SENTENCE_END.split(text)  # piece, separator, piece, ...
    pieces = [("" if i == 0 else tokens[i - 1], tokens[i]) for i in range(0, len(tokens), 2)]
    parts: list[str] = []
    for sentence in _pack([(sep, p) for sep, p in pieces if p.strip()], fits):
        if fits(sentence):
            parts.append(sentence)
            continue
        for chunk in _pack([(" ", w) for w in sentence.split()], fits):
            parts.extend([chunk] if fits(chunk) else _hard_cut(chunk, fits))
    return parts


def sms_fits(text: str) -> bool:
    """One SMS segment once folded for GSM-7 (:mod:`bot.gsm7`)."""
    return encode(text).segments == 1


def telegram_fits(text: str) -> bool:
    return len(text) <= TELEGRAM_LIMIT


def numbered(text: str, titles: Sequence[str]) -> str:
    """Buttons as a numbered list under the text: a number reply chooses on any phone."""
    lines = [f"{i}. {title}" for i, title in enumerate(titles, start=1)]
    return "\n".join([text, *lines]) if text else "\n".join(lines)
