"""Local services per country and city, and the line that names them in an answer.

A girl who asks where to get a test or the pill needs a place in her country, not France's.
``services.yml`` holds the places with their source and a verified flag, like the emergency
numbers: only verified entries are ever shown; where none is, she is told so and where to go
in general (``health.services_none``), never an unchecked address.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import time
from pathlib import Path
from typing import Any

from babel import Locale

from bot.countries import PROGRAMME
from bot.datafiles import load_yaml
from bot.gsm7 import encode
from bot.i18n import N_, Translator, format_time, supported

SERVICES_FILE = Path(__file__).with_name("services.yml")

# What a service may offer; a country-aware answer names the topic it needs (TOPIC_OF).
TOPICS = frozenset({
    "contraception", "condoms", "sti_testing", "hiv_testing", "prep", "pep", "abortion",
    "antenatal", "youth", "violence", "addiction", "mood",
})  # fmt: skip
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_SHOWN = 3
MAX_SEGMENTS = 2  # the services message, as the SMS channel sends it


@dataclass(frozen=True)
class Hours:
    """Opening hours: every day all day (``always``), or ``days`` from ``start`` to ``end``."""

    always: bool = False
    days: tuple[str, ...] = ()
    start: time | None = None
    end: time | None = None


@dataclass(frozen=True)
class Service:
    """One place or line: what it offers, whether it is free, how to reach it, and whether
    someone checked it (``verified``) in the ``source`` it names."""

    id: str
    country: str
    name: str
    city: str | None
    offers: frozenset[str]
    free: bool
    phone: str | None
    address: str | None
    hours: Hours | None
    source: str
    status: str
    verified: bool


def _hours(raw: Any, where: str) -> Hours | None:
    if raw is None:
        return None
    if raw == "always":
        return Hours(always=True)
    if not isinstance(raw, dict) or not {"days", "from", "to"} <= raw.keys():
        raise ValueError(
            f"{where}: hours is `always` or {{days: [mon, ...], from: HH:MM, to: HH:MM}}"
        )
    days = tuple(str(d) for d in raw["days"])
    if not days or any(d not in DAYS for d in days):
        raise ValueError(f"{where}: hours.days are among {', '.join(DAYS)}")
    try:
        start, end = time.fromisoformat(str(raw["from"])), time.fromisoformat(str(raw["to"]))
    except ValueError as error:
        raise ValueError(f"{where}: hours.from and hours.to are HH:MM") from error
    return Hours(days=days, start=start, end=end)


def _service(country: str, entry: dict[str, Any], n: int) -> Service:
    where = f"{SERVICES_FILE.name}: {country}[{n}]"
    missing = {"id", "name", "offers", "source", "verified"} - entry.keys()
    if missing:
        raise ValueError(f"{where}: missing {', '.join(sorted(missing))}")
    offers = frozenset(str(o) for o in entry["offers"] or ())
    if not offers or offers - TOPICS:
        raise ValueError(f"{where}: offers are among {', '.join(sorted(TOPICS))}")
    verified = entry["verified"] is True
    phone, address = entry.get("phone"), entry.get("address")
    if verified and not (phone or address):
        raise ValueError(f"{where}: a verified service needs a phone or an address")
    return Service(
        id=str(entry["id"]), country=country, name=str(entry["name"]),
        city=entry.get("city"), offers=offers, free=entry.get("free") is True,
        phone=str(phone) if phone else None, address=str(address) if address else None,
        hours=_hours(entry.get("hours"), where), source=str(entry["source"]),
        status=str(entry.get("status", "")), verified=verified,
    )  # fmt: skip


@functools.lru_cache(maxsize=4)
def load_services(path: Path = SERVICES_FILE) -> dict[str, tuple[Service, ...]]:
    """Every service per country code, verified or not, in the file's order (read once)."""
    data = load_yaml(path) or {}
    unknown = set(data) - set(PROGRAMME)
    if unknown:
        raise ValueError(f"{path.name}: unknown countries {', '.join(sorted(unknown))}")
    return {
        country: tuple(_service(country, e, n) for n, e in enumerate(data.get(country) or ()))
        for country in PROGRAMME
    }


def services_for(country: str | None, topic: str, path: Path = SERVICES_FILE) -> list[Service]:
    """The verified services of ``country`` for ``topic``: national ones first, then those of
    its cities (the city is named beside them), at most :data:`MAX_SHOWN`."""
    found = [
        s for s in load_services(path).get(country or "", ()) if s.verified and topic in s.offers
    ]
    found.sort(key=lambda s: s.city is not None)
    return found[:MAX_SHOWN]


def _days(days: tuple[str, ...], language: str) -> str:
    names = Locale.parse(supported(language)).days["format"]["abbreviated"]
    picked = [DAYS.index(d) for d in days]
    if len(picked) > 2 and picked == list(range(picked[0], picked[-1] + 1)):
        return f"{names[picked[0]]}-{names[picked[-1]]}"
    return ", ".join(names[i] for i in picked)


def describe(service: Service, language: str | None) -> str:
    """ "Fil Santé Jeunes, 0 800 235 236 (gratuit, 24 h/24)": name, city, phone, address,
    then free and hours in her language. Words come from the catalogs; data stays as is."""
    translate = Translator(language)
    parts = [service.name]
    if service.city:
        parts[0] += f" ({service.city})"
    parts += [p for p in (service.phone, service.address) if p]
    notes = []
    if service.free:
        notes.append(translate(N_("service.free")))
    if service.hours and service.hours.always:
        notes.append(translate(N_("service.always_open")))
    elif service.hours and service.hours.start and service.hours.end:
        lang = supported(language)
        notes.append(
            f"{_days(service.hours.days, lang)} {format_time(service.hours.start, lang)}"
            f"-{format_time(service.hours.end, lang)}"
        )
    text = ", ".join(parts)
    return f"{text} ({', '.join(notes)})" if notes else text


def services_line(services: list[Service], language: str | None) -> str | None:
    """The services joined for one message, as many as fit in :data:`MAX_SEGMENTS` SMS
    segments with the message around them; ``None`` when there are none."""
    translate = Translator(language)
    shown = list(services)
    while shown:
        line = "; ".join(describe(s, language) for s in shown)
        if encode(translate("health.services", services=line)).segments <= MAX_SEGMENTS:
            return line
        shown.pop()
    return None
