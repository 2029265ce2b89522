"""What every catalog entry costs by SMS, as the SMS channel sends it (``python -m bot
sms-report``): folded to GSM-7 where that keeps the meaning, then cut into one-segment parts.

"Segments" is what the text would cost as one concatenated SMS; "parts" is how many
one-segment messages the channel actually sends. Placeholders (``{date}``) are counted as
written; a filled-in date is about as long.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from bot import LANGUAGES
from bot.channels.text import sms_fits, split_text
from bot.gsm7 import encode
from bot.i18n.catalogs import load_po

LIMIT = 2  # the budget for one answer


@dataclass(frozen=True)
class EntryCost:
    language: str
    key: str
    encoding: str
    segments: int
    parts: int
    characters: int


def catalog_costs(languages: tuple[str, ...] = LANGUAGES) -> list[EntryCost]:
    costs = []
    for language in languages:
        for message in load_po(language):
            if not message.id or not message.string:
                continue
            text = str(message.string)
            encoded = encode(text)
            costs.append(EntryCost(
                language, str(message.id), encoded.encoding, encoded.segments,
                len(split_text(text, sms_fits)), len(encoded.text),
            ))  # fmt: skip
    return costs


def report_lines(costs: list[EntryCost]) -> list[str]:
    lines = [f"{'lang':<6}{'entries':>8}{'1 seg':>7}{'2 seg':>7}{'>2 seg':>8}{'UCS-2':>7}"
             f"{'max seg':>9}{'parts sent':>12}"]  # fmt: skip
    for language in sorted({c.language for c in costs}, key=LANGUAGES.index):
        mine = [c for c in costs if c.language == language]
        by_segments = Counter(min(c.segments, 3) for c in mine)
        lines.append(
            f"{language:<6}{len(mine):>8}{by_segments[1]:>7}{by_segments[2]:>7}"
            f"{by_segments[3]:>8}{sum(c.encoding == 'UCS-2' for c in mine):>7}"
            f"{max(c.segments for c in mine):>9}{sum(c.parts for c in mine):>12}"
        )
    over = [c for c in costs if c.segments > LIMIT]
    lines.append(f"entries over {LIMIT} segments: {len(over)}")
    lines += [f"  {c.language} {c.key}: {c.segments} segments ({c.encoding}, {c.characters} "
              f"characters)" for c in over]  # fmt: skip
    return lines
