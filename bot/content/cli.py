"""``python -m bot content export|import-review``: the clinical review of the health answers
(:mod:`bot.content.review`), from a shell.

``export`` writes the review sheet of one language (CSV for a spreadsheet, HTML to print);
``import-review`` records the verdicts of a filled CSV in that language's catalog, all or
nothing. The catalogs are those of ``LOCALES_DIR`` (default: the project's ``locales/``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bot import LANGUAGES
from bot.content.review import (
    TEXT_CHANGED,
    VERDICTS,
    csv_text,
    health_entries,
    import_review,
    write_csv,
    write_html,
)
from bot.settings import StackSettings

SUFFIXES = (".csv", ".html", ".htm")


def add_commands(commands: argparse._SubParsersAction) -> None:
    """Add ``content`` and its sub-commands to ``python -m bot``'s sub-parsers."""
    parser = commands.add_parser(
        "content", help="health answers: a sheet for clinical review, and its verdicts back"
    )
    sub = parser.add_subparsers(dest="content_command", required=True)
    export = sub.add_parser(
        "export", help="every health answer of a language, for a clinical reviewer"
    )
    export.add_argument("--lang", choices=LANGUAGES, default="fr", help="fr (default), es, bm")
    export.add_argument(
        "--out",
        type=Path,
        metavar="FILE.csv|FILE.html",
        help="a CSV (UTF-8, for a spreadsheet) or a printable HTML page (default: CSV on the "
        "screen)",
    )
    export.add_argument(
        "--all", action="store_true", help="every entry of the catalog, not only health answers"
    )
    export.set_defaults(func=_export)
    importing = sub.add_parser(
        "import-review", help="record the verdicts of a filled review CSV in the catalog"
    )
    importing.add_argument("file", type=Path, metavar="FILE.csv", help="the filled CSV")
    importing.add_argument(
        "--lang", choices=LANGUAGES, default="fr", help="the catalog it reviews (default fr)"
    )
    importing.set_defaults(func=_import_review)


def _export(args: argparse.Namespace, settings: StackSettings) -> int:
    out: Path | None = args.out
    if out is not None and out.suffix.lower() not in SUFFIXES:
        print(f"content export: --out must end in .csv or .html, not {out.name!r}", file=sys.stderr)
        return 1
    try:
        entries = health_entries(args.lang, include_all=args.all)
        if out is None:
            sys.stdout.write(csv_text(entries))
        elif out.suffix.lower() == ".csv":
            write_csv(entries, out)
        else:
            write_html(entries, out)
    except OSError as error:
        print(f"content export: {error.filename or ''}: {error.strerror or error}", file=sys.stderr)
        return 1
    what = "entries" if args.all else "health answers"
    where = "the screen" if out is None else str(out)
    # With the CSV on stdout, this goes to stderr: `> file.csv` keeps a clean file.
    print(
        f"{len(entries)} {what} ({args.lang}) written to {where}.",
        file=sys.stdout if out else sys.stderr,
    )
    if out is not None:
        sheet = out if out.suffix.lower() == ".csv" else "FILE.csv (the CSV export)"
        print(
            f"The reviewer fills verdict ({', '.join(VERDICTS)}), reviewer, date (YYYY-MM-DD) "
            f"and comment; then: python -m bot content import-review {sheet} --lang {args.lang}"
        )
    return 0


def _import_review(args: argparse.Namespace, settings: StackSettings) -> int:
    try:
        result = import_review(args.file, args.lang)
    except OSError as error:  # the catalog itself
        print(
            f"content import-review: {error.filename or ''}: {error.strerror or error}",
            file=sys.stderr,
        )
        return 1
    for notice in result.notices:
        print(notice)
    if result.errors:
        for line in result.errors:
            print(line, file=sys.stderr)
        print(
            f"content import-review: {len(result.errors)} error(s), nothing written to "
            f"{result.catalog}.",
            file=sys.stderr,
        )
        return 1
    if result.written:
        print(
            f"{len(result.recorded)} verdict(s) recorded in {result.catalog}; "
            f"{result.skipped} row(s) without a verdict skipped."
        )
    else:
        print(f"No verdict in {args.file} ({result.skipped} row(s) without one): nothing written.")
    if any(n.startswith(TEXT_CHANGED) for n in result.notices):
        print(
            "Edited texts are never applied by the import: apply them in the catalog, then "
            "export again for review."
        )
    return 0
