"""bot/content: answers true in every country, each country's part where it belongs, and the
domain's local responses in step with the catalogs."""

from __future__ import annotations

import re

import pytest
import yaml

from bot import LANGUAGES, PROJECT_ROOT
from bot.content import LOCAL_PREFIX, TOPIC_OF, answer_key, local_key, local_response
from bot.countries import PROGRAMME
from bot.i18n.catalogs import load_po

HEALTH = ("contraception.", "pregnancy.", "addiction.")
# Names of a country, or of a service that exists in one country only: they belong in the
# country's part (local.<key>.<CC>, bot/content/services.yml), never in a general answer.
COUNTRY_WORDS = re.compile(
    r"\b(France|Francia|Faransi|Mali|Malí|Pérou|Perú|Peru|Bamako|Lima|CSCom|Sɛsikɔmu|CeGIDD|"
    r"CSAPA|CAARUD|PMI|MINSA|SIS|Info Service|Línea 100|3919|119)\b"
)
LOCAL_DOMAIN = PROJECT_ROOT / "domain" / "local.yml"


def health_answers(language: str) -> dict[str, str]:
    return {str(m.id): str(m.string) for m in load_po(language)
            if m.id and str(m.id).startswith(HEALTH)}  # fmt: skip


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_general_answer_names_no_country_and_no_national_service(language: str) -> None:
    """A girl in Lima must not read "free at the CeGIDD" (issue 16): the general text says
    what is true everywhere; her country's part follows it."""
    found = {key: COUNTRY_WORDS.findall(text) for key, text in health_answers(language).items()}
    assert {key: words for key, words in found.items() if words} == {}


def test_every_local_text_completes_an_answer_and_has_its_response() -> None:
    """local.<answer>.<CC>: the answer exists, CC is a programme country, the domain sends it
    under the name actions/health.py asks for, and nothing in the domain lacks its text."""
    answers = set(health_answers("fr"))
    keys = {str(m.id) for m in load_po("fr") if m.id and str(m.id).startswith(LOCAL_PREFIX)}
    assert keys, "no country texts"
    domain = yaml.safe_load(LOCAL_DOMAIN.read_text(encoding="utf-8"))["responses"]
    expected = {}
    for key in keys:
        answer, country = key.removeprefix(LOCAL_PREFIX).rsplit(".", 1)
        assert answer in answers and country in PROGRAMME, key
        assert local_key(answer, country) == key
        expected[local_response(answer, country)] = [{"text": key}]
    assert domain == expected


def test_each_countrys_law_on_abortion_is_said() -> None:
    keys = {str(m.id) for m in load_po("fr")}
    for country in PROGRAMME:
        assert local_key("pregnancy.abortion_law", country) in keys


def test_every_where_or_free_answer_is_an_answer() -> None:
    answers = set(health_answers("fr"))
    assert set(TOPIC_OF) <= answers
    assert answer_key("utter_contraception/prep") == "contraception.prep"
    assert answer_key("utter_addiction/quit", more=True) == "addiction.quit.more"


def test_at_least_twenty_new_sub_topics_in_three_languages() -> None:
    """Issue 16's new sub-topics: each answered in fr, es and bm."""
    new = {"sti_symptoms", "sti_testing", "hiv_testing", "prep", "pep", "withdrawal",
           "fertility_awareness", "ring", "patch", "boys", "periods", "puberty", "consent",
           "relationships", "transactional_sex", "violence_help", "abortion_law",
           "abortion_care", "miscarriage", "postpartum_danger", "newborn_danger",
           "postpartum_mood", "opioids", "crack", "injecting", "vaping", "hookah"}  # fmt: skip
    for language in LANGUAGES:
        names = {key.split(".")[1] for key in health_answers(language)}
        assert new <= names, (language, new - names)
