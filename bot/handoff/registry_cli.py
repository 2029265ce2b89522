"""``python -m bot counsellors list|import|add|remove``: the counsellor registry from a shell.

Addresses are personal data: ``list`` shows them masked (``+223•••••01``, ``tg:•••01``), and
no command prints one in full.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from bot.datafiles import table
from bot.db.base import utcnow
from bot.db.database import engine_from_env
from bot.handoff.registry import Registry
from bot.handoff.registry_file import CHANNELS, ROLES, Counsellor, counsellors_file
from bot.handoff.service import HandoffService
from bot.handoff.supervision import import_registry, remove_counsellor
from bot.settings import StackSettings, settings_from_env

Handler = Callable[[argparse.Namespace, StackSettings], int]
COLUMNS = ("id", "name", "role", "languages", "channel", "address", "hours", "timezone",
           "active", "on duty")  # fmt: skip


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``counsellors`` and its sub-commands to ``python -m bot``'s sub-parsers."""
    parser = commands.add_parser(
        "counsellors", help="the counsellors of the human handoff: list, import, add, remove"
    )
    sub = parser.add_subparsers(dest="counsellors_command", required=True)
    sub.add_parser(
        "list", help="every counsellor, address masked, and who is on duty now"
    ).set_defaults(func=_list)
    importing = sub.add_parser(
        "import", help="make the registry equal to a YAML file (counsellors.example.yml)"
    )
    importing.add_argument(
        "file", nargs="?", help="default: $COUNSELLORS_FILE, else the local run's registry"
    )
    importing.add_argument("--dry-run", action="store_true", help="show changes, write nothing")
    importing.set_defaults(func=_import)
    adding = sub.add_parser("add", help="add a counsellor, or update one with the same id")
    adding.add_argument("--id", required=True, help="a short slug, e.g. awa")
    adding.add_argument("--name", required=True, help="first name shown to users")
    adding.add_argument(
        "--languages", required=True, help="fr, es, bm, comma-separated; the console's first"
    )
    adding.add_argument("--channel", required=True, choices=CHANNELS)
    adding.add_argument(
        "--address", required=True, help="Telegram user id, E.164 number, or a local name"
    )
    adding.add_argument("--timezone", required=True, help="IANA name, e.g. Africa/Bamako")
    adding.add_argument(
        "--hours", required=True, help="e.g. 'mon-fri 08:00-18:00; sat 09:00-13:00', 'always'"
    )
    adding.add_argument(
        "--role", choices=ROLES, default="counsellor",
        help="a supervisor also assigns, takes over and closes any handoff",
    )  # fmt: skip
    adding.set_defaults(func=_add)
    removing = sub.add_parser(
        "remove", help="deactivate a counsellor (kept for the history); her handoffs go back "
        "to the queue")  # fmt: skip
    removing.add_argument("id")
    removing.set_defaults(func=_remove)


def _reporting(handler: Handler) -> Handler:
    """A bad file or value is the user's to fix: one line on stderr, exit status 2."""

    def run(args: argparse.Namespace, settings: StackSettings) -> int:
        try:
            return handler(args, settings)
        except (ValueError, OSError) as error:
            print(f"counsellors: {error}", file=sys.stderr)
            return 2

    run.__doc__ = handler.__doc__
    return run


def _registry() -> Registry:
    """On the project database (upgraded to the newest schema by ``engine_from_env``)."""
    return Registry(engine_from_env())


def _handoffs() -> HandoffService:
    """The handoff service: removals give the counsellor's handoffs back."""
    return HandoffService(engine_from_env(), settings_from_env().handoff)


@_reporting
def _list(args: argparse.Namespace, settings: StackSettings) -> int:
    """``python -m bot counsellors list``: addresses masked, who is on duty now."""
    counsellors = _registry().all()
    if not counsellors:
        print("No counsellors. Load a file: python -m bot counsellors import FILE")
        return 0
    now = utcnow()
    rows = [
        (c.id, c.name, c.role, ",".join(c.languages), c.channel, c.masked_address,
         str(c.hours), c.timezone, _yes(c.active), _yes(c.on_duty(now)))
        for c in counsellors
    ]  # fmt: skip
    print("\n".join(table(COLUMNS, rows)))
    return 0


@_reporting
def _import(args: argparse.Namespace, settings: StackSettings) -> int:
    """``python -m bot counsellors import [FILE]`` (``--dry-run``: the changes only)."""
    path = args.file or counsellors_file(settings_from_env().handoff)
    lines = import_registry(_registry(), _handoffs(), path, dry_run=args.dry_run)
    print("\n".join(lines) if lines else f"{path}: no change.")
    if args.dry_run:
        print("Dry run: nothing written.")
    return 0


@_reporting
def _add(args: argparse.Namespace, settings: StackSettings) -> int:
    """``python -m bot counsellors add``: one counsellor, checked as a file entry is."""
    counsellor = Counsellor(
        id=args.id,
        name=args.name,
        languages=tuple(args.languages.split(",")),
        channel=args.channel,
        address=args.address,
        timezone=args.timezone,
        hours=args.hours,
        role=args.role,
    )
    lines = _registry().upsert(counsellor)
    print("\n".join(lines) if lines else f"{counsellor.id}: no change.")
    return 0


@_reporting
def _remove(args: argparse.Namespace, settings: StackSettings) -> int:
    """``python -m bot counsellors remove ID``: deactivated, her handoffs requeued."""
    registry = _registry()
    if remove_counsellor(registry, _handoffs(), args.id):
        print(f"deactivate {args.id}")
        return 0
    known = registry.get(args.id)
    print(f"counsellors: {args.id} is {'already inactive' if known else 'unknown'}.",
          file=sys.stderr)  # fmt: skip
    return 1


def _yes(flag: bool) -> str:
    """A flag for the table."""
    return "yes" if flag else "no"
