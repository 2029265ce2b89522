"""Clinical review of the health answers in one sitting: ``python -m bot content export`` and
``python -m bot content import-review`` (:mod:`bot.content.cli`).

The export lists every health answer of one language with what a midwife needs beside it
(the French text when she reviews another language, the SMS segments, the source, the review
so far) as a CSV for a spreadsheet or a printable HTML page. She fills four columns
(``verdict``, ``reviewer``, ``date``, ``comment``); the import writes each verdict into the
catalog comment of its entry, as ``# clinical review: approved by <who> on <YYYY-MM-DD>``.
The import never changes a text: an edited ``text`` cell is reported, for a maintainer to
apply deliberately.

A catalog entry's comments are fields, each starting a comment line: ``source:``,
``clinical review:``, ``review:`` (the Bambara flag, :data:`bot.i18n.catalogs.REVIEW_FLAG`),
``reviewed:``. Babel wraps a long comment at the catalog's width, so a line that starts with
no field name continues the field above it.
"""

from __future__ import annotations

import csv
import html
import io
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po, write_po

from bot import LANGUAGES
from bot.gsm7 import encode
from bot.i18n import FALLBACK_LANGUAGE
from bot.i18n.catalogs import REVIEW_FLAG, load_po, po_path

REFERENCE_LANGUAGE = FALLBACK_LANGUAGE  # the text beside another language's: French
SOURCE, CLINICAL = "source", "clinical review"
SERVICE_SOURCE = "service text"  # "source: service text (no health content)"
NO_HEALTH = "(no health content)"  # also "source: Country name (no health content)"
VERDICTS = ("approved", "changes", "rejected")
LEGEND = {
    "approved": "the text is correct and safe to send as written",
    "changes": "it needs changes: say which in the comment (or correct the text column)",
    "rejected": "it must not be sent: say why in the comment",
}
COLUMNS = ("key", "text", "reference_fr", "segments", "source", "clinical_review",
           "verdict", "reviewer", "date", "comment")  # fmt: skip
REQUIRED = ("key", "verdict", "reviewer", "date")  # columns the import cannot do without
WIDTH = 100  # the catalogs' width (`make i18n-update` --width 100): a rewrite keeps every line
TEXT_CHANGED = "text changed in the file, not applied: "
_FIELD = re.compile(r"(source|clinical review|reviewed|review):\s*")
_NAMED = re.compile(r"\b(source|reviewed|review):")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DELIMITERS = (",", ";", "\t")  # a French spreadsheet saves CSV with semicolons


@dataclass(frozen=True)
class Entry:
    """One catalog entry as a reviewer sees it."""

    language: str
    key: str
    text: str
    segments: int  # what the text costs as one SMS (bot.gsm7)
    encoding: str  # GSM-7 or UCS-2
    source: str  # after "source:", wrapped lines joined; "" if none
    clinical_review: str  # after "clinical review:": "pending", "approved by X on ...", ""
    bm_review: bool  # Bambara: still flagged "review: awaiting native speaker (bm)"
    reference: str = ""  # the French text, when language is not French


@dataclass
class ReviewResult:
    """What :func:`import_review` did: all the rows' verdicts were recorded, or none."""

    language: str
    catalog: Path
    recorded: list[str] = field(default_factory=list)  # keys whose review line was written
    skipped: int = 0  # rows without a verdict
    errors: list[str] = field(default_factory=list)  # any error: nothing was written
    notices: list[str] = field(default_factory=list)  # texts edited in the file, not applied
    written: bool = False

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class _Field:
    name: str  # "source", "clinical review", "review", "reviewed"; "" for a free comment
    start: int  # its first line in the message's user_comments
    end: int  # after its last line
    value: str  # its lines joined by a space, without the name


def _fields(comments: Sequence[str]) -> list[_Field]:
    """The comment lines grouped into fields (a line naming no field continues the one above;
    free lines before any field are each a nameless field)."""
    found: list[_Field] = []
    for index, line in enumerate(comments):
        match = _FIELD.match(line)
        if match:
            found.append(_Field(match.group(1), index, index + 1, line[match.end() :].strip()))
        elif found and found[-1].name:
            last = found[-1]
            value = f"{last.value} {line.strip()}".strip()
            found[-1] = _Field(last.name, last.start, index + 1, value)
        else:
            found.append(_Field("", index, index + 1, line.strip()))
    return found


def _value(fields: Sequence[_Field], name: str) -> str:
    return next((f.value for f in fields if f.name == name), "")


def is_health(message: Message) -> bool:
    """Whether a clinical reviewer must read this entry: its comments name a ``source:``
    that is not a service text (``source: service text ...``) and does not say
    ``(no health content)`` (country names, interface texts).

    In the catalogs that is every answer of ``contraception.``, ``pregnancy.`` and
    ``addiction.``, the emergency texts (``emergency.``, except the two questions asking for
    her country) and the labels of the emergency numbers (``number.``: what a number is for
    decides whom she calls); ``local.`` texts too once they exist. Menus, booking, handoff,
    privacy and console texts are service texts.
    """
    sources = [f.value for f in _fields(message.user_comments) if f.name == SOURCE]
    return (
        bool(sources) and not sources[0].startswith(SERVICE_SOURCE) and NO_HEALTH not in sources[0]
    )


def _text(message: Message) -> str:
    string = message.string
    if string is None or isinstance(string, str):
        return string or ""
    return "\n".join(str(s) for s in string)  # plural forms (none in the catalogs yet)


def health_entries(
    language: str, directory: Path | None = None, *, include_all: bool = False
) -> list[Entry]:
    """The entries of ``language`` a clinical reviewer must see (:func:`is_health`), sorted
    by key; with ``include_all``, every entry of the catalog."""
    catalog = load_po(language, directory)
    reference: dict[str, str] = {}
    if language != REFERENCE_LANGUAGE:
        reference = {str(m.id): _text(m) for m in load_po(REFERENCE_LANGUAGE, directory) if m.id}
    entries = []
    for message in catalog:
        if not message.id or not (include_all or is_health(message)):
            continue
        text, fields = _text(message), _fields(message.user_comments)
        encoded = encode(text)
        entries.append(Entry(
            language=language,
            key=str(message.id),
            text=text,
            segments=encoded.segments,
            encoding=encoded.encoding,
            source=_value(fields, SOURCE),
            clinical_review=_value(fields, CLINICAL),
            bm_review=language == "bm" and any(REVIEW_FLAG in c for c in message.user_comments),
            reference=reference.get(str(message.id), ""),
        ))  # fmt: skip
    return sorted(entries, key=lambda e: e.key)


def _rows(entries: Iterable[Entry]) -> list[list[str]]:
    return [
        [e.key, e.text, e.reference, str(e.segments), e.source, e.clinical_review, "", "", "", ""]
        for e in sorted(entries, key=lambda e: e.key)
    ]


def csv_text(entries: Iterable[Entry]) -> str:
    """The review sheet as CSV text (:data:`COLUMNS`, one row an entry, sorted by key)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)  # "\r\n" line ends, quoted cells: what spreadsheets expect
    writer.writerow(COLUMNS)
    writer.writerows(_rows(entries))
    return buffer.getvalue()


def write_csv(entries: Iterable[Entry], path: Path) -> None:
    """The review sheet as a CSV file, UTF-8 with a BOM: Excel and LibreOffice then read
    ``é``, ``ɛ`` and ``ɔ`` right."""
    Path(path).write_text(csv_text(entries), encoding="utf-8-sig", newline="")


_STYLE = """
body { font-family: sans-serif; font-size: 10pt; margin: 1em; }
h1 { font-size: 14pt; margin: 0 0 .3em; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #555; padding: 3px 4px; vertical-align: top; text-align: left; }
th { background: #eee; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
td { white-space: pre-wrap; overflow-wrap: anywhere; }
td.key { font-family: monospace; }
td.text { min-width: 18em; }
td.fill { min-width: 6em; height: 3em; }
dl { display: grid; grid-template-columns: max-content auto; gap: .1em 1em; }
dt { font-weight: bold; }
dd { margin: 0; }
@page { size: A4 landscape; margin: 1cm; }
"""


def html_page(entries: Sequence[Entry], today: date | None = None) -> str:
    """The review sheet as one self-contained printable HTML page (no external file)."""
    esc = html.escape
    languages = sorted({e.language for e in entries}, key=lambda x: (x not in LANGUAGES, x))
    language = ", ".join(languages) or "-"
    lang = languages[0] if len(languages) == 1 else "und"  # the page's <html lang>
    day = (today or date.today()).isoformat()
    cells = ("key", "text", "text", "", "", "", "fill", "fill", "fill", "fill")
    head = "".join(f"<th>{esc(c)}</th>" for c in COLUMNS)
    body = "\n".join(
        "<tr>" + "".join(
            f'<td class="{cls}">{esc(value)}</td>' if cls else f"<td>{esc(value)}</td>"
            for cls, value in zip(cells, row, strict=True)
        ) + "</tr>"
        for row in _rows(entries)
    )  # fmt: skip
    legend = "\n".join(f"<dt>{esc(v)}</dt><dd>{esc(LEGEND[v])}</dd>" for v in VERDICTS)
    return f"""<!DOCTYPE html>
<html lang="{esc(lang)}">
<head>
<meta charset="utf-8">
<title>Clinical review, {esc(language)}, {day}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>Clinical review of the health answers</h1>
<p>Language: <strong>{esc(language)}</strong>. Exported on {day}.
Entries: <strong>{len(entries)}</strong>.</p>
<p>For each row, write a verdict, your name, the date (YYYY-MM-DD) and a comment if needed.
A text costs more when it takes more SMS segments (2 at most).</p>
<dl>
{legend}
</dl>
<table>
<thead><tr>{head}</tr></thead>
<tbody>
{body}
</tbody>
</table>
</body>
</html>
"""


def write_html(entries: Sequence[Entry], path: Path, today: date | None = None) -> None:
    """The review sheet as a printable HTML file (:func:`html_page`)."""
    Path(path).write_text(html_page(entries, today), encoding="utf-8")


def review_line(verdict: str, reviewer: str, day: str, comment: str = "") -> str:
    """``clinical review: approved by Awa Traore on 2026-12-01: comment``, on one line."""
    line = f"{CLINICAL}: {verdict} by {_one_line(reviewer)} on {day}"
    return f"{line}: {_one_line(comment)}" if _one_line(comment) else line


def _one_line(value: str) -> str:
    """``value`` on one line, a field name in it written ``review :``: Babel may wrap the
    comment there, and a line starting ``review:`` would read as a field of its own."""
    return _NAMED.sub(r"\1 :", " ".join(value.split()))


def with_review(comments: Sequence[str], line: str) -> list[str]:
    """``comments`` with its ``clinical review:`` field (every line of it) replaced by
    ``line``; added after the source (before the Bambara flag) when it has none."""
    fields = _fields(comments)
    old = [f for f in fields if f.name == CLINICAL]
    kept = [c for i, c in enumerate(comments) if not any(f.start <= i < f.end for f in old)]
    if old:
        at = old[0].start
    elif any(f.name == SOURCE for f in fields):
        at = next(f.end for f in fields if f.name == SOURCE)
    else:
        at = next((f.start for f in fields if f.name in ("review", "reviewed")), len(kept))
    return [*kept[:at], line, *kept[at:]]


def _read_sheet(path: Path) -> tuple[list[str], list[list[str]]]:
    """The header (lower-case names) and the rows of a review CSV, comma or semicolon."""
    text = Path(path).read_bytes().decode("utf-8-sig")  # UnicodeDecodeError: not UTF-8
    first = text.splitlines()[0] if text.strip() else ""
    delimiter = next(
        (d for d in _DELIMITERS if "key" in [c.strip().lower() for c in first.split(d)]), ","
    )
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    if not rows:
        return [], []
    return [c.strip().lower() for c in rows[0]], rows[1:]


def import_review(path: Path, language: str, directory: Path | None = None) -> ReviewResult:
    """Record the verdicts of a filled review CSV (:func:`write_csv`) in the catalog of
    ``language``, all or nothing.

    For each row with a verdict: the key must be in the catalog, the verdict one of
    :data:`VERDICTS`, the reviewer given and the date ``YYYY-MM-DD``; errors name the row
    as a spreadsheet numbers it (the header is row 1). Rows without a verdict are skipped. An
    edited ``text`` is never applied, only reported. The catalog is rewritten as
    ``make i18n-update`` writes it (width 100, sorted), header and file mode kept.
    """
    catalog_file = po_path(language, directory)
    result = ReviewResult(language, catalog_file)
    try:
        header, rows = _read_sheet(path)
    except UnicodeDecodeError:
        result.errors.append(f"{path}: not UTF-8 text: save it as CSV UTF-8")
        return result
    except OSError as error:
        result.errors.append(f"{path}: cannot read it ({error.strerror or error})")
        return result
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        result.errors.append(f"{path}: no column {', '.join(missing)} in the first row")
        return result
    catalog = load_po(language, directory)
    texts = {str(m.id): _text(m) for m in catalog if m.id}
    column = {name: header.index(name) for name in reversed(header)}  # first one wins

    def cell(row: list[str], name: str) -> str | None:
        at = column.get(name)
        return row[at] if at is not None and at < len(row) else None

    pending: dict[str, tuple[str, int]] = {}  # key -> (review line, row)
    edited: list[tuple[int, str, str]] = []  # (row, key, text in the file)
    for number, row in enumerate(rows, start=2):
        if not any(c.strip() for c in row):
            continue
        key = (cell(row, "key") or "").strip()
        given = (cell(row, "verdict") or "").strip()
        verdict = given.lower()
        text = cell(row, "text")
        if key in texts and text is not None and text.replace("\r\n", "\n") != texts[key]:
            edited.append((number, key, text.replace("\r\n", "\n")))
        if not verdict:
            result.skipped += 1
            continue
        problems = []
        if not key:
            problems.append("no key")
        elif key not in texts:
            problems.append(f"unknown key {key!r} in the {language} catalog")
        elif key in pending:
            problems.append(f"{key} already has a verdict in row {pending[key][1]}")
        if verdict not in VERDICTS:
            problems.append(f"verdict {given!r} is not {', '.join(VERDICTS)}")
        reviewer = _one_line(cell(row, "reviewer") or "")
        if not reviewer:
            problems.append("no reviewer")
        day = (cell(row, "date") or "").strip()
        if not _valid_date(day):
            problems.append(f"date {day!r} is not a date written YYYY-MM-DD")
        if problems:
            result.errors.append(f"row {number}: {'; '.join(problems)}")
            continue
        line = review_line(verdict, reviewer, day, cell(row, "comment") or "")
        pending[key] = (line, number)
    foreign = _other_language(edited, language, directory, result.errors)
    # An approval holds for the words she read: not for a text the catalog no longer has,
    # nor for her own correction, which a maintainer must apply first.
    result.errors += [
        f"row {n}: {key} is approved but its text is not the catalog's: approve the "
        "catalog's text, or give the verdict 'changes'"
        for n, key, _ in edited
        if n not in foreign
        and key in pending
        and pending[key][1] == n
        and pending[key][0].startswith(f"{CLINICAL}: approved")
    ]
    result.notices = [f"{TEXT_CHANGED}{key}" for n, key, _ in edited if n not in foreign]
    if result.errors or not pending:
        return result
    for key, (line, _) in pending.items():
        message = catalog[key]
        assert message is not None  # checked above: the key is in the catalog
        message.user_comments = with_review(message.user_comments, line)
    content = _serialise(catalog)
    result.errors += _check(content, language, texts, {k: v[0] for k, v in pending.items()})
    if result.errors:
        return result
    _replace(catalog_file, content)
    result.recorded = sorted(pending)
    result.written = True
    return result


def _valid_date(value: str) -> bool:
    if not _DATE.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _other_language(
    edited: list[tuple[int, str, str]], language: str, directory: Path | None, errors: list[str]
) -> set[int]:
    """The rows whose "edited" text is another catalog's, with an error in ``errors`` for
    each such language: the file is that language's export, its verdicts belong there."""
    foreign: set[int] = set()
    for other in (lang for lang in LANGUAGES if lang != language and edited):
        try:
            theirs = {str(m.id): _text(m) for m in load_po(other, directory) if m.id}
        except OSError:
            continue
        rows = [n for n, key, text in edited if theirs.get(key) == text]
        if rows:
            errors.append(
                f"row {rows[0]}" + (f" and {len(rows) - 1} more" if len(rows) > 1 else "")
                + f": the text is the {other} catalog's, not the {language} one: is this the "
                f"{other} export? (--lang {other})"
            )  # fmt: skip
            foreign.update(rows)
    return foreign


def _serialise(catalog: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=WIDTH, sort_output=True)
    return buffer.getvalue()


def _check(
    content: bytes, language: str, texts: dict[str, str], lines: dict[str, str]
) -> list[str]:
    """Read the new catalog back: every text as before, every review line where it was put
    (a comment that Babel wraps into a line starting ``source:`` would not be)."""
    catalog = read_po(io.BytesIO(content), locale=language)
    errors = []
    if {str(m.id): _text(m) for m in catalog if m.id} != texts:
        errors.append("the catalog's texts would change: nothing written (please report this)")
    for key, line in lines.items():
        message = catalog[key]
        fields = _fields(message.user_comments) if message is not None else []
        found = [f.value for f in fields if f.name == CLINICAL]
        expected = line.removeprefix(f"{CLINICAL}:")
        if ["".join(v.split()) for v in found] != ["".join(expected.split())]:
            errors.append(f"{key}: the comment cannot be stored as one review line: reword it")
    return errors


def _replace(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` at once (a temporary file renamed over it), keeping its
    mode: the commands run with a 0077 umask, which would hide the catalog from others."""
    mode = path.stat().st_mode & 0o7777
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(content)
        os.chmod(name, mode)
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
