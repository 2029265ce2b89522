"""The counsellor registry: working hours (syntax, midnight, timezones, daylight saving), the
checks on a counsellor, the table on SQLite and PostgreSQL, file imports, and the command line
(which never shows a whole phone number)."""

from __future__ import annotations

import logging
import re
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml
from sqlalchemy import event
from sqlalchemy.engine import Engine

from bot.handoff.hours import Hours
from bot.handoff.registry import Registry
from bot.handoff.registry_file import LOCAL_FILE, Counsellor, counsellors_file, load_file
from bot.settings import HandoffSettings

UTC = timezone.utc
PARIS = ZoneInfo("Europe/Paris")
EXAMPLE_FILE = LOCAL_FILE.with_name("counsellors.example.yml")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# --- Hours: syntax ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("mon-fri 08:00-18:00; sat 09:00-13:00", "mon-fri 08:00-18:00; sat 09:00-13:00"),
        ("  Mon - Fri 8:00 - 18:00 ;sat 09:00-13:00;", "mon-fri 08:00-18:00; sat 09:00-13:00"),
        ("mon,wed 08:00-12:00, 14:00-17:00", "mon,wed 08:00-12:00, 14:00-17:00"),
        ("sat 09:00-13:00; mon-fri 08:00-18:00", "mon-fri 08:00-18:00; sat 09:00-13:00"),
        (
            "mon 08:00-12:00; mon 11:00-14:00; tue 08:00-12:00; tue 12:00-14:00",
            "mon,tue 08:00-14:00",
        ),
        ("fri-mon 10:00-11:00", "mon,fri-sun 10:00-11:00"),  # a range over the weekend
        ("fri 20:00-02:00", "fri 20:00-02:00"),
        ("sun 22:00-01:00", "sun 22:00-01:00"),  # into Monday, over the week's end
        ("mon 18:00-00:00", "mon 18:00-24:00"),
        ("mon-sun 00:00-24:00", "always"),
        ("always", "always"),
        ("24/7", "always"),
        ("never", "never"),
        ("", "never"),
    ],
)
def test_hours_are_parsed_to_one_canonical_text(text: str, canonical: str) -> None:
    hours = Hours.parse(text, "Africa/Bamako")
    assert str(hours) == canonical
    assert Hours.parse(canonical, "Africa/Bamako") == hours  # and back


def test_the_syntax_means_what_it_says() -> None:
    """Spot checks of the meaning, not only the text: a list, a range, two spans a day."""
    hours = Hours.parse("mon,wed 08:00-12:00, 14:00-17:00; fri-sun 10:00-11:00")
    monday = utc(2026, 11, 30)
    open_days = {
        (monday + timedelta(days=d)).strftime("%a")
        for d in range(7)
        if hours.is_open(monday + timedelta(days=d, hours=10, minutes=30))
    }
    assert open_days == {"Mon", "Wed", "Fri", "Sat", "Sun"}
    wednesday = utc(2026, 12, 2)
    assert [hours.is_open(wednesday.replace(hour=h)) for h in (7, 8, 11, 12, 13, 14, 16, 17)] == [
        False, True, True, False, False, True, True, False,
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mon-fri", "expected days then times"),
        ("08:00-18:00", "expected days then times"),
        ("lun-ven 08:00-18:00", "unknown day 'lun'"),
        ("mon-fri 8h-18h", "not a time range like 08:00-18:00"),
        ("mon 08:00-12:00, tue 14:00-16:00", "'tue' is not a time range"),
        ("mon 08:00-25:00", "outside 00:00-24:00"),
        ("mon 24:00-02:00", "outside 00:00-24:00"),
        ("mon 08:75-09:00", "outside 00:00-24:00"),
        ("mon 24:30-02:00", "outside 00:00-24:00"),
        ("mon 09:00-09:00", "empty"),
        ("sometimes", "expected days then times"),
    ],
)
def test_bad_hours_are_refused_with_a_clear_message(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Hours.parse(text)


def test_hours_need_a_real_timezone_and_an_aware_datetime() -> None:
    with pytest.raises(ValueError, match="unknown timezone 'Europe/Pariss'"):
        Hours.parse("always", "Europe/Pariss")
    with pytest.raises(ValueError, match="timezone-aware"):
        Hours.parse("always").is_open(datetime(2026, 1, 1, 12))


# --- Hours: when open -------------------------------------------------------------------------


def test_a_span_past_midnight_belongs_to_the_day_it_starts() -> None:
    friday_night = Hours.parse("fri 20:00-02:00")
    friday = utc(2026, 12, 4)
    assert not friday_night.is_open(friday.replace(hour=19, minute=59))
    assert friday_night.is_open(friday.replace(hour=20))
    assert friday_night.is_open(friday.replace(hour=23, minute=59))
    assert friday_night.is_open(friday + timedelta(days=1, hours=1, minutes=59))  # Saturday
    assert not friday_night.is_open(friday + timedelta(days=1, hours=2))
    assert not friday_night.is_open(friday - timedelta(days=1, hours=-1))  # Thursday 01:00
    sunday_night = Hours.parse("sun 22:00-01:00")  # over the end of the week
    assert sunday_night.is_open(utc(2026, 11, 30, 0, 30))  # Monday
    assert not sunday_night.is_open(utc(2026, 11, 30, 1, 0))
    assert sunday_night.is_open(utc(2026, 12, 6, 22, 0))  # Sunday
    assert not sunday_night.is_open(utc(2026, 12, 5, 23, 0))  # Saturday


def test_hours_are_read_on_the_counsellors_clock() -> None:
    lima = Hours.parse("mon-fri 09:00-17:00", "America/Lima")  # UTC-5, no DST
    monday = utc(2026, 11, 30)
    assert not lima.is_open(monday.replace(hour=13, minute=59))
    assert lima.is_open(monday.replace(hour=14))
    assert lima.is_open(monday.replace(hour=21, minute=59))
    assert not lima.is_open(monday.replace(hour=22))
    # Friday 23:00 in Lima is Saturday 04:00 UTC: still Friday, her working day, but late.
    assert not lima.is_open(utc(2026, 12, 5, 4))
    # The same instant, written in another timezone, gives the same answer.
    at = monday.replace(hour=15).astimezone(ZoneInfo("Asia/Tokyo"))
    assert lima.is_open(at)
    assert not Hours.parse("mon-fri 09:00-17:00", "Asia/Tokyo").is_open(at)  # 00:00 in Tokyo


# --- Hours: next opening ----------------------------------------------------------------------


def test_next_opening_now_later_today_and_next_week() -> None:
    hours = Hours.parse("mon 09:00-10:00; wed 14:00-15:00", "Africa/Bamako")  # UTC+0
    now = utc(2026, 11, 30, 9, 30)
    assert hours.next_opening(now) is now
    assert hours.next_opening(utc(2026, 11, 30, 7, 0)) == utc(2026, 11, 30, 9, 0)  # today
    assert hours.next_opening(utc(2026, 11, 30, 10, 0)) == utc(2026, 12, 2, 14, 0)  # Wednesday
    # After the last span of the week: next Monday, six days and 23 hours later.
    assert hours.next_opening(utc(2026, 12, 2, 15, 0)) == utc(2026, 12, 7, 9, 0)
    assert Hours.parse("mon 09:00-10:00").next_opening(utc(2026, 11, 30, 10)) == utc(2026, 12, 7, 9)


def test_next_opening_is_given_in_the_timezone_of_the_question() -> None:
    hours = Hours.parse("mon-fri 09:00-17:00", "America/Lima")
    asked = datetime(2026, 11, 30, 8, 0, tzinfo=PARIS)  # Lima 02:00
    opening = hours.next_opening(asked)
    assert opening == utc(2026, 11, 30, 14, 0)
    assert opening is not None and opening.tzinfo is PARIS and opening.hour == 15


def test_never_and_always() -> None:
    at = utc(2026, 11, 30, 3)
    assert Hours.parse("never").next_opening(at) is None
    assert not Hours.parse("never").is_open(at)
    assert Hours.parse("always", "Pacific/Kiritimati").next_opening(at) is at


def test_next_opening_across_the_autumn_change_in_paris() -> None:
    """2026-10-25: 03:00 CEST becomes 02:00 CET (01:00 UTC); 02:00-03:00 happens twice."""
    weekdays = Hours.parse("mon-fri 08:00-18:00", "Europe/Paris")
    # Saturday 24, 14:00 CEST. Monday 08:00 is CET: 07:00 UTC, not 06:00.
    assert weekdays.next_opening(utc(2026, 10, 24, 12)) == utc(2026, 10, 26, 7)
    early = Hours.parse("sun 01:00-02:30", "Europe/Paris")
    assert early.is_open(utc(2026, 10, 25, 0, 15))  # 02:15 CEST
    assert not early.is_open(utc(2026, 10, 25, 0, 45))  # 02:45 CEST
    assert early.is_open(utc(2026, 10, 25, 1, 15))  # 02:15 CET: the hour again
    # At 02:45 CEST the clock goes back to 02:00, inside the span: open again at once.
    assert early.next_opening(utc(2026, 10, 25, 0, 45)) == utc(2026, 10, 25, 1, 0)
    assert early.next_opening(utc(2026, 10, 25, 1, 30)) == utc(2026, 11, 1, 0, 0)  # CET week
    # A span inside the repeated hour happens twice: after the first pass, the second (CET).
    late = Hours.parse("sun 02:15-02:45", "Europe/Paris")
    assert late.next_opening(utc(2026, 10, 25, 0, 50)) == utc(2026, 10, 25, 1, 15)


def test_next_opening_across_the_spring_change_in_paris() -> None:
    """2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC); 02:00-03:00 does not exist."""
    weekdays = Hours.parse("mon-fri 08:00-18:00", "Europe/Paris")
    # Saturday 28, 13:00 CET. Monday 08:00 is CEST: 06:00 UTC, not 07:00.
    assert weekdays.next_opening(utc(2026, 3, 28, 12)) == utc(2026, 3, 30, 6)
    # A span starting in the skipped hour opens when the clock jumps to 03:00.
    night = Hours.parse("sun 02:30-04:00", "Europe/Paris")
    assert night.next_opening(utc(2026, 3, 29, 0, 0)) == utc(2026, 3, 29, 1, 0)
    # A span entirely inside the skipped hour does not happen that night: next week.
    skipped = Hours.parse("sun 02:00-02:30", "Europe/Paris")
    assert skipped.next_opening(utc(2026, 3, 29, 0, 0)) == utc(2026, 4, 5, 0, 0)


# --- Counsellor checks ------------------------------------------------------------------------

AWA = {
    "id": "awa",
    "name": "Awa",
    "languages": ("fr", "bm"),
    "channel": "telegram",
    "address": "100000001",
    "timezone": "Africa/Bamako",
    "hours": "mon-fri 08:00-17:00",
}


def test_a_counsellor_is_normalised() -> None:
    rosa = Counsellor(**{**AWA, "id": "rosa", "channel": "sms", "address": "+51 900-000 001",
                         "languages": ["es"], "timezone": "America/Lima"})  # fmt: skip
    assert rosa.address == "+51900000001"
    assert rosa.languages == ("es",)
    assert rosa.hours == Hours.parse("mon-fri 08:00-17:00", "America/Lima")
    assert rosa.masked_address == "+51•••••01"
    assert "900000001" not in repr(rosa)  # reprs end up in logs
    awa = Counsellor(**AWA)
    assert (awa.language, awa.masked_address, awa.speaks("bm"), awa.speaks("es")) == (
        "fr", "tg:•••01", True, False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"languages": ("fr", "wo")}, "unknown language 'wo'"),
        ({"languages": ()}, "at least one language"),
        ({"languages": ("fr", "fr")}, "listed twice"),
        ({"address": "@awa_7654"}, "numeric user id"),
        ({"address": "0100000001"}, "numeric user id"),
        ({"channel": "sms", "address": "0022376543210"}, "E.164"),
        ({"channel": "sms", "address": "+2237654"}, "E.164"),
        ({"channel": "sms", "address": "+223765432101234567"}, "E.164"),
        ({"channel": "whatsapp"}, "unknown channel 'whatsapp'"),
        ({"timezone": "Africa/Bamakko"}, "unknown timezone 'Africa/Bamakko'"),
        ({"timezone": "GMT+0 Bamako"}, "unknown timezone"),
        ({"id": "Awa Traoré"}, "short slug"),
        ({"name": " "}, "name"),
        ({"hours": "lun 08:00-12:00"}, "unknown day 'lun'"),
        ({"hours": Hours.parse("always", "Europe/Paris")}, "hours are in Europe/Paris"),
        ({"active": "yes"}, "active must be true or false"),
    ],
)
def test_a_bad_counsellor_is_refused_with_a_clear_message(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as refused:
        Counsellor(**{**AWA, **changes})
    assert "7654" not in str(refused.value)  # the address is not echoed


# --- The table, on SQLite and PostgreSQL ------------------------------------------------------


@pytest.fixture
def db(isolated: Engine) -> Engine:
    """The counsellors table to this test alone (a schema of its own on the shared
    PostgreSQL): an import deactivates every counsellor missing from its file, and must not
    touch other tests' rows."""
    return isolated


class Namespace:
    """Ids and addresses unique to one test."""

    def __init__(self) -> None:
        self.mark = f"t{uuid.uuid4().hex[:10]}"
        self._n = int(self.mark[1:], 16)

    def id(self, name: str) -> str:
        return f"{self.mark}-{name}"

    def telegram(self, n: int) -> str:
        return str(10**11 + self._n % 10**8 * 100 + n)

    def phone(self, n: int) -> str:
        return f"+2237{self._n % 10**5:05d}{n:02d}"

    def counsellor(self, name: str, **fields: object) -> Counsellor:
        return Counsellor(**{**AWA, "id": self.id(name), "name": name.title(), **fields})


@pytest.fixture
def ns() -> Namespace:
    return Namespace()


MONDAY_10 = utc(2026, 11, 30, 10)


@pytest.fixture
def registry(db: Engine) -> Registry:
    return Registry(db, clock=lambda: MONDAY_10)


def test_upsert_get_find_remove(registry: Registry, ns: Namespace) -> None:
    awa = ns.counsellor("awa", address=ns.telegram(1))
    rosa = ns.counsellor("rosa", channel="sms", address=ns.phone(2), languages=("es",),
                         timezone="America/Lima")  # fmt: skip
    assert registry.upsert(awa) == [f"add {awa.id}"]
    assert registry.upsert(rosa) == [f"add {rosa.id}"]
    assert registry.get(awa.id) == awa
    assert registry.get(ns.id("nobody")) is None
    assert registry.upsert(awa) == []  # the same: no change
    later = Counsellor(**{**awa.__dict__, "hours": "always", "languages": ("bm",)})
    assert registry.upsert(later) == [f"update {awa.id}: languages, hours"]
    assert registry.get(awa.id) == later
    assert [c.id for c in registry.all()] == sorted([awa.id, rosa.id])
    assert registry.find("telegram", ns.telegram(1)) == later
    spaced = f"{ns.phone(2)[:4]} {ns.phone(2)[4:6]} {ns.phone(2)[6:]}"
    assert registry.find("sms", spaced) == rosa
    assert registry.find("sms", ns.telegram(1)) is None  # another channel
    assert registry.find("telegram", ns.telegram(3)) is None
    assert registry.find("telegram", "@awa") is None
    assert registry.remove(awa.id) is True
    assert registry.remove(awa.id) is False  # already inactive
    assert registry.remove(ns.id("nobody")) is False
    stored = registry.get(awa.id)
    assert stored is not None and not stored.active  # kept, for the history
    found = registry.find("telegram", ns.telegram(1))
    assert found is not None and not found.active  # recognised, and known to be inactive


def test_an_address_is_taken_only_from_an_inactive_counsellor(
    registry: Registry, ns: Namespace
) -> None:
    """A duty phone passed from one counsellor to the next."""
    moussa = ns.counsellor("moussa", channel="sms", address=ns.phone(1))
    fatou = ns.counsellor("fatou", channel="sms", address=ns.phone(1))
    registry.upsert(moussa)
    with pytest.raises(ValueError, match=r"belongs to .*moussa"):
        registry.upsert(fatou)
    assert registry.get(fatou.id) is None
    registry.remove(moussa.id)
    assert registry.upsert(fatou) == [
        f"add {fatou.id}",
        f"release {moussa.id}'s sms address (now {fatou.id}'s)",
    ]
    assert registry.find("sms", ns.phone(1)) == fatou
    released = registry.get(moussa.id)
    assert released is not None and released.address == "" and not released.active


def test_available_and_next_opening(registry: Registry, ns: Namespace) -> None:
    counsellors = [
        ns.counsellor("awa", address=ns.telegram(1)),  # fr, bm; Bamako (UTC) mon-fri 08-17
        ns.counsellor("binta", address=ns.telegram(2), languages=("fr",), hours="always",
                      active=False),
        ns.counsellor("moussa", channel="sms", address=ns.phone(3), languages=("bm",),
                      hours="sat 20:00-02:00"),
        ns.counsellor("rosa", channel="sms", address=ns.phone(4), languages=("es",),
                      timezone="America/Lima", hours="mon-fri 09:00-13:00"),
        ns.counsellor("claire", address=ns.telegram(5), languages=("fr",),
                      timezone="Europe/Paris", hours="sat 10:00-11:00; mon 07:00-10:00"),
    ]  # fmt: skip
    for counsellor in counsellors:
        registry.upsert(counsellor)
    awa, _binta, moussa, rosa, claire = counsellors

    def available(language: str, at: datetime | None = None) -> list[str]:
        return [c.id for c in registry.available(language, at)]

    # Monday 10:00 UTC (the clock): Awa works, Claire stopped at 10:00 Paris, Binta is inactive
    assert available("fr") == [awa.id]
    assert available("bm") == [awa.id]
    assert available("es") == []  # 05:00 in Lima
    assert available("es", utc(2026, 11, 30, 14)) == [rosa.id]
    assert available("bm", utc(2026, 12, 6, 1)) == [moussa.id]  # Saturday night, Sunday 01:00
    assert available("fr", utc(2026, 11, 30, 8, 30)) == sorted([awa.id, claire.id])

    assert registry.next_opening("es") == utc(2026, 11, 30, 14)
    assert registry.next_opening("fr") == MONDAY_10  # Awa, now
    # Saturday 08:00 UTC: Claire at 10:00 Paris (09:00 UTC) comes before Awa's Monday.
    assert registry.next_opening("fr", utc(2026, 12, 5, 8)) == utc(2026, 12, 5, 9)
    assert registry.next_opening("bm", utc(2026, 12, 5, 8)) == utc(2026, 12, 5, 20)
    registry.remove(rosa.id)
    assert registry.next_opening("es") is None
    assert registry.available("es", utc(2026, 11, 30, 14)) == []


# --- Files ------------------------------------------------------------------------------------


def write_registry(path: Path, counsellors: list[dict]) -> Path:
    path.write_text(yaml.safe_dump({"counsellors": counsellors}, allow_unicode=True), "utf-8")
    return path


def entry(ns: Namespace, name: str, **fields: object) -> dict:
    return {**AWA, "id": ns.id(name), "name": name.title(), "languages": ["fr", "bm"], **fields}


def test_import_adds_updates_and_deactivates(
    registry: Registry, ns: Namespace, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.handoff.registry")
    file = tmp_path / "counsellors.yml"
    first = [
        entry(ns, "awa", address=ns.telegram(1)),
        entry(ns, "rosa", languages=["es"], channel="sms", address=ns.phone(2),
              timezone="America/Lima", hours="mon-fri 09:00-13:00, 15:00-19:00"),
        entry(ns, "moussa", languages=["bm", "fr"], channel="sms", address=ns.phone(3),
              hours="mon-fri 17:00-22:00; sat 20:00-02:00"),
    ]  # fmt: skip
    write_registry(file, first)
    lines = registry.import_file(file)
    assert lines == [f"add {ns.id('awa')}", f"add {ns.id('rosa')}", f"add {ns.id('moussa')}"]
    assert registry.get(ns.id("moussa")) == Counsellor.from_mapping(first[2])
    assert registry.import_file(file) == []  # again: nothing to do

    awa, rosa, moussa, claire = (ns.id(n) for n in ("awa", "rosa", "moussa", "claire"))
    second = [
        {**first[0], "languages": ["bm", "fr"], "hours": "mon-fri 08:00-12:00"},
        first[2],
        entry(ns, "claire", languages=["fr"], address=ns.telegram(4), timezone="Europe/Paris"),
    ]
    write_registry(file, second)
    expected = [f"update {awa}: languages, hours", f"add {claire}", f"deactivate {rosa}"]
    assert registry.import_file(file, dry_run=True) == expected
    # A dry run writes nothing.
    assert registry.get(claire) is None
    assert registry.get(rosa).active  # type: ignore[union-attr]
    assert str(registry.get(awa).hours) == "mon-fri 08:00-17:00"  # type: ignore[union-attr]
    assert registry.import_file(file) == expected
    assert registry.get(claire) == Counsellor.from_mapping(second[2])
    assert str(registry.get(awa).hours) == "mon-fri 08:00-12:00"  # type: ignore[union-attr]
    gone = registry.get(rosa)
    assert gone is not None and not gone.active and gone.address == ns.phone(2)  # kept
    assert registry.available("es", utc(2026, 11, 30, 15)) == []  # Rosa works then, if active
    assert registry.get(moussa).active  # type: ignore[union-attr]

    # Back in the file: reactivated. Moussa's phone goes to Fatou, Moussa leaves.
    third = [*second[:1], second[2], first[1],
             entry(ns, "fatou", languages=["bm"], channel="sms", address=ns.phone(3))]  # fmt: skip
    write_registry(file, third)
    assert registry.import_file(file) == [
        f"reactivate {rosa}",
        f"add {ns.id('fatou')}",
        f"deactivate {moussa}",
        f"release {moussa}'s sms address (now {ns.id('fatou')}'s)",
    ]
    assert registry.find("sms", ns.phone(3)).id == ns.id("fatou")  # type: ignore[union-attr]
    assert registry.get(rosa).active  # type: ignore[union-attr]

    # Two counsellors swap their numbers in one import (the unique index holds throughout).
    swapped = [third[0], third[1], {**third[2], "address": ns.phone(3)},
               {**third[3], "address": ns.phone(2)}]  # fmt: skip
    write_registry(file, swapped)
    assert registry.import_file(file) == [
        f"update {rosa}: address",
        f"update {ns.id('fatou')}: address",
    ]
    assert registry.find("sms", ns.phone(2)).id == ns.id("fatou")  # type: ignore[union-attr]

    logged = caplog.text
    assert f"add {claire}" in logged
    for secret in [ns.telegram(1), ns.telegram(4), ns.phone(2), ns.phone(3)]:
        assert secret not in logged
        assert secret[1:] not in logged


def test_instances_importing_at_once_add_each_counsellor_once(
    engine: Engine, db: Engine, ns: Namespace, tmp_path: Path
) -> None:
    """Server instances import the data file at start, maybe at the same moment: all read an
    empty table, all insert; one wins, the others plan again and find nothing to do."""
    names = ["awa", "binta", "claire", "dado"]
    file = write_registry(
        tmp_path / "counsellors.yml",
        [entry(ns, name, address=ns.telegram(n)) for n, name in enumerate(names)],
    )
    barrier = threading.Barrier(3, timeout=20)
    waited = threading.local()

    def all_insert_at_once(conn, cursor, statement: str, *args: object) -> None:
        inserting = statement.startswith("INSERT INTO") and "counsellors" in statement
        if inserting and not getattr(waited, "done", False):
            waited.done = True
            barrier.wait()  # every instance has read the table before anyone writes

    event.listen(engine, "before_cursor_execute", all_insert_at_once)
    try:
        with ThreadPoolExecutor(3) as pool:
            results = list(pool.map(
                lambda _: Registry(db).import_file(file), range(3)
            ))  # fmt: skip
    finally:
        event.remove(engine, "before_cursor_execute", all_insert_at_once)
    assert sorted(line for lines in results for line in lines) == [
        f"add {ns.id(name)}" for name in names
    ]
    assert sorted(lines != [] for lines in results) == [False, False, True]


def test_a_bad_file_changes_nothing(registry: Registry, ns: Namespace, tmp_path: Path) -> None:
    file = write_registry(tmp_path / "bad.yml", [
        entry(ns, "awa", address=ns.telegram(1)),
        entry(ns, "rosa", languages=["es", "qu"], address=ns.telegram(2)),
    ])  # fmt: skip
    with pytest.raises(ValueError, match=r"bad\.yml, entry 2: .*unknown language 'qu'"):
        registry.import_file(file)
    assert registry.get(ns.id("awa")) is None  # the good first entry was not written either


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "counsellors:\n  - id: awa\n    name: Awa\n",
            "entry 1: counsellor awa: missing languages",
        ),
        ("- id: awa\n", "expected one top-level key, 'counsellors:'"),
        ("counsellors: {id: awa}\n", "must be a list"),
        ("counsellors:\n  - [awa\n", "not valid YAML"),
        (
            "counsellors:\n  - {id: awa, name: Awa, languages: [fr], channel: sms, address: "
            "+22370000001, timezone: Africa/Bamako, hours: always}\n",
            "in quotes",
        ),
        (
            "counsellors:\n  - {id: awa, name: Awa, languages: [fr], channel: local, address: c, "
            "timezone: UTC, hours: always, timezon: UTC}\n",
            "unknown key(s) timezon",
        ),
        (
            "counsellors:\n  - {id: awa, name: Awa, languages: [fr], channel: local, address: c, "
            "timezone: UTC, hours: always}\n  - {id: awa, name: Awa, languages: [fr], "
            "channel: local, address: d, timezone: UTC, hours: always}\n",
            "awa is listed twice",
        ),
        (
            "counsellors:\n  - {id: a, name: A, languages: [fr], channel: local, address: c, "
            "timezone: UTC, hours: always}\n  - {id: b, name: B, languages: [fr], "
            "channel: local, address: c, timezone: UTC, hours: always}\n",
            "same local address",
        ),
    ],
)
def test_bad_files_are_explained(tmp_path: Path, text: str, message: str) -> None:
    file = tmp_path / "counsellors.yml"
    file.write_text(text, "utf-8")
    with pytest.raises(ValueError, match=re.escape(message)) as refused:
        load_file(file)
    assert "22370000001" not in str(refused.value)


def test_the_shipped_files() -> None:
    (local,) = load_file(LOCAL_FILE)
    assert (local.id, local.channel, local.languages, str(local.hours)) == (
        "local", "local", ("fr", "es", "bm"), "always",
    )  # fmt: skip
    example = load_file(EXAMPLE_FILE)
    assert len(example) == 4
    assert {c.timezone for c in example} == {"Africa/Bamako", "America/Lima", "Europe/Paris"}
    assert {c.channel for c in example} == {"telegram", "sms"}
    assert all(c.hours.next_opening(MONDAY_10) is not None for c in example)
    fictional = {"100000001", "100000002", "+22370000001", "+51900000001"}
    assert {c.address for c in example} <= fictional
    assert counsellors_file(HandoffSettings.from_env({})) == LOCAL_FILE
    assert counsellors_file(HandoffSettings.from_env({"COUNSELLORS_FILE": "/srv/c.yml"})) == Path(
        "/srv/c.yml"
    )


# --- Command line -----------------------------------------------------------------------------


@pytest.fixture
def cli(
    command_line: Callable[[str], Callable[..., tuple[int, str, str]]],
) -> Callable[..., tuple[int, str, str]]:
    """``python -m bot counsellors ...`` on a SQLite file: (status, stdout, stderr)."""
    return command_line("counsellors")


def rows(listing: str) -> dict[str, list[str]]:
    """The list's table, by id: cells are two spaces or more apart."""
    lines = listing.strip().splitlines()
    assert re.split(r"\s{2,}", lines[0]) == [
        "id", "name", "role", "languages", "channel", "address", "hours", "timezone", "active",
        "on duty",
    ]  # fmt: skip
    return {cells[0]: cells for cells in (re.split(r"\s{2,}", line) for line in lines[1:])}


def test_the_command_line_end_to_end(
    cli: Callable[..., tuple[int, str, str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    status, out, _ = cli("import", str(EXAMPLE_FILE), "--dry-run")
    assert status == 0
    assert out.splitlines() == ["add awa", "add rosa", "add claire", "add moussa",
                                "Dry run: nothing written."]  # fmt: skip
    assert "No counsellors" in cli("list")[1]

    assert cli("import", str(EXAMPLE_FILE))[0] == 0
    status, out, _ = cli("list")
    table = rows(out)
    assert sorted(table) == ["awa", "claire", "moussa", "rosa"]
    assert table["moussa"][1:9] == ["Moussa", "counsellor", "bm,fr", "sms", "+223•••••01",
                                    "mon-fri 17:00-22:00; sat 20:00-02:00", "Africa/Bamako",
                                    "yes"]  # fmt: skip
    assert table["awa"][5] == "tg:•••01"
    assert table["rosa"][5] == "+51•••••01"
    for number in ("+22370000001", "22370000001", "+51900000001", "100000001", "100000002"):
        assert number not in out

    status, out, _ = cli("add", "--id", "sara", "--name", "Sara", "--languages", "fr,es",
                         "--channel", "sms", "--address", "+33 6 39 98 00 01",
                         "--timezone", "Europe/Paris", "--hours", "always")  # fmt: skip
    assert (status, out) == (0, "add sara\n")
    status, out, _ = cli("add", "--id", "nina", "--name", "Nina", "--languages", "es",
                         "--channel", "telegram", "--address", "100000009",
                         "--timezone", "America/Lima", "--hours", "never")  # fmt: skip
    assert status == 0
    status, out, _ = cli("list")
    table = rows(out)
    assert table["sara"][3:] == ["fr,es", "sms", "+33•••••01", "always", "Europe/Paris", "yes",
                                 "yes"]  # fmt: skip
    assert table["nina"][-2:] == ["yes", "no"]  # active, never on duty
    assert "+33639980001" not in out and "100000009" not in out

    status, _, err = cli("add", "--id", "x", "--name", "X", "--languages", "fr,wo",
                         "--channel", "local", "--address", "desk", "--timezone", "UTC",
                         "--hours", "always")  # fmt: skip
    assert status == 2 and "unknown language 'wo'" in err

    assert cli("remove", "awa")[:2] == (0, "deactivate awa\n")
    assert rows(cli("list")[1])["awa"][-2:] == ["no", "no"]
    status, _, err = cli("remove", "awa")
    assert status == 1 and "already inactive" in err
    status, _, err = cli("remove", "nobody")
    assert status == 1 and "unknown" in err

    # Without a FILE: COUNSELLORS_FILE. The local file replaces the example's counsellors.
    monkeypatch.setenv("COUNSELLORS_FILE", str(LOCAL_FILE))
    status, out, _ = cli("import")
    assert status == 0
    assert out.splitlines()[0] == "add local"
    assert {"deactivate rosa", "deactivate sara", "deactivate nina"} <= set(out.splitlines())
    table = rows(cli("list")[1])
    assert [i for i, cells in table.items() if cells[8] == "yes"] == ["local"]
    assert table["local"][5] == "console"

    status, _, err = cli("import", str(tmp_path / "missing.yml"))
    assert status == 2 and "missing.yml" in err
