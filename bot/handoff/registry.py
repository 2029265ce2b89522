"""The ``counsellors`` table: who the counsellors are, which languages they speak, how to reach
them, and when they work.

:meth:`Registry.import_file` makes the table equal to the registry file
(:mod:`bot.handoff.registry_file`: its format and the :class:`Counsellor` it describes).
Counsellors who leave the file are deactivated, not deleted: the handoff history still names
them.

Addresses never reach the logs: log lines and change lines name counsellors by id only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import Boolean, Column, DateTime, String, UniqueConstraint, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from bot.db.base import Base, utcnow
from bot.db.transactions import Transactional
from bot.handoff.hours import Hours
from bot.handoff.registry_file import Counsellor, check_unique, load_file, normalise_address

logger = logging.getLogger(__name__)

_UTC = timezone.utc


class CounsellorRecord(Base):
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


class Registry(Transactional):
    """The counsellors table (made by the migrations, which every engine runs). Reads are
    small: the whole table is a few dozen rows."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime] = utcnow) -> None:
        super().__init__(engine)
        self._clock = clock  # injected: tests move time (STOP confirmations, duty hours)

    load_file = staticmethod(load_file)

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
            removed = bool(result.rowcount)
        if removed:
            _log([f"deactivate {counsellor_id}"])
        return removed

    def get(self, counsellor_id: str) -> Counsellor | None:
        """The counsellor ``counsellor_id``, active or not; None if unknown."""
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
        """Her STOP was answered (confirmed or not): forget it."""
        self._set_stop(counsellor_id, None)

    def _set_stop(self, counsellor_id: str, value: datetime | None) -> None:
        """When she wrote STOP (None: no pending confirmation)."""
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
        from what the first wrote, and has nothing left to do (hence two attempts)."""

        def plan_and_write(session: Session) -> list[str]:
            current = _current(session)
            final, lines = _plan(current, wanted, deactivate_missing=deactivate_missing)
            if not dry_run:
                _write(session, current, final, self._clock())
            return lines

        lines = self._run(plan_and_write, attempts=2)
        if not dry_run:
            _log(lines)
        return lines

    def _speakers(self, language: str) -> list[Counsellor]:
        """Active counsellors who speak ``language``, by id: whom a request may reach."""
        statement = select(CounsellorRecord).where(CounsellorRecord.active.is_(True))
        with self._transaction() as session:
            rows = session.scalars(statement.order_by(CounsellorRecord.id)).all()
            return [c for c in map(_counsellor, rows) if c.speaks(language)]


def _log(lines: list[str]) -> None:
    """Change lines name ids and fields, never addresses."""
    if lines:
        logger.info("Counsellor registry: %s.", "; ".join(lines))


def _current(session: Session) -> dict[str, Counsellor]:
    """The whole table, by id: the plan of an import starts from it."""
    rows = session.scalars(select(CounsellorRecord).order_by(CounsellorRecord.id))
    return {row.id: _counsellor(row) for row in rows}


def _counsellor(row: CounsellorRecord) -> Counsellor:
    """A row as the value every caller uses (its hours parsed in its timezone)."""
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


def _values(counsellor: Counsellor) -> dict[str, object]:
    """The columns of a counsellor as stored; no address is NULL, which the unique
    (channel, address) allows on several inactive rows."""
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
    check_unique(wanted)
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
    """One line of an import's report: the verb and the fields that changed (never
    their values: addresses are personal data)."""
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
    """The plan, written: only the rows that change."""
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
