"""Counsellors teach the risk check (issue 17): their commands as typed, what is kept of her
message (masked), and how a reviewed message goes into a commented data file."""

from __future__ import annotations

import pytest
import yaml

from bot.handoff.console import Command, parse_text_command, parse_topic_message
from bot.safety.promote import PromotionError, appended
from bot.safety.review import mask


@pytest.mark.parametrize("text", [
    "MISSED 12", "missed 12", "Missed #12.", "MANQUE 12", "manqué 12", "Manque #12 !", "RATE 12",
    "raté 12", "OMITIDO 12", "omitido #12", "FALTO 12", "faltó 12", "  missed   12  ",
])  # fmt: skip
def test_every_missed_verb_parses(text: str) -> None:
    assert parse_text_command(text) == Command("missed", 12, "")


@pytest.mark.parametrize("text", [
    "FALSEALARM 12", "falsealarm 12", "False alarm 12", "false-alarm #12", "FAUSSEALERTE 12",
    "fausse alerte 12", "Fausse_alerte 12.", "FALSAALARMA 12", "falsa alarma 12", "FALSE 12",
    "false #12",
])  # fmt: skip
def test_every_false_alarm_verb_parses(text: str) -> None:
    assert parse_text_command(text) == Command("false_alarm", 12, "")


@pytest.mark.parametrize("text", [
    "MISSED", "MISSED twelve", "MISSED 12 oops", "missed 12 because she said so",
    "MISED 12", "falsealarme 12", "fausse alerte", "Il a raté 12 rendez-vous", "rate 12 et 13",
])  # fmt: skip
def test_what_is_not_a_mark_in_its_exact_form(text: str) -> None:
    assert parse_text_command(text) is None


def test_the_older_commands_keep_their_form() -> None:
    assert parse_text_command("TAKE 12") == Command("claim", 12, "")
    assert parse_text_command("Take 2 tablets every 8 hours") is None
    assert parse_text_command("DONE 12 no answer") == Command("close", 12, "no_answer")
    assert parse_text_command("ASSIGN 12 lucia") == Command("assign", 12, "lucia")


def test_topic_marks_name_the_topic_or_the_request() -> None:
    assert parse_topic_message("/missed") == Command("missed", None, "")
    assert parse_topic_message("/MISSED@SanteBot") == Command("missed", None, "")
    assert parse_topic_message("/falsealarm") == Command("false_alarm", None, "")
    assert parse_topic_message("/false_alarm") == Command("false_alarm", None, "")
    assert parse_topic_message("/missed 12") == Command("missed", 12, "")
    assert parse_topic_message("/falsealarm #12") == Command("false_alarm", 12, "")
    assert parse_topic_message("/missed 12 she said it twice").verb == "help"
    assert parse_topic_message("/misssed").verb == "help"


@pytest.mark.parametrize(("text", "kept"), [
    # French
    ("appelle moi au 06 12 34 56 78 stp jsuis sur le pont",
     "appelle moi au [number] stp jsuis sur le pont"),
    ("mon mec ma pris mon tel, ecris a awa.d@gmail.com ou @awa_bko",
     "mon mec ma pris mon tel, ecris a [email] ou [handle]"),
    ("jsuis a 7 semaines jai mal a droite, une vingtaine de cachets, 30 min",
     "jsuis a 7 semaines jai mal a droite, une vingtaine de cachets, 30 min"),
    ("regarde https://snapchat.com/add/lina_93 et www.exemple.fr/x",
     "regarde [link] et [link]"),
    # Spanish
    ("llamame al +51 987 654 321, estoy en el puente", "llamame al [number], estoy en el puente"),
    ("mi ex subio mis fotos a instagram.com/sofi.lima y mi DNI 71234567",
     "mi ex subio mis fotos a [link] y mi DNI [number]"),
    ("tengo 30 semanas y me duele\nmucho la cabeza", "tengo 30 semanas y me duele mucho la cabeza"),
    # Bambara
    ("n ka nimɔrɔ ye 76 12 34 56, a bɛ n gosi", "n ka nimɔrɔ ye [number], a bɛ n gosi"),
    ("a ye n ka sɛbɛnw ta, wa.me/22376123456 kan", "a ye n ka sɛbɛnw ta, [link] kan"),
    ("muso kɔnɔma kalo 8, a kunkolo bɛ dimi", "muso kɔnɔma kalo 8, a kunkolo bɛ dimi"),
])  # fmt: skip
def test_mask_hides_what_could_name_or_reach_someone(text: str, kept: str) -> None:
    assert mask(text) == kept


def test_mask_keeps_short_numbers_and_dates() -> None:
    assert mask("le 12/03 a 14h30, code 1234") == "le 12/03 a 14h30, code 1234"
    assert mask("code postal 75011") == "code postal [number]"


SOURCE = """\
# A comment that must stay.
emergencies:
  suicide:
  - premier
  # a comment inside the list
  - deuxieme
  violence:
  - troisieme
lookalikes:
- quatrieme

# trailing comment
sequences:
  escalating:
  - - a
    - b
"""


def test_a_line_goes_at_the_end_of_its_list_and_nothing_else_moves() -> None:
    result = appended(SOURCE, ("emergencies", "suicide"), "[number] c'est: fini")
    lines = result.splitlines()
    assert lines[:6] == SOURCE.splitlines()[:6]
    assert lines[6] == "  - '[number] c''est: fini'"
    assert lines[7:] == SOURCE.splitlines()[6:]
    data = yaml.safe_load(result)
    assert data["emergencies"]["suicide"] == ["premier", "deuxieme", "[number] c'est: fini"]
    result = appended(SOURCE, ("lookalikes",), "je suis morte de rire")
    assert result.splitlines()[10] == "- je suis morte de rire"
    assert yaml.safe_load(result)["lookalikes"] == ["quatrieme", "je suis morte de rire"]
    assert "# trailing comment" in result


def test_a_list_that_is_not_there_is_refused() -> None:
    with pytest.raises(PromotionError):
        appended(SOURCE, ("emergencies", "overdose"), "x")
    with pytest.raises(PromotionError):
        appended("lookalikes: []\n", ("lookalikes",), "x")
