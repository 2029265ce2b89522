"""Working hours: wall-clock times in a counsellor's time zone, so that "08:00" stays 08:00
for her across daylight-saving changes. :class:`Hours` parses the registry's text
(``"mon-fri 08:00-18:00; sat 09:00-13:00"``) and answers "working now?" and "back when?".
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_UTC = timezone.utc
_DAY = 24 * 60  # minutes
_WEEK = 7 * _DAY
_LOOK_AHEAD = timedelta(days=8)
_RANGE = re.compile(r"(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})")


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
        """The counsellor's timezone, in which the hours are read."""
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
    """``at`` itself; a naive time has no place on anyone's wall clock (ValueError)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, not {at!r}")
    return at


def _days(text: str, clause: str) -> list[int]:
    """Weekday numbers of a days part (``mon-fri``, ``sat,sun``; ``fri-mon`` wraps)."""
    days: list[int] = []
    for item in text.split(","):
        first, dash, last = item.partition("-")
        a = _day(first, clause)
        b = _day(last, clause) if dash else a
        days += [(a + n) % 7 for n in range((b - a) % 7 + 1)]  # fri-mon wraps the weekend
    return days


def _day(name: str, clause: str) -> int:
    """The number of a day name (0: Monday)."""
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
    """Minutes from midnight as ``HH:MM``."""
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _format_days(days: list[int]) -> str:
    """Weekday numbers as the syntax writes them (``mon-fri``, ``sat,sun``)."""
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
