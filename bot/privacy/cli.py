"""``python -m bot privacy purge|export|erase`` (and the key commands of
:mod:`bot.privacy.keys_cli`): what staff run from a shell on the server.

``export`` answers a subject access request (everything held on one person, as JSON, in a
file only its owner can read); ``erase`` does what "forget me" does, for a person who asked
staff rather than the assistant. Both name the person by a booking reference ("K7Q2M") or a
pseudonym, never by a phone number, and both write who ran them, when and what (counts,
never content, never whom) to ``VAR_DIR/privacy-audit.log``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from bot.db.database import database_url, make_engine
from bot.privacy.desk import PrivacyDesk
from bot.privacy.erase import Eraser
from bot.privacy.keys_cli import add_commands as add_key_commands
from bot.privacy.purge import cutoff_for, purge
from bot.privacy.tracker import RasaEvents, tracker_engine
from bot.settings import Settings, StackSettings, settings_from_env

logger = logging.getLogger(__name__)

# Builds the channels' privacy desk (the relay, the outbox) for ``erase``: given by
# ``bot.__main__``, which may import the composition root this package must not.
DeskFactory = Callable[[Settings], PrivacyDesk]


def add_commands(commands: argparse._SubParsersAction, desk: DeskFactory) -> None:
    """Add ``privacy`` and its sub-commands to ``python -m bot``'s sub-parsers."""
    parser = commands.add_parser(
        "privacy", help="retention purge, subject access export and erasure, keys"
    )
    sub = parser.add_subparsers(dest="privacy_command", required=True)
    purging = sub.add_parser("purge", help="erase texts older than RETENTION_DAYS now")
    purging.add_argument("--dry-run", action="store_true", help="count, change nothing")
    purging.set_defaults(func=_purge)
    exporting = sub.add_parser("export", help="everything held on one person, as JSON")
    exporting.add_argument("person", help="a booking reference (K7Q2M) or a pseudonym")
    exporting.add_argument("--out", type=Path, help="the JSON file (default: VAR_DIR/exports/)")
    exporting.add_argument("--by", default="", help="who asks (written to the audit log)")
    exporting.set_defaults(func=_export)
    erasing = sub.add_parser("erase", help='what "forget me" does, for one person')
    erasing.add_argument("person", help="a booking reference (K7Q2M) or a pseudonym")
    erasing.add_argument("--yes", action="store_true", help="do not ask to confirm")
    erasing.add_argument("--no-message", action="store_true",
                         help="do not send her the last confirmation")  # fmt: skip
    erasing.add_argument("--by", default="", help="who asks (written to the audit log)")
    erasing.set_defaults(func=_erase, desk=desk)
    add_key_commands(sub)


def _parts(settings: Settings) -> tuple[Any, RasaEvents]:
    engine = make_engine(database_url(settings))
    return engine, RasaEvents(tracker_engine(settings.tracker_store_url))


def audit(settings: Settings, action: str, by: str, counts: dict[str, int]) -> None:
    """One line per staff act: when, what, who ran it, how much (never whom, never text)."""
    who = by or getpass.getuser()
    line = (f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} {action} by={who!r} "
            + " ".join(f"{k}={v}" for k, v in counts.items()))  # fmt: skip
    path = settings.stack.var_dir / "privacy-audit.log"
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
        handle.write(line + "\n")
    logger.info("Privacy %s by %s.", action, who)


def _purge(args: argparse.Namespace, _stack: StackSettings) -> int:
    settings = settings_from_env()
    engine, events = _parts(settings)
    cutoff = cutoff_for(settings.privacy.retention_days)
    counts = purge(engine, events, cutoff, dry_run=args.dry_run)
    verb = "would erase" if args.dry_run else "erased"
    print(f"Texts before {cutoff:%Y-%m-%d %H:%M} UTC ({settings.privacy.retention_days} days):")
    for table, count in counts.items():
        print(f"  {table:<20} {verb} {count}")
    print("  staff-group topics: deleted by the running server's privacy worker")
    if not args.dry_run:
        audit(settings, "purge", "", counts)
    return 0


def _find(eraser: Eraser, person: str) -> str | None:
    found = eraser.find(person)
    if found is None:
        print("Nobody is held under that reference or pseudonym.", file=sys.stderr)
    return found


def _export(args: argparse.Namespace, _stack: StackSettings) -> int:
    settings = settings_from_env()
    engine, events = _parts(settings)
    eraser = Eraser(engine, events)
    conversation_id = _find(eraser, args.person)
    if conversation_id is None:
        return 1
    held = eraser.export(conversation_id)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S")
    out: Path = args.out or settings.stack.var_dir / "exports" / f"subject-access-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump(held, handle, ensure_ascii=False, indent=2)
    os.chmod(out, 0o600)  # an existing file keeps its mode otherwise
    counts = {k: len(v) for k, v in held.items() if isinstance(v, list)}
    audit(settings, "export", args.by, counts)
    print(f"Written to {out} (readable by its owner only): "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))  # fmt: skip
    return 0


def _erase(args: argparse.Namespace, _stack: StackSettings) -> int:
    settings = settings_from_env()
    engine, events = _parts(settings)
    conversation_id = _find(Eraser(engine, events), args.person)
    if conversation_id is None:
        return 1
    if not args.yes:
        answer = input("Erase everything held on this person, for good? Type YES: ")
        if answer.strip() != "YES":
            print("Nothing erased.")
            return 1
    desk: PrivacyDesk = args.desk(settings)
    counts = asyncio.run(desk.erase_by_staff(conversation_id, tell=not args.no_message))
    audit(settings, "erase", args.by, counts)
    print("Erased: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0
