"""``python -m bot booking import|sessions|roster|attend|cancel-session|move``: the workshop
schedule and its bookings, for staff, from a shell.

Times are shown on each venue's clock (a Bamako session at 09:30 reads 09:30, whatever the
server's zone). Participants appear only as their pseudonym, in rosters.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Callable
from pathlib import Path

import bot.booking.models
import bot.booking.notices  # noqa: F401  (imported first: the engine creates their tables)
from bot import LANGUAGES
from bot.booking.service import BookingService
from bot.datafiles import table
from bot.db.database import engine_from_env
from bot.settings import StackSettings, settings_from_env

Handler = Callable[[argparse.Namespace, StackSettings], int]
COLUMNS = ("session", "starts (venue time)", "venue", "lang", "topic", "facilitator",
           "seats left")  # fmt: skip
ROSTER_COLUMNS = ("reference", "participant", "status", "booked_at")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``booking`` and its sub-commands to ``python -m bot``'s sub-parsers."""
    parser = commands.add_parser(
        "booking", help="workshop sessions: import the schedule, rosters, attendance, moves"
    )
    sub = parser.add_subparsers(dest="booking_command", required=True)
    importing = sub.add_parser(
        "import", help="add and update venues, workshops, sessions from a YAML or CSV file"
    )
    importing.add_argument(
        "file", metavar="FILE", help="e.g. bot/booking/schedule.example.yml"
    )
    importing.add_argument("--dry-run", action="store_true", help="show changes, write nothing")
    importing.set_defaults(func=_import)
    listing = sub.add_parser("sessions", help="upcoming sessions and their seats left")
    listing.add_argument("--language", choices=LANGUAGES, help="only sessions held in it")
    listing.add_argument("--limit", type=int, default=100, help="at most this many (100)")
    listing.set_defaults(func=_sessions)
    roster = sub.add_parser("roster", help="who comes to a session, as CSV")
    roster.add_argument("session", metavar="SESSION_CODE")
    roster.add_argument(
        "--out", metavar="FILE", help="write the CSV to this file (default: the screen)"
    )
    roster.set_defaults(func=_roster)
    attend = sub.add_parser("attend", help="mark a booking attended, or --no-show")
    attend.add_argument("session", metavar="SESSION_CODE")
    attend.add_argument("reference", metavar="REFERENCE", help="the booking's, e.g. K7Q2M")
    attend.add_argument("--no-show", action="store_true", help="she did not come")
    attend.set_defaults(func=_attend)
    cancel = sub.add_parser(
        "cancel-session", help="cancel a session and its bookings (the participants are told)"
    )
    cancel.add_argument("session", metavar="SESSION_CODE")
    cancel.set_defaults(func=_cancel_session)
    move = sub.add_parser("move", help="move a booking to another session (same reference)")
    move.add_argument("reference", metavar="REFERENCE", help="the booking's, e.g. K7Q2M")
    move.add_argument("to_session", metavar="TO_SESSION_CODE")
    move.set_defaults(func=_move)


def _reporting(handler: Handler) -> Handler:
    """A bad file, code or reference is the user's to fix: one line on stderr, status 2."""

    def run(args: argparse.Namespace, settings: StackSettings) -> int:
        try:
            return handler(args, settings)
        except (ValueError, LookupError, OSError) as error:
            print(f"booking: {error}", file=sys.stderr)
            return 2

    run.__doc__ = handler.__doc__
    return run


def _service() -> BookingService:
    return BookingService.from_settings(engine_from_env(), settings_from_env().booking)


@_reporting
def _import(args: argparse.Namespace, settings: StackSettings) -> int:
    lines = _service().import_schedule(args.file, dry_run=args.dry_run)
    print("\n".join(lines) if lines else f"{args.file}: no change.")
    if args.dry_run:
        print("Dry run: nothing written.")
    return 0


@_reporting
def _sessions(args: argparse.Namespace, settings: StackSettings) -> int:
    sessions = _service().upcoming(language=args.language, limit=max(args.limit, 1))
    if not sessions:
        print("No upcoming sessions. Load a schedule: python -m bot booking import FILE")
        return 0
    rows = [
        (s.code, f"{s.local_start:%a %Y-%m-%d %H:%M %Z}", f"{s.venue_name}, {s.venue_city}",
         s.language, s.topic, s.facilitator_role, f"{s.seats_left} of {s.capacity}")
        for s in sessions
    ]  # fmt: skip
    print("\n".join(table(COLUMNS, rows)))
    return 0


@_reporting
def _roster(args: argparse.Namespace, settings: StackSettings) -> int:
    service = _service()
    rows = service.roster(args.session)
    session = service.session(args.session)
    assert session is not None  # roster() found it
    zone = session.local_start.tzinfo
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(ROSTER_COLUMNS)
    for row in rows:
        booked_at = row.booked_at.astimezone(zone).isoformat(timespec="minutes")
        writer.writerow((row.reference, row.participant, row.status, booked_at))
    if args.out:
        Path(args.out).write_text(text.getvalue(), encoding="utf-8")
        print(f"{len(rows)} booking(s) of {session.code} written to {args.out}")
    else:
        print(text.getvalue(), end="")
    return 0


@_reporting
def _attend(args: argparse.Namespace, settings: StackSettings) -> int:
    booking = _service().mark_attendance(args.session, args.reference, not args.no_show)
    print(f"{booking.reference}: {booking.status}")
    return 0


@_reporting
def _cancel_session(args: argparse.Namespace, settings: StackSettings) -> int:
    cancelled = _service().cancel_session(args.session)
    print(f"cancel session {args.session}: {len(cancelled)} booking(s) cancelled, "
          "their participants will be told")  # fmt: skip
    return 0


@_reporting
def _move(args: argparse.Namespace, settings: StackSettings) -> int:
    booking = _service().move(args.reference, args.to_session)
    place = (
        f"waitlisted (number {booking.waitlist_position})"
        if booking.waitlist_position
        else booking.status
    )
    print(f"move {booking.reference} to {booking.session.code}: {place}")
    return 0
