"""Staff on the server: ``python -m bot handoff list|assign|close``, and what follows a
counsellor's removal from the registry (her handoffs go back to the queue at once).

Each move is written here, conditional on the owner as every move is, with a timer due now;
the Rasa server's worker announces it (the user, the counsellors, the staff group) with the
same code as a move made from a console (:mod:`bot.handoff.moves`), within a few seconds,
once across instances. Nothing here prints a message text or an address.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot.datafiles import table
from bot.db.database import engine_from_env
from bot.handoff.models import Handoff
from bot.handoff.ownership import COUNSELLOR, COUNSELLOR_OUTCOMES, OwnershipConflict
from bot.handoff.registry import Registry
from bot.handoff.service import ASSIGNED, CLOSED, RETURNED, HandoffService
from bot.settings import StackSettings, settings_from_env


def return_held(service: HandoffService, counsellor_id: str, why: str) -> list[int]:
    """Every handoff ``counsellor_id`` holds back to the queue, first in line; the ids."""
    returned = []
    for handoff in service.held_by(counsellor_id):
        try:
            service.requeue(handoff.id, counsellor_id, why, actor="staff")
        except OwnershipConflict:
            continue  # closed or moved meanwhile
        service.schedule(handoff.id, RETURNED, service.now(), detail=f"{why}:{counsellor_id}")
        returned.append(handoff.id)
    return returned


def import_registry(
    registry: Registry, service: HandoffService, path: str | Path, dry_run: bool = False
) -> list[str]:
    """:meth:`Registry.import_file`, and the handoffs of whoever it deactivates back to the
    queue. The change lines."""
    before = {c.id for c in registry.all() if c.active}
    lines = registry.import_file(path, dry_run=dry_run)
    if not dry_run:
        after = {c.id for c in registry.all() if c.active}
        for counsellor_id in sorted(before - after):
            return_held(service, counsellor_id, "deactivated")
    return lines


def remove_counsellor(registry: Registry, service: HandoffService, counsellor_id: str) -> bool:
    """Deactivate her (:meth:`Registry.remove`) and give her handoffs back to the queue."""
    removed = registry.remove(counsellor_id)
    if removed:
        return_held(service, counsellor_id, "deactivated")
    return removed


def assign(service: HandoffService, registry: Registry, handoff_id: int, name: str,
           by: str) -> str:  # fmt: skip
    """Give a handoff to the counsellor ``name`` (id or first name); raises ValueError with
    what is wrong. The counsellor's id."""
    handoff = _open(service, handoff_id)
    counsellor = registry.named(name)
    if counsellor is None:
        raise ValueError(f"no active counsellor {name!r}")
    if not counsellor.speaks(handoff.language):
        raise ValueError(f"{counsellor.id} does not speak {handoff.language}")
    try:
        _, previous = service.assign(handoff_id, counsellor.id, actor=f"staff:{by}")
    except OwnershipConflict:
        raise ValueError(f"#{handoff_id} moved meanwhile; try again") from None
    service.schedule(handoff_id, ASSIGNED, service.now(), detail=f"{previous or ''}:{by}")
    return counsellor.id


def close(service: HandoffService, handoff_id: int, outcome: str, by: str) -> None:
    """Hand a handoff back to the bot with ``outcome``; raises ValueError."""
    if outcome not in COUNSELLOR_OUTCOMES:
        raise ValueError(f"outcome is one of {', '.join(COUNSELLOR_OUTCOMES)}")
    handoff = _open(service, handoff_id)
    owner = service.owner(handoff.conversation_id)
    holder = owner.counsellor_id if owner.state == COUNSELLOR else ""
    try:
        service.close(handoff_id, outcome, actor=f"staff:{by}")
    except OwnershipConflict:
        raise ValueError(f"#{handoff_id} moved meanwhile; try again") from None
    service.schedule(handoff_id, CLOSED, service.now(), detail=f"{outcome}:{holder or ''}")


def _open(service: HandoffService, handoff_id: int) -> Handoff:
    """The open handoff ``handoff_id``; ValueError (shown to the staff) otherwise."""
    handoff = service.get(handoff_id)
    if handoff is None or not handoff.open:
        raise ValueError(f"no open handoff #{handoff_id}")
    return handoff


# Command line -------------------------------------------------------------------------

COLUMNS = ("id", "language", "channel", "state", "counsellor", "urgent", "waiting (min)")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``handoff`` and its sub-commands to ``python -m bot``'s sub-parsers."""
    parser = commands.add_parser(
        "handoff", help="supervise the handoffs on the server: list, assign, close"
    )
    sub = parser.add_subparsers(dest="handoff_command", required=True)
    sub.add_parser("list", help="open handoffs: state, counsellor, waiting time").set_defaults(
        func=_list
    )
    assigning = sub.add_parser("assign", help="give a handoff to a counsellor (id or name)")
    assigning.add_argument("id", type=int)
    assigning.add_argument("counsellor")
    assigning.add_argument("--by", default="server", help="who assigns (shown to staff)")
    assigning.set_defaults(func=_assign)
    closing = sub.add_parser("close", help="hand a handoff back to the assistant")
    closing.add_argument("id", type=int)
    closing.add_argument("outcome", choices=COUNSELLOR_OUTCOMES)
    closing.add_argument("--by", default="server", help="who closes (kept in the history)")
    closing.set_defaults(func=_close)


def _services() -> tuple[HandoffService, Registry]:
    """The service and registry on the project database (:func:`engine_from_env`)."""
    engine = engine_from_env()
    return HandoffService(engine, settings_from_env().handoff), Registry(engine)


def _list(args: argparse.Namespace, settings: StackSettings) -> int:
    """``python -m bot handoff list``: open handoffs, their state and waiting time."""
    service, _ = _services()
    rows = []
    for handoff in service.open_handoffs():
        owner = service.owner(handoff.conversation_id)
        waited = int((service.now() - handoff.opened_at).total_seconds() // 60)
        rows.append((f"#{handoff.id}", handoff.language, handoff.channel, owner.state,
                     owner.counsellor_id or "-", "yes" if owner.priority else "no",
                     str(waited)))  # fmt: skip
    print("\n".join(table(COLUMNS, rows)) if rows else "No open handoff.")
    return 0


def _assign(args: argparse.Namespace, settings: StackSettings) -> int:
    """``python -m bot handoff assign ID COUNSELLOR``."""
    service, registry = _services()
    try:
        counsellor = assign(service, registry, args.id, args.counsellor, args.by)
    except ValueError as error:
        print(f"handoff: {error}", file=sys.stderr)
        return 2
    print(f"#{args.id} assigned to {counsellor}; the server tells everyone concerned.")
    return 0


def _close(args: argparse.Namespace, settings: StackSettings) -> int:
    """``python -m bot handoff close ID OUTCOME``."""
    service, _ = _services()
    try:
        close(service, args.id, args.outcome, args.by)
    except ValueError as error:
        print(f"handoff: {error}", file=sys.stderr)
        return 2
    print(f"#{args.id} closed ({args.outcome}); the assistant answers her again.")
    return 0
