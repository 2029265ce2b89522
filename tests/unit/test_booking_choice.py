"""Reading a reply to the list of sessions: numbers, number words, weekdays and dates in
the venue's time zone, topics, in three languages; and yes / no."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import pytest

from bot.booking.choice import resolve
from bot.booking.dialogue import wants_to_stop
from bot.menu import yes_no


@dataclass(frozen=True)
class Offered:
    topic: str
    starts_at: datetime
    venue_timezone: str


UTC = timezone.utc
OFFER = [
    # Saturday 12 Dec 2026, 10:00 in Bamako (UTC+0)
    Offered("breastfeeding", datetime(2026, 12, 12, 10, 0, tzinfo=UTC), "Africa/Bamako"),
    # Monday 14 Dec, 15:00 in Lima = 20:00 UTC
    Offered("childbirth", datetime(2026, 12, 14, 20, 0, tzinfo=UTC), "America/Lima"),
    # Tuesday 15 Dec 02:00 UTC is still Monday 14 Dec, 21:00 in Lima
    Offered("nutrition", datetime(2026, 12, 15, 2, 0, tzinfo=UTC), "America/Lima"),
    # Saturday 19 Dec, 09:30 in Paris
    Offered("sexuality", datetime(2026, 12, 19, 8, 30, tzinfo=UTC), "Europe/Paris"),
]


@pytest.mark.parametrize(("reply", "index"), [
    ("2", 1), ("le 2 stp", 1), ("deux", 1), ("dos", 1), ("a filanan", 1), ("4", 3),
    ("l'allaitement", 0), ("latelier allaitement svp", 0), ("lactancia", 0), ("sinji", 0),
    ("la preparation a l accouchement", 1), ("parto", 1), ("nutricion", 2),
    ("sexualite", 3), ("samedi allaitement", 0), ("sábado 19", 3), ("sibiri 12", 0),
    ("le 12", 0), ("the one on the 19th", 3), ("el 19", 3), ("le 12 decembre", 0),
])  # fmt: skip
def test_a_reply_names_one_session(reply: str, index: int) -> None:
    assert resolve(reply, OFFER).index == index


@pytest.mark.parametrize("reply", ["samedi", "sabado", "le 14", "lundi", "ntɛnɛ"])
def test_a_reply_that_fits_several_is_ambiguous(reply: str) -> None:
    found = resolve(reply, OFFER)
    assert found.index is None and found.ambiguous


@pytest.mark.parametrize("reply", ["7", "0", "bof", "jsp", "le 3 janvier", "vendredi", "xyz"])
def test_a_reply_that_fits_none_is_not_understood(reply: str) -> None:
    found = resolve(reply, OFFER)
    assert found.index is None and not found.ambiguous


@pytest.mark.parametrize(("reply", "answer"), [
    ("oui", True), ("Oui !", True), ("si", True), ("awo", True), ("1", True), ("ok", True),
    ("non", False), ("no gracias", False), ("ayi", False), ("2", False),
    ("peut etre", None), ("", None),
])  # fmt: skip
def test_yes_and_no(reply: str, answer: bool | None) -> None:
    assert yes_no(reply) is answer if answer is None else yes_no(reply) == answer


def test_menu_leaves_the_booking() -> None:
    assert wants_to_stop("MENU") and wants_to_stop("annuler") and not wants_to_stop("samedi")
