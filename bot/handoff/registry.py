"""Who the counsellors are, which languages they speak, how to reach them, and when they work.

The source of truth in production is a YAML file outside git (``COUNSELLORS_FILE``: names,
phone numbers and Telegram ids are personal data); :meth:`Registry.import_file` makes the
``counsellors`` table equal to it. Counsellors who leave the file are deactivated, not deleted:
the handoff history still names them. The local run uses ``counsellors.local.yml`` (one
counsellor, played by the console).

Working hours are wall-clock times in the counsellor's timezone, so "08:00" stays 08:00 for
her across daylight-saving changes (:mod:`bot.handoff.hours`).

Addresses never reach the logs: log lines and change lines name counsellors by id only.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Boolean, Column, DateTime, String, UniqueConstraint, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.countries import calling_code, country_of_phone
from bot.datafiles import languages_of, load_yaml
from bot.db.base import Base, utcnow
from bot.handoff.hours import Hours, timezone_info
from bot.settings import HandoffSettings

logger = logging.getLogger(__name__)

CHANNELS = ("telegram", "sms", "local")
# A supervisor also assigns, takes over and closes any handoff, and reads any transcript.
ROLES = ("counsellor", "supervisor")
LOCAL_FILE = Path(__file__).with_name("counsellors.local.yml")
FILE_KEYS = ("id", "name", "languages", "channel", "address", "timezone", "hours")
OPTIONAL_KEYS = ("active", "role")

_UTC = timezone.utc
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
_E164 = re.compile(r"\+[1-9]\d{7,14}")
_TELEGRAM_ID = re.compile(r"[1-9]\d{0,19}")


def counsellors_file(settings: HandoffSettings) -> Path:
    """``COUNSELLORS_FILE``, else the local run's registry (the console's counsellor)."""
    return Path(settings.counsellors_file) if settings.counsellors_file else LOCAL_FILE


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
        prefix = calling_code(country_of_phone(address)) or address[:3]  # shown unmasked
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
    role: str = "counsellor"

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
        if self.role not in ROLES:
            raise ValueError(f"{where}: unknown role {self.role!r} (roles: {', '.join(ROLES)})")
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
        unknown = sorted(str(key) for key in data if key not in (*FILE_KEYS, *OPTIONAL_KEYS))
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
            role=data.get("role", "counsellor"),
        )

    @property
    def language(self) -> str:
        """The language the console talks to her in."""
        return self.languages[0]

    @property
    def masked_address(self) -> str:
        return mask(self.channel, self.address)

    @property
    def supervisor(self) -> bool:
        return self.role == "supervisor"

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
    role = Column(String(12), nullable=False, default="counsellor", server_default="counsellor")
    # She wrote STOP to her console: asked to confirm (not part of the registry file).
    stop_asked_at = Column(DateTime(timezone=True))


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
    """The counsellors table. It must exist (``bot.db.database.make_engine`` creates it once this
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

    def named(self, name: str) -> Counsellor | None:
        """The active counsellor a supervisor names: her id or her first name, any case."""
        wanted = name.strip().lstrip("@").casefold()
        active = [c for c in self.all() if c.active]
        return next((c for c in active if c.id == wanted), None) or next(
            (c for c in active if c.name.casefold() == wanted), None
        )

    def supervisors(self) -> list[Counsellor]:
        """Active supervisors, by id (told when a relay finally fails)."""
        return [c for c in self.all() if c.active and c.supervisor]

    def ask_stop(self, counsellor_id: str) -> None:
        """She wrote STOP: remember it, to act on her confirmation."""
        self._set_stop(counsellor_id, self._clock())

    def stop_asked(self, counsellor_id: str, within: timedelta) -> bool:
        """Whether she wrote STOP less than ``within`` ago (and it was not answered yet)."""
        with self._transaction() as session:
            row = session.get(CounsellorRecord, counsellor_id)
            asked = row.stop_asked_at if row is not None else None
        if asked is None:
            return False
        asked = asked if asked.tzinfo else asked.replace(tzinfo=_UTC)
        return self._clock() - asked <= within

    def clear_stop(self, counsellor_id: str) -> None:
        self._set_stop(counsellor_id, None)

    def _set_stop(self, counsellor_id: str, value: datetime | None) -> None:
        with self._transaction() as session:
            session.execute(
                update(CounsellorRecord).where(CounsellorRecord.id == counsellor_id)
                .values(stop_asked_at=value),
                execution_options={"synchronize_session": False},
            )  # fmt: skip

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
        role=row.role or "counsellor",
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
        "role": counsellor.role,
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
        for name in ("name", "languages", "channel", "address", "timezone", "role")
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
