"""Text as an SMS carries it: GSM-7 or UCS-2, and how many segments it costs.

One character outside the GSM-7 alphabet (ɛ, ɔ, á, ç, a curly quote, a no-break space)
turns a whole message into UCS-2: 70 characters a segment instead of 160. Users pay, or the
programme pays, per segment, and cheap phones show long messages badly, so text is folded to
GSM-7 where that keeps the meaning (ɛ->e, ɔ->o, ɲ->ny, ŋ->ng, á->a, typographic punctuation
to ASCII) before it is counted or sent.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = frozenset("^{}\\[~]|€")  # each costs two septets

_FOLD = {
    "ɛ": "e", "Ɛ": "E", "ɔ": "o", "Ɔ": "O", "ɲ": "ny", "Ɲ": "Ny", "ŋ": "ng", "Ŋ": "Ng",
    "«": '"', "»": '"', "“": '"', "”": '"', "„": '"', "’": "'", "‘": "'", "ʼ": "'",
    "…": "...", "–": "-", "—": "-", "•": "-", "\u00a0": " ", "\u202f": " ", "\u2009": " ",
    "œ": "oe", "Œ": "OE", "ç": "c",
}  # fmt: skip

GSM7_SINGLE, GSM7_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67


def is_gsm7(text: str) -> bool:
    """Whether every character of ``text`` is in the GSM-7 alphabet (basic or extension)."""
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in text)


def fold(text: str) -> str:
    """``text`` with every character that GSM-7 lacks replaced by its closest GSM-7 form
    when one keeps the meaning (accents dropped: á->a; é, è, ñ stay). Characters with no
    such form (emoji, N'Ko) are kept, and the message stays UCS-2."""
    out = []
    for ch in text:
        ch = _FOLD.get(ch, ch)
        if is_gsm7(ch):
            out.append(ch)
            continue
        base = "".join(
            c for c in unicodedata.normalize("NFD", ch) if unicodedata.category(c) != "Mn"
        )
        out.append(base if base and is_gsm7(base) else ch)
    return "".join(out)


@dataclass(frozen=True)
class Encoded:
    """A message as it would be sent: its text, encoding and segment count."""

    text: str
    encoding: str
    segments: int


def encode(text: str) -> Encoded:
    """Fold ``text`` and count what it costs as an SMS."""
    folded = fold(text)
    if is_gsm7(folded):
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in folded)
        single, part, encoding = GSM7_SINGLE, GSM7_PART, "GSM-7"
    else:
        units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in folded)  # UTF-16 code units
        single, part, encoding = UCS2_SINGLE, UCS2_PART, "UCS-2"
    segments = 1 if units <= single else -(-units // part)
    return Encoded(folded, encoding, segments)
