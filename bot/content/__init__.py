"""Health content: which answers depend on her country, and what her country adds.

The answers are catalog entries (``locales/``; key = the sub-topic, ``contraception.prep``),
chosen by Rasa's response selector (``actions/health.py``). Their text holds only what is
true everywhere. Where to go, what is free and what the law says differ between Mali, Peru
and France, so after such an answer the assistant sends, for her country:

1. ``local.<key>.<CC>`` when the catalog has it (the law, the kind of service, what is free);
2. the verified services of ``services.yml`` for the answer's topic (:data:`TOPIC_OF`), or
   ``health.services_none``: never an unchecked address, never silence.

Her country comes from her phone's calling code or an earlier answer; otherwise she is asked
once. ``python -m bot content export`` lists every answer for clinical review.
"""

from __future__ import annotations

from collections.abc import Collection

from bot.countries import PROGRAMME

LOCAL_PREFIX = "local."
LOCAL_RESPONSE_PREFIX = "utter_local_"  # domain/local.yml; sent by name, never by a rule

# Answers (catalog keys) whose where/free part is a list of services, and the topic they need.
TOPIC_OF: dict[str, str] = {
    "contraception.where_to_get": "contraception",
    "contraception.condom_free": "condoms",
    "contraception.adolescents": "youth",
    "contraception.emergency.more": "contraception",
    "contraception.sti_hiv": "sti_testing",
    "contraception.sti_testing": "sti_testing",
    "contraception.hiv_testing": "hiv_testing",
    "contraception.prep": "prep",
    "contraception.pep": "pep",
    "contraception.violence_help": "violence",
    "pregnancy.abortion_law": "abortion",
    "pregnancy.abortion_care": "abortion",
    "pregnancy.antenatal": "antenatal",
    "pregnancy.postpartum_mood": "mood",
    "addiction.quit.more": "addiction",
    "addiction.opioids": "addiction",
    "addiction.injecting": "addiction",
}


def answer_key(response: str, more: bool = False) -> str:
    """The catalog key of a health response: ``utter_contraception/prep`` ->
    ``contraception.prep`` (``.more`` for its second part)."""
    key = response.removeprefix("utter_").replace("/", ".")
    return f"{key}.more" if more else key


def local_key(key: str, country: str) -> str:
    """``local.contraception.prep.FR``: what France adds to that answer."""
    return f"{LOCAL_PREFIX}{key}.{country}"


def local_response(key: str, country: str) -> str:
    """The domain response of :func:`local_key` (``domain/local.yml``)."""
    return LOCAL_RESPONSE_PREFIX + f"{key}_{country}".replace(".", "_")


def needs_country(key: str, responses: Collection[str]) -> bool:
    """Whether the answer ``key`` has a part that depends on her country: a service topic,
    or a local text for at least one country among the domain's ``responses``."""
    return key in TOPIC_OF or any(local_response(key, c) in responses for c in PROGRAMME)
