"""Who the counsellors are, which languages they speak, how to reach them, and when they work.

The source of truth in production is a YAML file outside git (``COUNSELLORS_FILE``: names,
phone numbers and Telegram ids are personal data); :meth:`Registry.import_file` makes the
``counsellors`` table equal to it. Counsellors who leave the file are deactivated, not deleted:
the handoff history still names them. The local run uses ``counsellors.local.yml`` (one
counsellor, played by the console).

Working hours are wall-clock times in the counsellor's timezone, so "08:00" stays 08:00 for
her across daylight-saving changes; :class:`Hours` does the conversions.

Addresses never reach the logs: log lines and change lines name counsellors by id only.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import Boolean, Column, DateTime, String, UniqueConstraint, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.datafiles import languages_of, load_yaml
from bot.storage import Base, utcnow

logger = logging.getLogger(__name__)

CHANNELS = ("telegram", "sms", "local")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
LOCAL_FILE = Path(__file__).with_name("counsellors.local.yml")
FILE_KEYS = ("id", "name", "languages", "channel", "address", "timezone", "hours")

_UTC = timezone.utc
_DAY = 24 * 60  # minutes
_WEEK = 7 * _DAY
_LOOK_AHEAD = timedelta(days=8)
_RANGE = re.compile(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})")
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_E164 = re.compile(r"\+[1-9]\d{7,14}")
_TELEGRAM_ID = re.compile(r"[1-9]\d{0,19}")
# Shown unmasked in front of a phone number (mirrors bot.channels.sms.COUNTRY_CODES, which
# imports the web stack).
_COUNTRY_PREFIXES = ("+223", "+51", "+33")


def counsellors_file(environ: Mapping[str, str] | None = None) -> Path:
    """``COUNSELLORS_FILE``, else the local run's registry (the console's counsellor)."""
    env = os.environ if environ is None else environ
    return Path(env["COUNSELLORS_FILE"]) if env.get("COUNSELLORS_FILE") else LOCAL_FILE


def timezone_info(name: str) -> ZoneInfo:
    """The IANA timezone ``name``, or a ValueError that says what is expected."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError("a timezone is required (an IANA name such as Africa/Bamako)")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):  # ValueError: a path such as "/etc/x"
        raise ValueError(
            f"unknown timezone {name!r} (an IANA name such as Africa/Bamako)"
        ) from None


@dataclass(frozen=True)
class Hours:
    """Weekly working hours, in wall-clock time of ``timezone``.

    ``intervals`` are minutes of the week from Monday 00:00, ``[start, end)``, merged and
    sorted; the last may run past Sunday midnight into Monday. Build with :meth:`parse`.
    """

    intervals: tuple[tuple[int, int], ...] = ()
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        timezone_info(self.timezone)

    @classmethod
    def parse(cls, text: str, timezone: str = "UTC") -> Hours:
        """``"mon-fri 08:00-18:00; sat 09:00-13:00"``, ``"mon,wed 08:00-12:00, 14:00-18:00"``,
        ``"fri 20:00-02:00"`` (to the next morning), ``"always"``, ``"never"`` or ``""``."""
        if not isinstance(text, str):
            raise ValueError(f"hours must be text such as 'mon-fri 08:00-18:00', not {text!r}")
        spec = re.sub(r"\s*([-,])\s*", r"\1", " ".join(text.lower().split()))
        if spec in ("", "never"):
            return cls((), timezone)
        if spec in ("always", "24/7"):
            return cls(((0, _WEEK),), timezone)
        spans: list[tuple[int, int]] = []
        for clause in (c.strip() for c in spec.split(";")):
            if not clause:
                continue
            days_text, _, times_text = clause.partition(" ")
            if not times_text.strip(" ,"):
                raise ValueError(
                    f"hours {clause!r}: expected days then times, e.g. 'mon-fri 08:00-18:00'"
                )
            if _RANGE.fullmatch(days_text):
                raise ValueError(f"hours {clause!r}: days come first, e.g. 'mon-fri 08:00-18:00'")
            days = _days(days_text.rstrip(":"), clause)
            for token in re.split(r"[,\s]+", times_text.strip(" ,")):
                start, end = _range(token, clause)
                spans += [(day * _DAY + start, day * _DAY + end) for day in days]
        return cls(_merge(spans), timezone)

    @property
    def zone(self) -> ZoneInfo:
        return timezone_info(self.timezone)

    def is_open(self, at: datetime) -> bool:
        """Working at ``at`` (timezone-aware), read on the counsellor's wall clock."""
        local = _aware(at).astimezone(self.zone)
        minute = local.weekday() * _DAY + local.hour * 60 + local.minute
        second = minute * 60 + local.second + local.microsecond / 1e6
        week = _WEEK * 60
        return any(
            start * 60 <= t < end * 60
            for start, end in self.intervals
            for t in (second, second + week)
        )

    def next_opening(self, at: datetime) -> datetime | None:
        """The first moment >= ``at`` when working (``at`` itself when working now), in the
        timezone of ``at``; None if there is none within 8 days ("never").

        An opening is a span starting on the wall clock, or the clock jumping into a span
        at a daylight-saving change; both are candidates, the earliest open one wins."""
        at = _aware(at)
        if self.is_open(at):
            return at
        if not self.intervals:
            return None
        start = at.astimezone(_UTC)
        limit = start + _LOOK_AHEAD
        candidates = self._transitions(start, limit)
        first_day = at.astimezone(self.zone).date() - timedelta(days=1)
        for n in range(_LOOK_AHEAD.days + 2):
            day = first_day + timedelta(days=n)
            candidates += self._starts_on(day)
        opening = min(
            (c for c in candidates if start <= c <= limit and self.is_open(c)), default=None
        )
        return None if opening is None else opening.astimezone(at.tzinfo)

    def _starts_on(self, day: date) -> list[datetime]:
        """The instants (UTC) when spans start on ``day``'s wall clock: a time the clock shows
        twice (autumn) gives two instants; one it skips (spring) is caught as a transition."""
        instants = []
        for start, _ in self.intervals:
            if start % _WEEK // _DAY == day.weekday():
                minute = start % _DAY
                wall = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=self.zone)
                instants += [wall.replace(fold=f).astimezone(_UTC) for f in (0, 1)]
        return instants

    def _transitions(self, start: datetime, end: datetime) -> list[datetime]:
        """Instants in [start, end] when the zone's UTC offset changes (sampled hourly, then
        found to the second)."""

        def offset(epoch: int) -> timedelta | None:
            return datetime.fromtimestamp(epoch, self.zone).utcoffset()

        found = []
        step = 3600
        t, last = int(start.timestamp()), int(end.timestamp())
        current = offset(t)
        while t < last:
            u = min(t + step, last)
            if offset(u) != current:
                lo, hi = t, u
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    lo, hi = (mid, hi) if offset(mid) == current else (lo, mid)
                found.append(datetime.fromtimestamp(hi, _UTC))
                current = offset(u)
            t = u
        return found

    def __repr__(self) -> str:
        return f"Hours.parse({str(self)!r}, {self.timezone!r})"

    def __str__(self) -> str:
        """The canonical text: ``Hours.parse(str(h), h.timezone) == h``."""
        if not self.intervals:
            return "never"
        if self.intervals == ((0, _WEEK),):
            return "always"
        per_day: dict[int, list[tuple[int, int]]] = {}
        for start, end in self.intervals:
            for day, s, e in _clauses(start, end):
                per_day.setdefault(day, []).append((s, e))
        groups: dict[tuple[tuple[int, int], ...], list[int]] = {}
        for day in sorted(per_day):
            groups.setdefault(tuple(sorted(per_day[day])), []).append(day)
        return "; ".join(
            f"{_format_days(days)} {', '.join(f'{_hhmm(s)}-{_hhmm(e)}' for s, e in ranges)}"
            for ranges, days in sorted(groups.items(), key=lambda group: group[1][0])
        )


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, not {at!r}")
    return at


def _days(text: str, clause: str) -> list[int]:
    days: list[int] = []
    for item in text.split(","):
        first, dash, last = item.partition("-")
        a = _day(first, clause)
        b = _day(last, clause) if dash else a
        days += [(a + n) % 7 for n in range((b - a) % 7 + 1)]  # fri-mon wraps the weekend
    return days


def _day(name: str, clause: str) -> int:
    if name not in DAYS:
        raise ValueError(f"hours {clause!r}: unknown day {name!r} (days: {' '.join(DAYS)})")
    return DAYS.index(name)


def _range(token: str, clause: str) -> tuple[int, int]:
    """Minutes from the day's midnight; an end before the start is the next morning."""
    match = _RANGE.fullmatch(token)
    if not match:
        raise ValueError(
            f"hours {clause!r}: {token!r} is not a time range like 08:00-18:00"
            " (separate clauses with ';')"
        )
    h1, m1, h2, m2 = map(int, match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2):
        raise ValueError(f"hours {clause!r}: {token!r} has a time outside 00:00-24:00")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if start == end:
        raise ValueError(f"hours {clause!r}: {token!r} is empty (a whole day is 00:00-24:00)")
    return start, end if end > start else end + _DAY


def _merge(spans: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Minutes of the week, overlaps and neighbours joined; a span over Sunday midnight is
    one interval, last, ending after ``_WEEK``."""
    linear = []
    for start, end in spans:
        if end > _WEEK:
            linear += [(start, _WEEK), (0, end - _WEEK)]
        else:
            linear.append((start, end))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(linear):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    if len(merged) > 1 and merged[0][0] == 0 and merged[-1][1] == _WEEK:
        merged = [*merged[1:-1], (merged[-1][0], merged[0][1] + _WEEK)]
    return tuple(merged)


def _clauses(start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(day, start, end) pieces of one interval as the syntax writes them: within a day,
    or over one midnight when it ends before the start time."""
    while start < end:
        day, s = divmod(start, _DAY)
        if end - start <= _DAY - s:
            yield day % 7, s, s + end - start
            start = end
        elif s and end - (day + 1) * _DAY < s:
            yield day % 7, s, end - (day + 1) * _DAY
            start = end
        else:
            yield day % 7, s, _DAY
            start = (day + 1) * _DAY


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _format_days(days: list[int]) -> str:
    runs: list[list[int]] = []
    for day in days:
        if runs and day == runs[-1][-1] + 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = []
    for run in runs:
        if len(run) >= 3:
            parts.append(f"{DAYS[run[0]]}-{DAYS[run[-1]]}")
        else:
            parts += [DAYS[day] for day in run]
    return ",".join(parts)


def normalise_address(channel: str, address: object) -> str:
    """The stored form of an address: digits of a Telegram user id, an E.164 number without
    spaces, a local name. ValueError (without the address: it is personal data) if invalid."""
    text = str(address).strip()
    if channel == "telegram":
        if not _TELEGRAM_ID.fullmatch(text):
            raise ValueError(
                "a Telegram address is the numeric user id (e.g. 100000001), not a @username"
            )
    elif channel == "sms":
        text = re.sub(r"[\s().-]", "", text)
        if not _E164.fullmatch(text):
            raise ValueError(
                "an sms address is an E.164 phone number: '+', country code and number,"
                " 8 to 15 digits (e.g. +22370000001)"
            )
    elif channel == "local":
        if not text or len(text) > 64:
            raise ValueError("a local address is a name of 1 to 64 characters (e.g. console)")
    else:
        raise ValueError(f"unknown channel {channel!r} (channels: {', '.join(CHANNELS)})")
    return text


def mask(channel: str, address: str) -> str:
    """An address fit for a screen: ``+223•••••01``, ``tg:•••01``; a local name as is."""
    if not address:
        return "-"
    if channel == "sms":
        prefix = next((p for p in _COUNTRY_PREFIXES if address.startswith(p)), address[:3])
        return f"{prefix}•••••{address[-2:]}"
    if channel == "telegram":
        return f"tg:•••{address[-2:]}"
    return address


@dataclass(frozen=True)
class Counsellor:
    """One counsellor. ``languages[0]`` is the language the console talks to her in. ``hours``
    may be given as text: it is read in ``timezone``. An inactive counsellor may have no
    address (it was given to someone else)."""

    id: str
    name: str
    languages: tuple[str, ...]
    channel: str
    address: str = field(repr=False)  # personal data: kept out of reprs, hence of logs
    timezone: str
    hours: Hours
    active: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not _SLUG.fullmatch(self.id):
            raise ValueError(
                f"counsellor id {self.id!r}: a short slug of a-z, 0-9, '-' or '_' (e.g. 'awa')"
            )
        where = f"counsellor {self.id}"
        if not isinstance(self.name, str) or not self.name.strip() or len(self.name) > 80:
            raise ValueError(f"{where}: a name of 1 to 80 characters is required")
        object.__setattr__(self, "name", self.name.strip())
        languages = languages_of(self.languages or (), where)
        object.__setattr__(self, "languages", languages)
        if self.channel not in CHANNELS:
            raise ValueError(
                f"{where}: unknown channel {self.channel!r} (channels: {', '.join(CHANNELS)})"
            )
        if not isinstance(self.active, bool):
            raise ValueError(f"{where}: active must be true or false")
        if self.active or self.address:
            try:
                address = normalise_address(self.channel, self.address)
            except ValueError as error:
                raise ValueError(f"{where}: {error}") from None
            object.__setattr__(self, "address", address)
        else:
            object.__setattr__(self, "address", "")
        try:
            timezone_info(self.timezone)
            if isinstance(self.hours, str):
                object.__setattr__(self, "hours", Hours.parse(self.hours, self.timezone))
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
        if not isinstance(self.hours, Hours):
            raise ValueError(f"{where}: hours must be text such as 'mon-fri 08:00-18:00'")
        if self.hours.timezone != self.timezone:
            raise ValueError(
                f"{where}: hours are in {self.hours.timezone}, the counsellor in {self.timezone}"
            )

    @classmethod
    def from_mapping(cls, data: object) -> Counsellor:
        """One entry of a registry file (``FILE_KEYS``, and ``active`` optionally)."""
        if not isinstance(data, Mapping):
            raise ValueError(f"expected a mapping with keys {', '.join(FILE_KEYS)}")
        missing = [key for key in FILE_KEYS if key not in data]
        unknown = sorted(str(key) for key in data if key not in (*FILE_KEYS, "active"))
        where = f"counsellor {data.get('id', '?')}"
        if missing or unknown:
            problems = ([f"missing {', '.join(missing)}"] if missing else []) + (
                [f"unknown key(s) {', '.join(unknown)}"] if unknown else []
            )
            raise ValueError(f"{where}: {'; '.join(problems)}")
        address = data["address"]
        if isinstance(address, int) and not isinstance(address, bool):
            if data["channel"] == "sms":  # YAML reads +22370000001 as the integer 22370000001
                raise ValueError(f"{where}: write the phone number in quotes: '+223...'")
            address = str(address)
        languages = data["languages"]
        if isinstance(languages, str):
            languages = languages.split(",")
        if not isinstance(languages, list):
            raise ValueError(f"{where}: languages is a list such as [fr, bm]")
        return cls(
            id=data["id"],
            name=data["name"],
            languages=tuple(languages),
            channel=data["channel"],
            address=address if isinstance(address, str) else "",
            timezone=data["timezone"],
            hours=data["hours"],
            active=data.get("active", True),
        )

    @property
    def language(self) -> str:
        """The language the console talks to her in."""
        return self.languages[0]

    @property
    def masked_address(self) -> str:
        return mask(self.channel, self.address)

    def speaks(self, language: str) -> bool:
        return language in self.languages

    def on_duty(self, at: datetime) -> bool:
        return self.active and self.hours.is_open(at)


class CounsellorRecord(Base):  # type: ignore[misc,valid-type]
    """A counsellor as stored; rows stay after deactivation (the history names them)."""

    __tablename__ = "counsellors"
    __table_args__ = (UniqueConstraint("channel", "address", name="uq_counsellors_address"),)

    id = Column(String(40), primary_key=True)
    name = Column(String(80), nullable=False)
    languages = Column(String(40), nullable=False)  # comma-separated, the console's first
    channel = Column(String(12), nullable=False)
    address = Column(String(64))  # NULL: an inactive row whose address went to someone else
    timezone = Column(String(64), nullable=False)
    hours = Column(String(500), nullable=False)  # canonical text of Hours
    active = Column(Boolean, nullable=False, default=True)
    updated_at = Column(DateTime(timezone=True), nullable=False)


def load_file(path: str | Path) -> list[Counsellor]:
    """The counsellors of a registry file: ``counsellors:``, a list of mappings. Every entry
    is checked; ids and addresses must be unique. ValueError names the file and entry."""
    path = Path(path)
    data = load_yaml(path)
    if data is None:
        return []
    if not isinstance(data, dict) or set(data) != {"counsellors"}:
        raise ValueError(f"{path}: expected one top-level key, 'counsellors:', a list")
    entries = data["counsellors"] or []
    if not isinstance(entries, list):
        raise ValueError(f"{path}: 'counsellors:' must be a list of mappings")
    counsellors = []
    for n, entry in enumerate(entries, 1):
        try:
            counsellors.append(Counsellor.from_mapping(entry))
        except ValueError as error:
            raise ValueError(f"{path}, entry {n}: {error}") from None
    try:
        _check_unique(counsellors)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    return counsellors


def _check_unique(counsellors: Iterable[Counsellor]) -> None:
    ids: set[str] = set()
    holders: dict[tuple[str, str], str] = {}
    for c in counsellors:
        if c.id in ids:
            raise ValueError(f"counsellor {c.id} is listed twice")
        ids.add(c.id)
        if c.address and (c.channel, c.address) in holders:
            other = holders[(c.channel, c.address)]
            raise ValueError(f"counsellors {other} and {c.id} have the same {c.channel} address")
        holders[(c.channel, c.address)] = c.id


class Registry:
    """The counsellors table. It must exist (``bot.storage.make_engine`` creates it once this
    module is imported). Reads are small: the whole table is a few dozen rows."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        self._sessions = sessionmaker(engine, future=True, expire_on_commit=False)
        self._clock = clock

    load_file = staticmethod(load_file)

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with self._sessions.begin() as session:
            yield session

    def upsert(self, counsellor: Counsellor) -> list[str]:
        """Add or update one counsellor; the change lines (none if nothing changed). Her
        address may be taken from an inactive counsellor, not from an active one."""
        return self._apply([counsellor], deactivate_missing=False)

    def remove(self, counsellor_id: str) -> bool:
        """Deactivate (the row stays for the history). False if unknown or already inactive."""
        with self._transaction() as session:
            result = session.execute(
                update(CounsellorRecord)
                .where(CounsellorRecord.id == counsellor_id, CounsellorRecord.active.is_(True))
                .values(active=False, updated_at=self._clock()),
                execution_options={"synchronize_session": False},
            )
            removed = bool(result.rowcount)  # type: ignore[attr-defined]
        if removed:
            _log([f"deactivate {counsellor_id}"])
        return removed

    def get(self, counsellor_id: str) -> Counsellor | None:
        with self._transaction() as session:
            row = session.get(CounsellorRecord, counsellor_id)
            return None if row is None else _counsellor(row)

    def all(self) -> list[Counsellor]:
        """Every counsellor, inactive ones included, by id."""
        with self._transaction() as session:
            return list(_current(session).values())

    def find(self, channel: str, address: str) -> Counsellor | None:
        """The counsellor behind an inbound message (a Telegram user id as a string, a phone
        number), active or not: the caller decides what an inactive one may do."""
        try:
            address = normalise_address(channel, address)
        except ValueError:
            return None
        statement = select(CounsellorRecord).where(
            CounsellorRecord.channel == channel, CounsellorRecord.address == address
        )
        with self._transaction() as session:
            row = session.scalars(statement).first()
            return None if row is None else _counsellor(row)

    def available(self, language: str, at: datetime | None = None) -> list[Counsellor]:
        """Active counsellors who speak ``language`` and work at ``at`` (now), by id."""
        at = self._clock() if at is None else at
        return [c for c in self._speakers(language) if c.hours.is_open(at)]

    def next_opening(self, language: str, at: datetime | None = None) -> datetime | None:
        """When the first active counsellor speaking ``language`` is at work (``at`` itself
        if one is now); None if nobody is within 8 days."""
        at = self._clock() if at is None else at
        openings = [c.hours.next_opening(at) for c in self._speakers(language)]
        return min((o for o in openings if o is not None), default=None)

    def import_file(self, path: str | Path, dry_run: bool = False) -> list[str]:
        """Make the table equal to a registry file: add, update, reactivate, and deactivate
        who is no longer in it. The change lines, written or (``dry_run``) not. The file is
        checked whole before anything is written; the writes are one transaction."""
        return self._apply(load_file(path), deactivate_missing=True, dry_run=dry_run)

    def _apply(
        self, wanted: list[Counsellor], *, deactivate_missing: bool, dry_run: bool = False
    ) -> list[str]:
        """Plan against the table as it is, write in the same transaction. Two instances
        importing the same file at start collide on a key once; the second try plans again
        from what the first wrote, and has nothing left to do."""
        for attempt in (1, 2):
            try:
                with self._transaction() as session:
                    current = _current(session)
                    final, lines = _plan(current, wanted, deactivate_missing=deactivate_missing)
                    if not dry_run:
                        _write(session, current, final, self._clock())
                break
            except IntegrityError:
                if attempt == 2:
                    raise
        if not dry_run:
            _log(lines)
        return lines

    def _speakers(self, language: str) -> list[Counsellor]:
        statement = select(CounsellorRecord).where(CounsellorRecord.active.is_(True))
        with self._transaction() as session:
            rows = session.scalars(statement.order_by(CounsellorRecord.id)).all()
            return [c for c in map(_counsellor, rows) if c.speaks(language)]


def _log(lines: list[str]) -> None:
    """Change lines name ids and fields, never addresses."""
    if lines:
        logger.info("Counsellor registry: %s.", "; ".join(lines))


def _current(session: Session) -> dict[str, Counsellor]:
    rows = session.scalars(select(CounsellorRecord).order_by(CounsellorRecord.id))
    return {row.id: _counsellor(row) for row in rows}


def _counsellor(row: CounsellorRecord) -> Counsellor:
    return Counsellor(
        id=row.id,
        name=row.name,
        languages=tuple(row.languages.split(",")),
        channel=row.channel,
        address=row.address or "",
        timezone=row.timezone,
        hours=Hours.parse(row.hours, row.timezone),
        active=bool(row.active),
    )


def _values(counsellor: Counsellor) -> dict[str, Any]:
    return {
        "name": counsellor.name,
        "languages": ",".join(counsellor.languages),
        "channel": counsellor.channel,
        "address": counsellor.address or None,
        "timezone": counsellor.timezone,
        "hours": str(counsellor.hours),
        "active": counsellor.active,
    }


def _plan(
    current: dict[str, Counsellor], wanted: list[Counsellor], *, deactivate_missing: bool
) -> tuple[dict[str, Counsellor], list[str]]:
    """The table after writing ``wanted`` (and deactivating the others), and the change
    lines. An address a wanted counsellor takes is released from an inactive holder."""
    _check_unique(wanted)
    final = dict(current)
    lines = []
    for counsellor in wanted:
        old = current.get(counsellor.id)
        final[counsellor.id] = counsellor
        if old is None:
            lines.append(f"add {counsellor.id}" + ("" if counsellor.active else " (inactive)"))
        elif old != counsellor:
            lines.append(_change_line(old, counsellor))
    ids = {c.id for c in wanted}
    if deactivate_missing:
        for counsellor_id, old in current.items():
            if counsellor_id not in ids and old.active:
                final[counsellor_id] = replace(old, active=False)
                lines.append(f"deactivate {counsellor_id}")
    takers = {(c.channel, c.address): c.id for c in wanted if c.address}
    for counsellor_id, other in sorted(final.items()):
        taker = takers.get((other.channel, other.address))
        if counsellor_id in ids or taker is None:
            continue
        if other.active:
            raise ValueError(
                f"counsellor {taker}: this {other.channel} address belongs to {counsellor_id}"
                " (active)"
            )
        final[counsellor_id] = replace(other, address="")
        lines.append(f"release {counsellor_id}'s {other.channel} address (now {taker}'s)")
    return final, lines


def _change_line(old: Counsellor, new: Counsellor) -> str:
    fields = [
        name
        for name in ("name", "languages", "channel", "address", "timezone")
        if getattr(old, name) != getattr(new, name)
    ]
    if str(old.hours) != str(new.hours):
        fields.append("hours")
    verb = "update" if old.active == new.active else "reactivate" if new.active else "deactivate"
    return f"{verb} {new.id}" + (f": {', '.join(fields)}" if fields else "")


def _write(
    session: Session, current: dict[str, Counsellor], final: dict[str, Counsellor], now: datetime
) -> None:
    changed = {i: c for i, c in final.items() if current.get(i) != c}
    # Addresses that move are cleared first: two counsellors swapping numbers would break
    # the unique (channel, address) between the two updates.
    moving = [
        i
        for i, c in changed.items()
        if i in current and (current[i].channel, current[i].address) != (c.channel, c.address)
    ]
    if moving:
        session.execute(
            update(CounsellorRecord).where(CounsellorRecord.id.in_(moving)).values(address=None),
            execution_options={"synchronize_session": False},
        )
    for counsellor_id, counsellor in changed.items():
        values = _values(counsellor) | {"updated_at": now}
        if counsellor_id in current:
            session.execute(
                update(CounsellorRecord)
                .where(CounsellorRecord.id == counsellor_id)
                .values(**values),
                execution_options={"synchronize_session": False},
            )
        else:
            session.execute(insert(CounsellorRecord).values(id=counsellor_id, **values))
