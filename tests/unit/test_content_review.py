"""The clinical review sheet (``python -m bot content export`` / ``import-review``), on a copy
of the real catalogs."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest

from bot import PROJECT_ROOT
from bot.content.review import (
    COLUMNS,
    TEXT_CHANGED,
    Entry,
    health_entries,
    html_page,
    import_review,
    with_review,
    write_csv,
    write_html,
)
from bot.gsm7 import encode
from bot.i18n.catalogs import REVIEW_FLAG, load_po, po_path

Rows = list[dict[str, str]]


@pytest.fixture()
def locales(tmp_path: Path) -> Path:
    """A copy of the project's catalogs: the tests write into it."""
    return Path(shutil.copytree(PROJECT_ROOT / "locales", tmp_path / "locales"))


def read_sheet(path: Path) -> Rows:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def write_sheet(path: Path, rows: Rows, delimiter: str = ",") -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS, delimiter=delimiter)
        writer.writeheader()
        writer.writerows(rows)


def filled(rows: Rows, key: str, **values: str) -> None:
    row = next(r for r in rows if r["key"] == key)
    row.update(values)


def comments(language: str, directory: Path) -> dict[str, list[str]]:
    return {str(m.id): list(m.user_comments) for m in load_po(language, directory) if m.id}


def texts(language: str, directory: Path) -> dict[str, str]:
    return {str(m.id): str(m.string) for m in load_po(language, directory) if m.id}


def test_health_entries_are_the_answers_with_a_health_source(locales: Path) -> None:
    entries = {e.key: e for e in health_entries("fr", locales)}
    assert {"contraception.pill_how", "emergency.suicide", "pregnancy.antenatal",
            "addiction.alcohol", "number.fr_3114"} <= entries.keys()  # fmt: skip
    for key in entries:
        assert key.startswith(("contraception.", "pregnancy.", "addiction.", "emergency.",
                               "number.", "local.", "safety.checkin")), key  # fmt: skip
    assert "greet" not in entries
    assert "menu.privacy" not in entries  # source: service text (no health content)
    assert "emergency.ask_country" not in entries  # source: Interface text (no health content)
    pill = entries["contraception.pill_how"]
    assert pill.source.startswith("WHO, Family Planning: A Global Handbook for Providers")
    assert pill.source.endswith("'Progestin-only pills'")  # its wrapped second line too
    assert pill.clinical_review == "pending"
    assert pill.segments == encode(pill.text).segments and pill.encoding == "GSM-7"
    assert pill.reference == "" and not pill.bm_review
    every = {e.key for e in health_entries("fr", locales, include_all=True)}
    assert "greet" in every and entries.keys() < every


def test_other_languages_carry_the_french_text_and_the_bambara_flag(locales: Path) -> None:
    french = texts("fr", locales)
    spanish = {e.key: e for e in health_entries("es", locales)}
    bambara = {e.key: e for e in health_entries("bm", locales)}
    assert spanish.keys() == bambara.keys() == {e.key for e in health_entries("fr", locales)}
    assert spanish["emergency.suicide"].reference == french["emergency.suicide"]
    assert bambara["contraception.pill_how"].bm_review
    assert not spanish["contraception.pill_how"].bm_review


def test_csv_export_lists_the_health_keys_with_source_and_segments(
    locales: Path, tmp_path: Path
) -> None:
    sheet = tmp_path / "review.csv"
    write_csv(health_entries("fr", locales), sheet)
    assert sheet.read_bytes().startswith(b"\xef\xbb\xbf")  # the BOM spreadsheets look for
    with sheet.open(encoding="utf-8-sig", newline="") as handle:
        assert tuple(next(csv.reader(handle))) == COLUMNS
    rows = read_sheet(sheet)
    keys = [r["key"] for r in rows]
    assert keys == sorted(keys)
    assert "greet" not in keys and "booking.confirm" not in keys
    by_key = {r["key"]: r for r in rows}
    for key in ("contraception.pill_how", "emergency.suicide"):
        row = by_key[key]
        assert row["source"].startswith("WHO")
        assert row["segments"] == str(encode(row["text"]).segments)
        assert row["clinical_review"] == "pending"
        assert row["text"] == texts("fr", locales)[key]
        assert row["verdict"] == row["reviewer"] == row["date"] == row["comment"] == ""


def test_html_export_is_self_contained_and_escaped(locales: Path, tmp_path: Path) -> None:
    page_file = tmp_path / "review.html"
    entries = health_entries("es", locales)
    write_html(entries, page_file, today=date(2026, 12, 7))
    page = page_file.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", page)
    assert "http" not in page and "<script" not in page and "<link" not in page
    assert "Language: <strong>es</strong>" in page and "2026-12-07" in page
    assert f"Entries: <strong>{len(entries)}</strong>" in page
    for verdict in ("approved", "changes", "rejected"):
        assert f"<dt>{verdict}</dt>" in page
    assert "emergency.suicide" in page and "<th>reference_fr</th>" in page
    hostile = Entry("fr", "x.y", 'Dose <b>2</b> & "plus"', 1, "GSM-7", "WHO <2024>", "pending",
                    False)  # fmt: skip
    escaped = html_page([hostile], today=date(2026, 12, 7))
    assert "&lt;b&gt;2&lt;/b&gt; &amp; &quot;plus&quot;" in escaped
    assert "<b>" not in escaped and "WHO &lt;2024&gt;" in escaped


def test_import_records_the_verdicts_and_leaves_the_texts(locales: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "review.csv"
    write_csv(health_entries("fr", locales), sheet)
    rows = read_sheet(sheet)
    filled(rows, "contraception.pill_how", verdict="approved", reviewer="Awa Traoré",
           date="2026-12-01")  # fmt: skip
    filled(rows, "emergency.suicide", verdict="Changes", reviewer=" Dr  Diallo ",
           date="2026-12-02", comment="Add the 3114 first.\nThen the SAMU.")  # fmt: skip
    filled(rows, "number.fr_3114", verdict="approved", reviewer="Awa Traoré", date="2026-12-01")
    write_sheet(sheet, rows)
    before_texts, before = texts("fr", locales), comments("fr", locales)
    header = po_path("fr", locales).read_text(encoding="utf-8").split("\n\n")[0]
    others = {lang: po_path(lang, locales).read_bytes() for lang in ("es", "bm")}

    result = import_review(sheet, "fr", locales)

    assert result.ok and result.written, result.errors
    assert result.recorded == ["contraception.pill_how", "emergency.suicide", "number.fr_3114"]
    assert result.skipped == len(rows) - 3 and result.notices == []
    after = comments("fr", locales)
    assert after["contraception.pill_how"] == [
        *before["contraception.pill_how"][:-1],  # the source, both lines, as they were
        "clinical review: approved by Awa Traoré on 2026-12-01",
    ]
    assert "clinical review: changes by Dr Diallo on 2026-12-02: Add the 3114 first. Then the " \
        "SAMU." in " ".join(after["emergency.suicide"])  # fmt: skip
    assert not any("pending" in c for c in after["emergency.suicide"])
    # The number labels have no review line (yet): it comes after the source.
    label = [c for c in before["number.fr_3114"] if not c.startswith("clinical review:")]
    assert after["number.fr_3114"] == [
        *label,
        "clinical review: approved by Awa Traoré on 2026-12-01",
    ]
    assert texts("fr", locales) == before_texts
    changed = {"contraception.pill_how", "emergency.suicide", "number.fr_3114"}
    assert {k: v for k, v in after.items() if k not in changed} == {
        k: v for k, v in before.items() if k not in changed
    }
    assert po_path("fr", locales).read_text(encoding="utf-8").startswith(header)
    assert {lang: po_path(lang, locales).read_bytes() for lang in ("es", "bm")} == others


def test_bambara_review_keeps_the_native_speaker_flag(locales: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "review-bm.csv"
    write_csv(health_entries("bm", locales), sheet)
    rows = read_sheet(sheet)
    filled(rows, "contraception.pill_how", verdict="rejected", reviewer="Fatoumata Keïta",
           date="2026-12-03", comment="wrong dose")  # fmt: skip
    write_sheet(sheet, rows, delimiter=";")  # as a French spreadsheet saves it

    result = import_review(sheet, "bm", locales)

    assert result.written, result.errors
    after = comments("bm", locales)["contraception.pill_how"]
    assert after[-2:] == [
        "clinical review: rejected by Fatoumata Keïta on 2026-12-03: wrong dose",
        "review: awaiting native speaker (bm)",
    ]
    assert any(REVIEW_FLAG in c for c in after)


def test_a_long_review_is_read_back_and_replaced_whole(locales: Path, tmp_path: Path) -> None:
    """A long comment is wrapped by Babel over several comment lines: none may start like a
    field (``source:``), and a later verdict replaces all of them."""
    sheet = tmp_path / "review.csv"
    write_csv(health_entries("fr", locales), sheet)
    rows = read_sheet(sheet)
    comment = "Mettre la position laterale avant l'appel; source: OMS 2014; review: le mot. " * 3
    filled(rows, "emergency.overdose", verdict="changes", reviewer="Awa", date="2026-12-01",
           comment=comment)  # fmt: skip
    write_sheet(sheet, rows)
    assert import_review(sheet, "fr", locales).written
    entry = next(e for e in health_entries("fr", locales) if e.key == "emergency.overdose")
    assert entry.clinical_review.startswith("changes by Awa on 2026-12-01: Mettre la position")
    assert "source : OMS 2014" in entry.clinical_review and entry.source.startswith("WHO")
    assert len(comments("fr", locales)["emergency.overdose"]) > 4  # wrapped

    filled(rows, "emergency.overdose", verdict="approved", date="2026-12-09", comment="")
    write_sheet(sheet, rows)
    assert import_review(sheet, "fr", locales).written
    after = comments("fr", locales)["emergency.overdose"]
    assert after[-1] == "clinical review: approved by Awa on 2026-12-09"
    assert not any("Mettre" in c or "OMS" in c for c in after)


def test_the_review_line_goes_after_the_source_and_before_the_bambara_flag() -> None:
    line = "clinical review: approved by A on 2026-12-01"
    source = ["source: WHO, a long", "title", "Free note."]
    assert with_review([*source, "review: awaiting native speaker (bm)"], line) == [
        "source: WHO, a long", "title", "Free note.", line, "review: awaiting native speaker (bm)"
    ]  # fmt: skip
    assert with_review(["Autonym.", "reviewed: Awa, 2026-11-30"], line) == [
        "Autonym.", line, "reviewed: Awa, 2026-11-30"
    ]  # fmt: skip
    old = [
        "source: WHO",
        "clinical review: changes by B on 2026-11-01: a long",
        "comment",
        "review: x",
    ]
    assert with_review(old, line) == ["source: WHO", line, "review: x"]


def test_bad_rows_fail_with_their_numbers_and_write_nothing(locales: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "review.csv"
    write_csv(health_entries("fr", locales), sheet)
    rows = read_sheet(sheet)
    good = dict(verdict="approved", reviewer="Awa", date="2026-12-01")
    rows[0].update(good)  # row 2 of the spreadsheet: fine, but not written either
    rows[1].update(good, date="01/12/2026")  # row 3
    rows[2].update(good, key="contraception.no_such_answer")  # row 4
    rows[3].update(good, verdict="ok")  # row 5
    rows[4].update(good, reviewer=" ")  # row 6
    rows[5].update(good, date="2026-02-30")  # row 7
    rows[6].update(good, key=rows[0]["key"])  # row 8: a second verdict for row 2's key
    write_sheet(sheet, rows)
    catalog = po_path("fr", locales).read_bytes()

    result = import_review(sheet, "fr", locales)

    assert not result.ok and not result.written and result.recorded == []
    assert [e.split(":")[0] for e in result.errors] == [f"row {n}" for n in range(3, 9)]
    text = "\n".join(result.errors)
    assert "'01/12/2026' is not a date written YYYY-MM-DD" in text
    assert "unknown key 'contraception.no_such_answer'" in text
    assert "verdict 'ok' is not approved, changes, rejected" in text
    assert "no reviewer" in text and "'2026-02-30'" in text
    assert f"{rows[0]['key']} already has a verdict in row 2" in text
    assert po_path("fr", locales).read_bytes() == catalog


def test_an_edited_text_is_reported_not_applied(locales: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "review.csv"
    write_csv(health_entries("fr", locales), sheet)
    rows = read_sheet(sheet)
    original = texts("fr", locales)["contraception.pill_how"]
    filled(rows, "contraception.pill_how", text=original.replace("28", "30"), verdict="changes",
           reviewer="Awa", date="2026-12-01", comment="see the text")  # fmt: skip
    filled(rows, "pregnancy.antenatal", text="Autre texte.")  # no verdict: still reported
    write_sheet(sheet, rows)

    result = import_review(sheet, "fr", locales)

    assert result.written, result.errors
    assert sorted(result.notices) == [f"{TEXT_CHANGED}contraception.pill_how",
                                      f"{TEXT_CHANGED}pregnancy.antenatal"]  # fmt: skip
    assert result.notices[0] == "text changed in the file, not applied: contraception.pill_how"
    assert texts("fr", locales)["contraception.pill_how"] == original
    assert (
        "clinical review: changes by Awa on 2026-12-01: see the text"
        in (comments("fr", locales)["contraception.pill_how"])
    )


def test_an_approval_of_a_text_the_catalog_does_not_have_is_refused(
    locales: Path, tmp_path: Path
) -> None:
    """She approved her own correction (or an old export): nothing is recorded, since the
    approval would stand for words she did not read."""
    sheet = tmp_path / "review.csv"
    write_csv(health_entries("fr", locales), sheet)
    rows = read_sheet(sheet)
    original = texts("fr", locales)["contraception.pill_how"]
    filled(rows, "contraception.pill_how", text=original.replace("28", "30"), verdict="approved",
           reviewer="Awa", date="2026-12-01")  # fmt: skip
    write_sheet(sheet, rows)

    result = import_review(sheet, "fr", locales)

    assert not result.written
    assert len(result.errors) == 1 and "is approved but its text is not" in result.errors[0]
    assert "clinical review: approved" not in comments("fr", locales)["contraception.pill_how"]


def test_the_export_of_another_language_is_refused(locales: Path, tmp_path: Path) -> None:
    sheet = tmp_path / "review-es.csv"
    write_csv(health_entries("es", locales), sheet)
    rows = read_sheet(sheet)
    filled(rows, "emergency.suicide", verdict="approved", reviewer="Ana", date="2026-12-01")
    write_sheet(sheet, rows)
    catalog = po_path("fr", locales).read_bytes()

    result = import_review(sheet, "fr", locales)  # forgot --lang es

    assert not result.written
    assert len(result.errors) == 1 and result.notices == []
    assert result.errors[0].startswith("row 2 and ")
    assert result.errors[0].endswith("is this the es export? (--lang es)")
    assert po_path("fr", locales).read_bytes() == catalog


def test_a_file_that_is_not_a_review_sheet(locales: Path, tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes("key,verdict,reviewer,date\ncontraception.pill_how,approuvé,é,x\n"
                       .encode("latin-1"))  # fmt: skip
    assert "not UTF-8" in import_review(latin1, "fr", locales).errors[0]
    other = tmp_path / "other.csv"
    other.write_text("name,phone\nA,1\n", encoding="utf-8")
    assert "no column key, verdict, reviewer, date" in import_review(other, "fr", locales).errors[0]
    missing = import_review(tmp_path / "missing.csv", "fr", locales)
    assert "cannot read it" in missing.errors[0]


@pytest.fixture()
def command(
    locales: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Iterator[Callable[..., tuple[int, str, str]]]:
    """``python -m bot content ...`` (``bot.__main__.main``) on the copied catalogs
    (``LOCALES_DIR``): -> (status, stdout, stderr)."""
    from bot.__main__ import main
    from bot.settings import settings_from_env

    monkeypatch.setenv("LOCALES_DIR", str(locales))
    monkeypatch.setenv("VAR_DIR", str(tmp_path / "var"))  # main() narrows its files' modes
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")  # no local keys
    settings_from_env.cache_clear()
    umask = os.umask(0o022)  # main() sets the 0077 umask of the process: put it back after
    os.umask(umask)

    def run(*argv: str) -> tuple[int, str, str]:
        capsys.readouterr()
        status = main(["content", *argv])
        out, err = capsys.readouterr()
        return status, out, err

    yield run
    os.umask(umask)
    monkeypatch.undo()
    settings_from_env.cache_clear()


def test_command_line_round_trip(
    command: Callable[..., tuple[int, str, str]], locales: Path, tmp_path: Path
) -> None:
    status, out, err = command("export", "--lang", "fr")
    assert status == 0 and out.startswith("key,text,reference_fr,segments,source")
    count = len(list(csv.DictReader(io.StringIO(out))))
    assert f"{count} health answers (fr) written to the screen" in err

    sheet = tmp_path / "sheet.csv"
    status, out, _ = command("export", "--lang", "fr", "--out", str(sheet))
    assert status == 0 and f"{count} health answers (fr) written to {sheet}" in out
    status, out, _ = command("export", "--lang", "fr", "--out", str(tmp_path / "sheet.html"))
    assert status == 0 and (tmp_path / "sheet.html").read_text(encoding="utf-8")
    assert command("export", "--out", str(tmp_path / "sheet.txt"))[0] == 1

    rows = read_sheet(sheet)
    filled(rows, "emergency.suicide", verdict="approved", reviewer="Awa", date="2026-12-01")
    write_sheet(sheet, rows)
    catalog = po_path("fr", locales)
    mode = catalog.stat().st_mode & 0o777
    status, out, err = command("import-review", str(sheet), "--lang", "fr")
    assert status == 0, err
    assert f"1 verdict(s) recorded in {catalog}; {count - 1} row(s) without a verdict" in out
    assert (
        "clinical review: approved by Awa on 2026-12-01"
        in comments("fr", locales)["emergency.suicide"]
    )
    assert catalog.stat().st_mode & 0o777 == mode  # still readable by whoever read it

    filled(rows, "emergency.suicide", date="2026-13-01")
    filled(rows, "pregnancy.antenatal", verdict="approved", reviewer="Awa", date="2026-12-01")
    rows.append(dict.fromkeys(COLUMNS, "") | {"key": "nope", "verdict": "approved",
                                              "date": "2026-12-01"})  # fmt: skip
    write_sheet(sheet, rows)
    before = catalog.read_bytes()
    status, out, err = command("import-review", str(sheet))
    assert status == 1 and "Traceback" not in err
    lines = err.splitlines()
    assert lines[0].startswith("row ") and "date '2026-13-01'" in lines[0]
    assert lines[1] == f"row {len(rows) + 1}: unknown key 'nope' in the fr catalog; no reviewer"
    assert lines[-1].startswith("content import-review: 2 error(s), nothing written")
    assert catalog.read_bytes() == before  # the antenatal row was fine: all or nothing

    status, _, err = command("import-review", str(tmp_path / "absent.csv"))
    assert status == 1 and "cannot read it" in err and "Traceback" not in err
