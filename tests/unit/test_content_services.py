"""bot/content/services.py: only verified services are ever named, national ones first, in
her language, within 2 SMS segments; the data file says clearly where it is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.content import TOPIC_OF
from bot.content.services import (
    SERVICES_FILE,
    TOPICS,
    describe,
    load_services,
    services_for,
    services_line,
)
from bot.countries import PROGRAMME
from bot.gsm7 import encode
from bot.i18n import Translator

CHECKED = """
FR:
  - {id: fr_line, name: "Ligne Jeunes", city: null, offers: [sti_testing], free: true,
     phone: "0 800 00 00 00", address: null, hours: always, source: test, status: H,
     verified: true}
  - {id: fr_lyon, name: "Centre Rhône", city: Lyon, offers: [sti_testing, prep], free: true,
     phone: null, address: "1 rue Exemple", hours: {days: [mon, tue, wed, thu, fri],
     from: "09:00", to: "17:00"}, source: test, status: H, verified: true}
  - {id: fr_unchecked, name: "Pas vérifié", city: Paris, offers: [sti_testing], free: true,
     phone: "01 00 00 00 00", address: null, hours: null, source: to confirm, status: "?",
     verified: false}
PE: []
ML: []
"""


@pytest.fixture
def checked(tmp_path: Path) -> Path:
    path = tmp_path / "services.yml"
    path.write_text(CHECKED, encoding="utf-8")
    return path


def test_the_project_file_loads_and_every_topic_is_known() -> None:
    services = load_services()
    assert set(services) == set(PROGRAMME)
    assert {s.city for s in services["ML"]} >= {"Bamako"}
    assert {s.city for s in services["PE"]} >= {"Lima"}
    assert len({s.city for s in services["FR"]} - {None}) >= 2
    assert set(TOPIC_OF.values()) <= TOPICS


def test_the_project_file_shows_nothing_it_did_not_verify() -> None:
    """Every verified entry comes from FACTS.md (status H) and can be reached."""
    for services in load_services().values():
        for service in services:
            if service.verified:
                assert service.status == "H" and "FACTS.md" in service.source, service.id
                assert service.phone or service.address, service.id
            else:
                assert service.id not in {s.id for s in services_for(service.country, "youth")}


def test_only_verified_services_are_named_national_first(checked: Path) -> None:
    found = services_for("FR", "sti_testing", checked)
    assert [s.id for s in found] == ["fr_line", "fr_lyon"]
    assert services_for("PE", "sti_testing", checked) == []
    assert services_for(None, "sti_testing", checked) == []
    assert services_for("ZZ", "sti_testing", checked) == []


@pytest.mark.parametrize(
    ("language", "expected"),
    [("fr", "Centre Rhône (Lyon), 1 rue Exemple (gratuit, lun.-ven. 09:00-17:00)"),
     ("es", "Centre Rhône (Lyon), 1 rue Exemple (gratis, lun-vie 9:00-17:00)")],
)  # fmt: skip
def test_a_service_is_described_in_her_language(
    checked: Path, language: str, expected: str
) -> None:
    lyon = services_for("FR", "prep", checked)[0]
    assert describe(lyon, language) == expected


def test_a_line_open_day_and_night_says_so(checked: Path) -> None:
    line = services_for("FR", "sti_testing", checked)[0]
    assert describe(line, "fr") == "Ligne Jeunes, 0 800 00 00 00 (gratuit, 24 h/24)"
    assert describe(line, "bm") == "Ligne Jeunes, 0 800 00 00 00 (fu, tile ni su)"


@pytest.mark.parametrize("language", ["fr", "es", "bm"])
def test_the_services_message_stays_within_two_sms(checked: Path, language: str) -> None:
    services = services_for("FR", "sti_testing", checked) * 3  # more than fit
    line = services_line(services, language)
    assert line is not None
    assert encode(Translator(language)("health.services", services=line)).segments <= 2
    assert services_line([], language) is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [("FR:\n  - {id: x, name: X, offers: [tea], source: s, verified: false}\n", "offers are"),
     ("FR:\n  - {id: x, name: X, offers: [prep], source: s, verified: true}\n",
      "needs a phone or an address"),
     ("XX: []\n", "unknown countries"),
     ("FR:\n  - {id: x, name: X, offers: [prep], source: s, verified: false,\n"
      "     hours: {days: [lundi], from: '9:00', to: '17:00'}}\n", "hours.days"),
     ("FR:\n  - {id: x, name: X}\n", "missing")],
)  # fmt: skip
def test_a_wrong_data_file_is_named_with_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / SERVICES_FILE.name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=problem):
        load_services(path)
