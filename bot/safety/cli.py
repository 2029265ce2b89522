"""``python -m bot safety review|promote|dismiss``: staff settle what counsellors marked.

``review`` lists the pending entries (``--all``: every status) with their masked text, the
only words of hers that left her conversation, with the counsellor's consent (her
``MISSED``/``FALSEALARM`` command showed her exactly this text). ``promote`` appends one to
the risk data or a test list (:mod:`bot.safety.promote`); ``dismiss`` leaves it out.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot import PROJECT_ROOT
from bot.datafiles import table
from bot.db.database import engine_from_env
from bot.safety import CATEGORIES
from bot.safety.promote import SPLITS, PromotionError, promote
from bot.safety.review import DISMISSED, PENDING, STATUSES, SafetyReviews
from bot.settings import StackSettings

COLUMNS = ("id", "date", "kind", "lang", "status", "text")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``safety`` and its sub-commands to ``python -m bot``'s sub-parsers."""
    parser = commands.add_parser(
        "safety", help="the risk check's review queue: messages counsellors marked"
    )
    sub = parser.add_subparsers(dest="safety_command", required=True)
    listing = sub.add_parser("review", help="pending entries: id, date, kind, language, text")
    listing.add_argument("--all", action="store_true", help="every status, not only pending")
    listing.set_defaults(func=_review)
    promoting = sub.add_parser("promote", help="append an entry to the risk data or a test list")
    promoting.add_argument("id", type=int)
    promoting.add_argument(
        "--to",
        required=True,
        choices=tuple(SPLITS),
        help="train: data/safety; dev, test: tests/data/risk_dev, risk_test",
    )
    promoting.add_argument(
        "--category",
        choices=CATEGORIES,
        help="the emergency of a missed entry (required for those)",
    )
    promoting.add_argument(
        "--root",
        type=Path,
        default=PROJECT_ROOT,
        help="the project folder whose files change (default: this one)",
    )
    promoting.set_defaults(func=_promote)
    dismissing = sub.add_parser("dismiss", help="leave an entry out of the data")
    dismissing.add_argument("id", type=int)
    dismissing.set_defaults(func=_dismiss)


def _reviews() -> SafetyReviews:
    return SafetyReviews(engine_from_env())


def _review(args: argparse.Namespace, _settings: StackSettings) -> int:
    """``python -m bot safety review [--all]``."""
    statuses = STATUSES if args.all else (PENDING,)
    rows = [(str(r.id), r.day.isoformat(), r.kind, r.language,
             r.status + (f" {r.promoted_to}" if r.promoted_to else ""), r.text)
            for r in _reviews().listed(statuses)]  # fmt: skip
    if not rows:
        print("Nothing to review." if not args.all else "No review yet.")
        return 0
    print("\n".join(table(COLUMNS, rows)))
    return 0


def _promote(args: argparse.Namespace, _settings: StackSettings) -> int:
    """``python -m bot safety promote ID --to train|dev|test [--category C]``."""
    try:
        done = promote(_reviews(), args.id, args.to, args.category, root=args.root)
    except PromotionError as error:
        print(f"safety: {error}", file=sys.stderr)
        return 2
    print(f"#{args.id} added to {done.path} under {done.section}.")
    return 0


def _dismiss(args: argparse.Namespace, _settings: StackSettings) -> int:
    """``python -m bot safety dismiss ID``."""
    reviews = _reviews()
    if not reviews.settle(args.id, DISMISSED):
        review = reviews.get(args.id)
        why = "no such review" if review is None else f"it is {review.status} already"
        print(f"safety: #{args.id} not dismissed: {why}", file=sys.stderr)
        return 2
    print(f"#{args.id} dismissed.")
    return 0
