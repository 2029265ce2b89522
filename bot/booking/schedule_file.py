"""Schedule files, as staff write them: venues, workshops and sessions, each by its code.

YAML (``schedule.example.yml``) has three lists, ``venues``, ``workshops``, ``sessions``, any
of which may be left out (a file of sessions may use venues already in the database). CSV is
what a spreadsheet exports: one row per session, with ``venue_*`` and ``workshop_*`` columns
that define the venue or workshop when filled in.

A session's ``starts_at`` is the venue's local time (``2026-12-08 09:30``): that is what staff
read on the centre's wall; it becomes UTC once the venue's timezone is known. A time with an
offset (``2026-12-08T09:30+01:00``) is taken as given. Every entry is checked before anything
is written; a ValueError names the file and the entry.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot import LANGUAGES
from bot.booking.models import ROLES, SCHEDULED, SESSION_STATUSES, TOPICS
from bot.countries import PROGRAMME
from bot.datafiles import languages_of, load_yaml

_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
VENUE_KEYS = ("code", "name", "city", "country", "timezone")
WORKSHOP_KEYS = ("code", "topic", "facilitator_role", "languages")
SESSION_KEYS = ("code", "workshop", "venue", "starts_at", "duration_minutes", "capacity",
                "language")  # fmt: skip
CSV_VENUE = {"venue_name": "name", "venue_city": "city", "venue_country": "country",
             "venue_timezone": "timezone"}  # fmt: skip
CSV_WORKSHOP = {"workshop_topic": "topic", "workshop_facilitator_role": "facilitator_role",
                "workshop_languages": "languages"}  # fmt: skip
MAX_CAPACITY, MAX_MINUTES = 500, 12 * 60
T = TypeVar("T")


@dataclass(frozen=True)
class VenueSpec:
    code: str
    name: str
    city: str
    country: str
    timezone: str


@dataclass(frozen=True)
class WorkshopSpec:
    code: str
    topic: str
    facilitator_role: str
    languages: tuple[str, ...]


@dataclass(frozen=True)
class SessionSpec:
    code: str
    workshop: str
    venue: str
    starts_at: datetime  # naive: the venue's local time; aware: as given
    duration_minutes: int
    capacity: int
    language: str
    status: str = SCHEDULED

    def start_utc(self, zone: str) -> datetime:
        """The start in UTC, a local time read in the venue's timezone ``zone``."""
        if self.starts_at.tzinfo is not None:
            return self.starts_at.astimezone(timezone.utc)
        return local_to_utc(self.starts_at, zone)


@dataclass(frozen=True)
class Schedule:
    venues: tuple[VenueSpec, ...] = ()
    workshops: tuple[WorkshopSpec, ...] = ()
    sessions: tuple[SessionSpec, ...] = ()


Spec = TypeVar("Spec", VenueSpec, WorkshopSpec)  # a spec a CSV line may fill in


def zone_info(name: object) -> ZoneInfo:
    """The IANA timezone ``name``, or a ValueError that says what is expected."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("a timezone is required (an IANA name such as Africa/Bamako)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown timezone {name!r} (an IANA name such as America/Lima)") from None


def local_to_utc(local: datetime, zone: str) -> datetime:
    """A wall-clock time at the venue, in UTC. A time the clocks skip (spring forward in
    Paris) is refused rather than silently moved; an hour lived twice is the first one."""
    tz = zone_info(zone)
    aware = local.replace(tzinfo=tz)
    moment = aware.astimezone(timezone.utc)
    if moment.astimezone(tz).replace(tzinfo=None) != local:
        raise ValueError(f"{local:%Y-%m-%d %H:%M} does not exist in {zone} (the clocks change)")
    return moment


def load_schedule(path: str | Path) -> Schedule:
    """The schedule in a ``.yml``/``.yaml`` or ``.csv`` file, checked whole."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        return _load_csv(path)
    if path.suffix.lower() in (".yml", ".yaml"):
        return _load_yaml(path)
    raise ValueError(f"{path}: a schedule is a .yml or .csv file")


def _load_yaml(path: Path) -> Schedule:
    data = load_yaml(path)
    if data is None:
        return Schedule()
    keys = ("venues", "workshops", "sessions")
    if not isinstance(data, dict) or not set(data) <= set(keys):
        raise ValueError(f"{path}: expected the top-level keys venues:, workshops:, sessions:")
    lists: dict[str, list[object]] = {}
    for key in keys:
        entries = data.get(key) or []
        if not isinstance(entries, list):
            raise ValueError(f"{path}: '{key}:' must be a list of mappings")
        lists[key] = entries
    venues = tuple(_each(path, "venue", lists["venues"], _venue))
    workshops = tuple(_each(path, "workshop", lists["workshops"], _workshop))
    sessions = tuple(_each(path, "session", lists["sessions"], _session))
    return _checked(path, Schedule(venues, workshops, sessions))


def _each(
    path: Path, kind: str, entries: list[object], parse: Callable[[object], T]
) -> list[T]:
    parsed: list[T] = []
    for n, entry in enumerate(entries, 1):
        try:
            parsed.append(parse(entry))
        except ValueError as error:
            raise ValueError(f"{path}, {kind}s entry {n}: {error}") from None
    return parsed


def _load_csv(path: Path) -> Schedule:
    try:
        with path.open(encoding="utf-8-sig", newline="") as file:  # -sig: Excel's BOM
            reader = csv.DictReader(file)
            columns = [c.strip() for c in reader.fieldnames or []]
            rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k} for row in reader]
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text (save the sheet as CSV UTF-8)") from None
    missing = [c for c in SESSION_KEYS if c not in columns]
    allowed = {*SESSION_KEYS, "status", *CSV_VENUE, *CSV_WORKSHOP}
    unknown = [c for c in columns if c not in allowed]
    if missing or unknown:
        problems = ([f"missing column(s) {', '.join(missing)}"] if missing else []) + (
            [f"unknown column(s) {', '.join(unknown)}"] if unknown else []
        )
        raise ValueError(f"{path}: {'; '.join(problems)}")
    venues: dict[str, VenueSpec] = {}
    workshops: dict[str, WorkshopSpec] = {}
    sessions: list[SessionSpec] = []
    for line, row in enumerate(rows, 2):  # line 1 is the header
        if not any(row.values()):
            continue
        try:
            _described(row, "venue", CSV_VENUE, _venue, venues)
            _described(row, "workshop", CSV_WORKSHOP, _workshop, workshops)
            sessions.append(_session({k: v for k, v in row.items() if k in SESSION_KEYS
                                      or (k == "status" and v)}))  # fmt: skip
        except ValueError as error:
            raise ValueError(f"{path}, line {line}: {error}") from None
    return _checked(path, Schedule(tuple(venues.values()), tuple(workshops.values()),
                                   tuple(sessions)))  # fmt: skip


def _described(
    row: Mapping[str, str], kind: str, names: Mapping[str, str],
    parse: Callable[[object], Spec], found: dict[str, Spec],
) -> None:  # fmt: skip
    """The venue or workshop a CSV line fills in, if any, kept once in ``found``: every
    line of its sessions may repeat it, but never differently."""
    if any(row.get(column) for column in names):
        given = {"code": row[kind]} | {key: row.get(column, "") for column, key in names.items()}
        spec = parse(given)
        if found.setdefault(spec.code, spec) != spec:
            raise ValueError(f"{kind} {spec.code} is described differently above")


def _checked(path: Path, schedule: Schedule) -> Schedule:
    """The schedule, once no code is listed twice in one kind."""
    for kind, specs in (("venue", schedule.venues), ("workshop", schedule.workshops),
                        ("session", schedule.sessions)):  # fmt: skip
        seen: set[str] = set()
        for spec in specs:
            if spec.code in seen:
                raise ValueError(f"{path}: {kind} {spec.code} is listed twice")
            seen.add(spec.code)
    return schedule


def _fields(
    data: object, kind: str, keys: tuple[str, ...], optional: tuple[str, ...] = ()
) -> str:
    """The entry's code, once it is checked to be a mapping with ``keys`` and no other."""
    if not isinstance(data, Mapping):
        raise ValueError(f"expected a mapping with keys {', '.join(keys)}")
    code = data.get("code")
    where = f"{kind} {code}" if isinstance(code, str) and code else f"a {kind}"
    missing = [key for key in keys if data.get(key) in (None, "")]
    unknown = sorted(str(key) for key in data if key not in (*keys, *optional))
    if missing or unknown:
        problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
            [f"unknown key(s) {', '.join(unknown)}"] if unknown else []
        )
        raise ValueError(f"{where}: {'; '.join(problems)}")
    if not isinstance(code, str) or not _CODE.fullmatch(code) or len(code) > 40:
        raise ValueError(
            f"code {code!r}: letters, digits, '.', '-' or '_', at most 40 (e.g. bko-accouchement-1)"
        )
    return code


def _text(data: Mapping[str, object], key: str, where: str, limit: int) -> str:
    value = data[key]
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > limit:
        raise ValueError(f"{where}: {key} is text of 1 to {limit} characters")
    return value.strip()


def _venue(data: object) -> VenueSpec:
    code = _fields(data, "venue", VENUE_KEYS)
    assert isinstance(data, Mapping)
    where = f"venue {code}"
    country = str(data["country"]).strip().upper()
    if country not in PROGRAMME:
        raise ValueError(f"{where}: unknown country {data['country']!r} ({', '.join(PROGRAMME)})")
    try:
        zone_info(data["timezone"])
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from None
    return VenueSpec(code, _text(data, "name", where, 120), _text(data, "city", where, 80),
                     country, str(data["timezone"]))  # fmt: skip


def _workshop(data: object) -> WorkshopSpec:
    code = _fields(data, "workshop", WORKSHOP_KEYS)
    assert isinstance(data, Mapping)
    where = f"workshop {code}"
    topic = str(data["topic"]).strip().lower()
    if topic not in TOPICS:
        raise ValueError(f"{where}: unknown topic {data['topic']!r} ({', '.join(TOPICS)})")
    role = str(data["facilitator_role"]).strip().lower().replace("-", "_").replace(" ", "_")
    if role not in ROLES:
        raise ValueError(
            f"{where}: unknown facilitator_role {data['facilitator_role']!r} ({', '.join(ROLES)})"
        )
    languages = languages_of(data["languages"], where)
    return WorkshopSpec(code, topic, role, languages)


def _session(data: object) -> SessionSpec:
    code = _fields(data, "session", SESSION_KEYS, optional=("status",))
    assert isinstance(data, Mapping)
    where = f"session {code}"
    for key in ("workshop", "venue"):
        if not isinstance(data[key], str) or not _CODE.fullmatch(data[key]):
            raise ValueError(f"{where}: {key} is the code of a {key}")
    language = str(data["language"]).strip().lower()
    if language not in LANGUAGES:
        raise ValueError(
            f"{where}: unknown language {data['language']!r} (languages: {', '.join(LANGUAGES)})"
        )
    status = str(data.get("status") or SCHEDULED).strip().lower()
    if status not in SESSION_STATUSES:
        raise ValueError(
            f"{where}: unknown status {data['status']!r} ({', '.join(SESSION_STATUSES)})"
        )
    return SessionSpec(
        code=code,
        workshop=data["workshop"],
        venue=data["venue"],
        starts_at=_start(data["starts_at"], where),
        duration_minutes=_whole(
            data["duration_minutes"], "duration_minutes", where, 15, MAX_MINUTES
        ),
        capacity=_whole(data["capacity"], "capacity", where, 1, MAX_CAPACITY),
        language=language,
        status=status,
    )


def _start(value: object, where: str) -> datetime:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        raise ValueError(f"{where}: starts_at needs a time too, e.g. '{value} 09:30'")
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    raise ValueError(
        f"{where}: starts_at {value!r} is not a date and time like '2026-12-08 09:30' "
        "(the venue's local time)"
    )


def _whole(value: object, key: str, where: str, low: int, high: int) -> int:
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{where}: {key} must be a whole number from {low} to {high}")
    return value
