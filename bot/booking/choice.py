"""Which offered session a reply means: "2", "deux", "samedi", "sábado", "sibiri",
"l'allaitement", "le 14", "the one on the 14th", or a mix ("samedi allaitement").

Replies are compared on the normalised text (no accents, ɛ -> e), against what the list
showed: its numbers, the sessions' weekdays and days of the month in the venue's time zone,
and their topics. A reply that fits several sessions is ambiguous (the user is asked for the
number), one that fits none is not understood.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.menu import chosen_number
from bot.nlu.normalise import normalise, words

# Weekday words, Monday first (Babel's bm names folded: ntɛnɛ is Monday, kari Sunday).
WEEKDAYS: tuple[tuple[str, ...], ...] = (
    ("lundi", "lunes", "ntenen", "ntene", "monday"),
    ("mardi", "martes", "tarata", "tuesday"),
    ("mercredi", "miercoles", "araba", "wednesday"),
    ("jeudi", "jueves", "alamisa", "thursday"),
    ("vendredi", "viernes", "juma", "friday"),
    ("samedi", "sabado", "sibiri", "saturday"),
    ("dimanche", "domingo", "kari", "sunday"),
)
# Words for each workshop topic, in the three languages (and common SMS spellings).
TOPIC_WORDS: dict[str, tuple[str, ...]] = {
    "childbirth": ("accouchement", "accoucher", "prepa", "preparation", "parto", "jigin",
                   "jiginni", "naissance", "nacimiento"),
    "breastfeeding": ("allaitement", "allaiter", "lait", "sein", "lactancia", "amamantar",
                      "sinji", "sin"),
    "motherhood": ("maternite", "maman", "mere", "parentalite", "maternidad", "mama",
                   "bebe", "denbaya", "baw", "bamuso"),
    "sexuality": ("sexualite", "sexe", "contraception", "sexualidad", "anticonceptivo",
                  "planning", "cesarienne"),
    "nutrition": ("nutrition", "alimentation", "manger", "nutricion", "alimentacion",
                  "comida", "dumuni", "balo"),
    "addiction": ("addiction", "alcool", "drogue", "tabac", "adiccion", "alcohol", "droga",
                  "dolo", "sigaret", "sigareti", "taba", "dorogu"),
}
# Month names (Babel's, folded; bm "me" written "mekalo", "me" being a common word), January
# first: "le 3 janvier" is a date, not option 3.
_MONTH_NAMES = (
    ("janvier", "fevrier", "mars", "avril", "mai", "juin", "juillet", "aout", "septembre",
     "octobre", "novembre", "decembre"),
    ("enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto", "septiembre",
     "octubre", "noviembre", "diciembre"),
    ("zanwuye", "feburuye", "marisi", "awirili", "mekalo", "zuwen", "zuluye", "uti", "setanburu",
     "okutoburu", "nowanburu", "desanburu"),
)  # fmt: skip
MONTHS = {name: n for names in _MONTH_NAMES for n, name in enumerate(names, start=1)}
_DAY_OF_MONTH = re.compile(r"^(\d{1,2})(?:er|e|eme|th|st|nd|rd|o)?$")


class Offered(Protocol):
    """What the list showed of a session."""

    @property
    def topic(self) -> str: ...

    @property
    def starts_at(self) -> datetime: ...

    @property
    def venue_timezone(self) -> str: ...


@dataclass(frozen=True)
class Choice:
    index: int | None  # 0-based in the offer, when one session fits
    ambiguous: bool = False


def _local(session: Offered) -> datetime:
    return session.starts_at.astimezone(ZoneInfo(session.venue_timezone))


def resolve(reply: str, offer: Sequence[Offered]) -> Choice:
    """The session of ``offer`` that ``reply`` names."""
    key = normalise(reply)
    tokens = words(key)
    number = chosen_number(key)
    dated = any(t in MONTHS or t in {w for day in WEEKDAYS for w in day} for t in tokens)
    only_number = len(tokens) <= 3 and not dated
    in_offer = number is not None and 1 <= number <= len(offer)
    if number is not None and in_offer and only_number and not _is_day(tokens, offer):
        return Choice(number - 1)
    fits = list(range(len(offer)))
    matched_any = False
    for test in (_weekday_fits, _day_fits, _topic_fits):
        narrowed = [i for i in fits if test(tokens, offer[i])]
        if narrowed and any(test(tokens, s) for s in offer):
            fits, matched_any = narrowed, True
    if not matched_any:
        if number is not None and 1 <= number <= len(offer) and not dated:
            return Choice(number - 1)
        return Choice(None)
    if len(fits) == 1:
        return Choice(fits[0])
    return Choice(None, ambiguous=True)


def _is_day(tokens: list[str], offer: Sequence[Offered]) -> bool:
    """"le 14" is a date when the list has nothing numbered 14."""
    days = [int(m.group(1)) for t in tokens if (m := _DAY_OF_MONTH.match(t))]
    return bool(days) and days[0] > len(offer)


def _weekday_fits(tokens: list[str], session: Offered) -> bool:
    return any(t in WEEKDAYS[_local(session).weekday()] for t in tokens)


def _day_fits(tokens: list[str], session: Offered) -> bool:
    """The day of the month, and the month when she names one."""
    days = {int(m.group(1)) for t in tokens if (m := _DAY_OF_MONTH.match(t))}
    months = {MONTHS[t] for t in tokens if t in MONTHS}
    local = _local(session)
    return local.day in days and (not months or local.month in months)


def _topic_fits(tokens: list[str], session: Offered) -> bool:
    return any(t in TOPIC_WORDS.get(session.topic, ()) for t in tokens)
