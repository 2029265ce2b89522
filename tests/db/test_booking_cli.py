"""``python -m bot booking ...`` end to end on a SQLite file: import (dry run, again, refused),
the upcoming sessions on each venue's clock, rosters as CSV, attendance, moves, a cancelled
session, and one-line errors with status 2."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from bot.booking.service import BookingService
from bot.db import database

Run = Callable[..., tuple[int, str, str]]
LIMA, BAMAKO = ZoneInfo("America/Lima"), ZoneInfo("Africa/Bamako")


@pytest.fixture
def cli(
    command_line: Callable[[str], Callable[..., tuple[int, str, str]]],
) -> Callable[..., tuple[int, str, str]]:
    """``python -m bot booking ...`` on a SQLite file: (status, stdout, stderr)."""
    return command_line("booking")


def local(zone: ZoneInfo, delta: timedelta) -> datetime:
    """Now plus ``delta`` on a venue's clock, to the minute (what a schedule file says)."""
    return (datetime.now(timezone.utc) + delta).astimezone(zone).replace(second=0, microsecond=0)


def schedule_file(path: Path, starts: dict[str, datetime], capacity: int = 2) -> Path:
    venue = {"lima-": "v-lima", "bko-": "v-bko"}
    data = {
        "venues": [
            {"code": "v-lima", "name": "Casa Santa Rosa", "city": "Lima", "country": "PE",
             "timezone": "America/Lima"},
            {"code": "v-bko", "name": "Centre maternel", "city": "Bamako", "country": "ML",
             "timezone": "Africa/Bamako"},
        ],
        "workshops": [{"code": "w-birth", "topic": "childbirth", "facilitator_role": "midwife",
                       "languages": ["es", "bm", "fr"]}],
        "sessions": [
            {"code": code, "workshop": "w-birth", "venue": venue[code[: code.index("-") + 1]],
             "starts_at": f"{start:%Y-%m-%d %H:%M}", "duration_minutes": 90,
             "capacity": capacity, "language": "es" if code.startswith("lima") else "bm"}
            for code, start in starts.items()
        ],
    }  # fmt: skip
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "utf-8")
    return path


def table(listing: str) -> dict[str, list[str]]:
    """The sessions table, by code: cells are two spaces or more apart."""
    lines = listing.strip().splitlines()
    assert re.split(r"\s{2,}", lines[0]) == [
        "session", "starts (venue time)", "venue", "lang", "topic", "facilitator", "seats left",
    ]  # fmt: skip
    return {cells[0]: cells for cells in (re.split(r"\s{2,}", line) for line in lines[1:])}


def test_the_command_line_end_to_end(cli: Run, tmp_path: Path) -> None:
    starts = {
        "lima-soon": local(LIMA, timedelta(minutes=30)),
        "lima-later": local(LIMA, timedelta(days=2)),
        "bko-next": local(BAMAKO, timedelta(days=3)),
    }
    file = schedule_file(tmp_path / "schedule.yml", starts)
    added = ["add venue v-lima", "add venue v-bko", "add workshop w-birth",
             "add session lima-soon", "add session lima-later", "add session bko-next"]  # fmt: skip
    assert cli("import", str(file), "--dry-run") == (
        0, "\n".join([*added, "Dry run: nothing written."]) + "\n", "",
    )  # fmt: skip
    assert "No upcoming sessions" in cli("sessions")[1]
    assert cli("import", str(file)) == (0, "\n".join(added) + "\n", "")
    assert cli("import", str(file))[1] == f"{file}: no change.\n"

    rows = table(cli("sessions")[1])
    assert list(rows) == ["lima-soon", "lima-later", "bko-next"]  # soonest first
    later = starts["lima-later"]
    assert rows["lima-later"] == [
        "lima-later", f"{later:%a %Y-%m-%d %H:%M} -05", "Casa Santa Rosa, Lima", "es",
        "childbirth", "midwife", "2 of 2",
    ]  # fmt: skip
    assert rows["bko-next"][1] == f"{starts['bko-next']:%a %Y-%m-%d %H:%M} GMT"
    assert list(table(cli("sessions", "--language", "bm")[1])) == ["bko-next"]

    service = BookingService(database.engine_from_env())
    awa, binta, chata = (service.book(code, participant) for code, participant in [
        ("lima-soon", "sms-awa"), ("lima-soon", "tg-binta"), ("lima-soon", "sms-chata"),
    ])  # fmt: skip
    assert chata.status == "waitlisted"
    assert table(cli("sessions")[1])["lima-soon"][-1] == "0 of 2"

    status, out, _ = cli("roster", "lima-soon")
    assert status == 0
    roster = list(csv.reader(io.StringIO(out)))
    assert roster[0] == ["reference", "participant", "status", "booked_at"]
    assert [r[:3] for r in roster[1:]] == [
        [awa.reference, "sms-awa", "booked"], [binta.reference, "tg-binta", "booked"],
        [chata.reference, "sms-chata", "waitlisted"],
    ]  # fmt: skip
    booked_at = datetime.fromisoformat(roster[1][3])  # on the venue's clock
    assert booked_at.utcoffset() == timedelta(hours=-5)
    assert abs(booked_at - awa.created_at) < timedelta(minutes=1)
    out_file = tmp_path / "roster.csv"
    assert cli("roster", "lima-soon", "--out", str(out_file))[1] == (
        f"3 booking(s) of lima-soon written to {out_file}\n"
    )
    assert out_file.read_text("utf-8") == out

    # The roll call: 30 minutes before the start, the door is open.
    assert cli("attend", "lima-soon", awa.reference.lower()) == (0, f"{awa.reference}: attended\n",
                                                                 "")  # fmt: skip
    assert cli("attend", "lima-soon", binta.reference, "--no-show")[1] == (
        f"{binta.reference}: no_show\n"
    )
    status, _, err = cli("attend", "lima-soon", chata.reference)
    assert status == 2 and "waitlisted" in err and err.count("\n") == 1
    dado = service.book("lima-later", "sms-dado")
    status, _, err = cli("attend", "lima-later", dado.reference)
    assert (status, err) == (2, "booking: session lima-later has not begun: attendance opens "
                                "an hour before it\n")  # fmt: skip

    # Moves: a seat in a session with room, the waitlist of a full one.
    assert cli("move", chata.reference, "bko-next")[1] == (
        f"move {chata.reference} to bko-next: booked\n"
    )
    service.book("bko-next", "sms-emma")
    assert cli("move", dado.reference, "bko-next")[1] == (
        f"move {dado.reference} to bko-next: waitlisted (number 1)\n"
    )

    assert cli("cancel-session", "bko-next") == (
        0, "cancel session bko-next: 3 booking(s) cancelled, their participants will be told\n",
        "",
    )  # fmt: skip
    assert list(table(cli("sessions")[1])) == ["lima-soon", "lima-later"]
    assert service.booking(chata.id).status == "cancelled"  # type: ignore[union-attr]
    status, _, err = cli("cancel-session", "bko-next")
    assert (status, err) == (2, "booking: session bko-next is already cancelled\n")


def test_errors_are_one_line_with_status_2(cli: Run, tmp_path: Path) -> None:
    file = schedule_file(tmp_path / "schedule.yml", {"lima-a": local(LIMA, timedelta(days=2))})
    assert cli("import", str(file))[0] == 0
    service = BookingService(database.engine_from_env())
    for n in range(2):
        service.book("lima-a", f"sms-{n}")
    smaller = schedule_file(tmp_path / "smaller.yml", {"lima-a": local(LIMA, timedelta(days=2))},
                            capacity=1)  # fmt: skip
    refused = [
        (("import", str(smaller)), "capacity 1 is below the 2 seat(s) already taken"),
        (("import", str(tmp_path / "missing.yml")), "missing.yml"),
        (("roster", "nothing"), "no session nothing"),
        (("attend", "lima-a", "ZZZZZ"), "no booking ZZZZZ in session lima-a"),
        (("move", "ZZZZZ", "lima-a"), "no booking ZZZZZ"),
        (("cancel-session", "nothing"), "no session nothing"),
    ]
    for argv, message in refused:
        status, out, err = cli(*argv)
        assert (status, out) == (2, ""), argv
        assert err.startswith("booking: ") and message in err and err.count("\n") == 1, err
    assert table(cli("sessions")[1])["lima-a"][-1] == "0 of 2"  # the refused import changed nothing
