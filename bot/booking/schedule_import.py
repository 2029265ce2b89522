"""Writing a schedule file (:mod:`bot.booking.schedule_file`) into the database: add and
update venues, workshops and sessions, never delete.

The file is compared whole with the rows its codes name and planned (the change lines)
before anything is written, so a refused entry leaves the database as it was. A session the
file cancels cancels its bookings, a new time moves the reminders, seats added go to the
waitlist: the same steps (:mod:`bot.booking.seats`) as a change made by staff.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from bot.booking.errors import BookingError, NotFound, SessionClosed
from bot.booking.models import (
    ACTIVE,
    BOOKED,
    CANCELLED,
    SCHEDULED,
    WAITLISTED,
    Booking,
    Venue,
    Workshop,
    WorkshopSession,
    utc,
)
from bot.booking.schedule_file import Schedule, SessionSpec, VenueSpec, WorkshopSpec
from bot.booking.seats import cancel_all, lock, promote_next, retime

Row = TypeVar("Row", Venue, Workshop)


def import_into(
    session: Session, schedule: Schedule, *, now: datetime, dry_run: bool,
    reminder_before: timedelta,
) -> list[str]:  # fmt: skip
    """The change lines of ``schedule``, written in the caller's transaction unless
    ``dry_run``. A BookingError refuses the whole file."""
    if not dry_run:  # the sessions the file names, locked before they are compared
        codes = [spec.code for spec in schedule.sessions]
        lock(session, *session.scalars(
            select(WorkshopSession.id).where(WorkshopSession.code.in_(codes))
        ).all())  # fmt: skip
    stored = _Stored.read(session, schedule)
    plan = _plan_import(schedule, stored, now)
    if not dry_run:
        _write_import(session, plan, stored, now, reminder_before)
    return plan.lines


@dataclass
class _Stored:
    """What an import is compared with: the rows the file's codes name, and the number of
    active bookings of each of those sessions by status."""

    venues: dict[str, Venue]
    workshops: dict[str, Workshop]
    sessions: dict[str, WorkshopSession]
    active: dict[tuple[int, str], int]

    @classmethod
    def read(cls, session: Session, schedule: Schedule) -> _Stored:
        """Read once, before planning: the plan is checked against these rows only."""
        venue_codes = {v.code for v in schedule.venues} | {s.venue for s in schedule.sessions}
        workshop_codes = {w.code for w in schedule.workshops} | {
            s.workshop for s in schedule.sessions
        }
        session_codes = [s.code for s in schedule.sessions]
        venues = session.scalars(select(Venue).where(Venue.code.in_(venue_codes)))
        workshops = session.scalars(select(Workshop).where(Workshop.code.in_(workshop_codes)))
        rows = {r.code: r for r in session.scalars(
            select(WorkshopSession).where(WorkshopSession.code.in_(session_codes)))}  # fmt: skip
        active = session.execute(
            select(Booking.session_id, Booking.status, func.count())
            .where(Booking.session_id.in_([r.id for r in rows.values()]),
                   Booking.status.in_(ACTIVE))
            .group_by(Booking.session_id, Booking.status)
        )  # fmt: skip
        return cls(
            venues={v.code: v for v in venues},
            workshops={w.code: w for w in workshops},
            sessions=rows,
            active={(session_id, status): int(n) for session_id, status, n in active},
        )


@dataclass
class _SessionPlan:
    """What an import does to one session of the file."""

    spec: SessionSpec
    starts_at: datetime
    old: WorkshopSession | None = None
    fields: list[str] = field(default_factory=list)
    cancel: bool = False
    reopen: bool = False
    promote: int = 0


@dataclass
class _ImportPlan:
    """The whole file's changes: the lines shown, and what is written (checked first)."""

    lines: list[str]
    venues: list[VenueSpec]  # to add or update
    workshops: list[WorkshopSpec]
    sessions: list[_SessionPlan]


# Planning: reads only


def _plan_import(schedule: Schedule, stored: _Stored, now: datetime) -> _ImportPlan:
    """The change lines and what to write; a BookingError refuses the whole file."""
    plan = _ImportPlan([], [], [], [])
    for venue in schedule.venues:
        line = _plan_line("venue", stored.venues.get(venue.code), venue,
                          ("name", "city", "country", "timezone"))  # fmt: skip
        if line:
            plan.lines.append(line)
            plan.venues.append(venue)
    for workshop in schedule.workshops:
        line = _plan_line("workshop", stored.workshops.get(workshop.code), workshop,
                          ("topic", "facilitator_role", "languages"))  # fmt: skip
        if line:
            plan.lines.append(line)
            plan.workshops.append(workshop)
    for spec in schedule.sessions:
        change = _plan_session(spec, schedule, stored, now)
        plan.lines += _plan_lines(change)
        plan.sessions.append(change)
    return plan


def _plan_session(
    spec: SessionSpec, schedule: Schedule, stored: _Stored, now: datetime
) -> _SessionPlan:
    """One session of the file against its row (if any)."""
    where = f"session {spec.code}"
    zones = {c: v.timezone for c, v in stored.venues.items()} | {
        v.code: v.timezone for v in schedule.venues
    }
    spoken = {c: _languages(w) for c, w in stored.workshops.items()} | {
        w.code: w.languages for w in schedule.workshops
    }
    if spec.venue not in zones:
        raise NotFound(f"{where}: unknown venue {spec.venue} (in neither file nor database)")
    if spec.workshop not in spoken:
        raise NotFound(f"{where}: unknown workshop {spec.workshop} (in neither file nor database)")
    if spec.language not in spoken[spec.workshop]:
        raise BookingError(
            f"{where}: workshop {spec.workshop} is given in {', '.join(spoken[spec.workshop])},"
            f" not {spec.language!r}"
        )
    try:
        starts_at = spec.start_utc(zones[spec.venue])
    except ValueError as error:
        raise BookingError(f"{where}: {error}") from None
    plan = _SessionPlan(spec, starts_at, stored.sessions.get(spec.code))
    old = plan.old
    if old is None:
        return plan
    booked = stored.active.get((old.id, BOOKED), 0)
    waiting = stored.active.get((old.id, WAITLISTED), 0)
    venue, workshop = stored.venues.get(spec.venue), stored.workshops.get(spec.workshop)
    changes = {
        "starts_at": utc(old.starts_at) != starts_at,
        "duration_minutes": old.duration_minutes != spec.duration_minutes,
        "capacity": old.capacity != spec.capacity,
        "language": old.language != spec.language,
        "workshop": workshop is None or workshop.id != old.workshop_id,
        "venue": venue is None or venue.id != old.venue_id,
    }
    plan.fields = [name for name, changed in changes.items() if changed]
    plan.cancel = old.status == SCHEDULED and spec.status == CANCELLED
    plan.reopen = old.status == CANCELLED and spec.status == SCHEDULED
    if (changes["venue"] or changes["workshop"]) and booked + waiting:
        raise BookingError(
            f"{where} has {booked + waiting} active booking(s): its venue and workshop "
            "cannot change (cancel it and add a new session)"
        )
    if plan.cancel and utc(old.starts_at) <= now:
        raise SessionClosed(f"{where} has already started: it cannot be cancelled")
    seats = old.booked_count - (booked if plan.cancel else 0)
    if spec.capacity < seats:
        raise BookingError(
            f"{where}: capacity {spec.capacity} is below the {seats} seat(s) already taken;"
            " cancel or move bookings first"
        )
    if spec.status == SCHEDULED and not plan.cancel and starts_at > now:
        plan.promote = min(max(spec.capacity - seats, 0), waiting)
    return plan


def _plan_line(
    kind: str, old: Venue | Workshop | None, new: VenueSpec | WorkshopSpec,
    names: tuple[str, ...],
) -> str | None:  # fmt: skip
    """"add venue v-paris", "update venue v-paris: name", or None when nothing changed."""
    if old is None:
        return f"add {kind} {new.code}"
    fields = [n for n in names if _value(old, n) != getattr(new, n)]
    return f"update {kind} {new.code}: {', '.join(fields)}" if fields else None


def _plan_lines(plan: _SessionPlan) -> list[str]:
    """What the import does to one session, as shown to staff (nothing: no line)."""
    code = plan.spec.code
    if plan.old is None:
        return [f"add session {code}" + (" (cancelled)" if plan.spec.status == CANCELLED else "")]
    lines = [f"update session {code}: {', '.join(plan.fields)}"] if plan.fields else []
    if plan.cancel:
        lines.append(f"cancel session {code} and its bookings")
    if plan.reopen:
        lines.append(f"reopen session {code}")
    if plan.promote:
        lines.append(f"promote {plan.promote} from the waitlist of {code}")
    return lines


def _value(row: Venue | Workshop, name: str) -> object:
    """A stored field as the schedule file spells it (a workshop's languages: a tuple)."""
    if name == "languages" and isinstance(row, Workshop):
        return _languages(row)
    return getattr(row, name)


def _languages(workshop: Workshop) -> tuple[str, ...]:
    """A workshop's languages, stored comma-separated (``fr,bm``)."""
    return tuple(workshop.languages.split(","))


# Writing, in the caller's transaction, under the sessions' locks


def _write_import(
    session: Session, plan: _ImportPlan, stored: _Stored, now: datetime,
    reminder_before: timedelta,
) -> None:  # fmt: skip
    """The plan written: venues and workshops first (the sessions name them), then each
    session's change, with the same steps as staff's changes."""
    venue_ids = {code: v.id for code, v in stored.venues.items()}
    for venue in plan.venues:
        values: dict[str, object] = {
            "name": venue.name, "city": venue.city, "country": venue.country,
            "timezone": venue.timezone, "updated_at": now,
        }  # fmt: skip
        venue_ids[venue.code] = _upsert(session, Venue, stored.venues.get(venue.code),
                                        venue.code, values)  # fmt: skip
    workshop_ids = {code: w.id for code, w in stored.workshops.items()}
    for workshop in plan.workshops:
        values = {"topic": workshop.topic, "facilitator_role": workshop.facilitator_role,
                  "languages": ",".join(workshop.languages), "updated_at": now}  # fmt: skip
        workshop_ids[workshop.code] = _upsert(
            session, Workshop, stored.workshops.get(workshop.code), workshop.code, values
        )
    for change in plan.sessions:
        spec, row = change.spec, change.old
        values = {
            "workshop_id": workshop_ids[spec.workshop], "venue_id": venue_ids[spec.venue],
            "starts_at": change.starts_at, "duration_minutes": spec.duration_minutes,
            "capacity": spec.capacity, "language": spec.language, "updated_at": now,
        }  # fmt: skip
        if row is None:
            session.add(WorkshopSession(code=spec.code, status=spec.status, booked_count=0,
                                        **values))  # fmt: skip
            continue
        if change.cancel:  # first: a lower capacity may need the seats it frees
            cancel_all(session, row, now)
        if change.fields or change.reopen:
            if change.reopen:
                values["status"] = SCHEDULED
            session.execute(
                update(WorkshopSession).where(WorkshopSession.id == row.id).values(**values),
                execution_options={"synchronize_session": False},
            )
            session.expire(row)
        if "starts_at" in change.fields and spec.status == SCHEDULED and not change.cancel:
            retime(session, row, now, reminder_before)
        for _ in range(change.promote):
            promote_next(session, row, now, reminder_before)
    session.flush()


def _upsert(
    session: Session, model: type[Row], old: Row | None, code: str, values: dict[str, object]
) -> int:
    """The row's id, added or updated with ``values``."""
    if old is None:
        row = model(code=code, **values)
        session.add(row)
        session.flush()
        return int(row.id)
    session.execute(
        update(model).where(model.id == old.id).values(**values),
        execution_options={"synchronize_session": False},
    )
    return int(old.id)
