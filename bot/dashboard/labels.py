"""The dashboard's labels: catalog keys of the ``dashboard`` domain, in fr and es.

Keys built from a value (a country, an intent, an outcome) are listed here literally, so
that ``make i18n-update`` extracts them and the catalog tests can check each is translated;
a value without a key (a new intent, a workshop's code) is shown as its own name.
"""

from __future__ import annotations

DOMAIN = "dashboard"
LANGUAGES = ("fr", "es")  # the staff's languages
UNKNOWN = "-"


def S_(key: str) -> str:
    """Marks a key of the dashboard's catalog (``make i18n-update`` extracts ``S_``)."""
    return key


GROUPS = {
    "ML": S_("dashboard.value.ML"), "PE": S_("dashboard.value.PE"),
    "FR": S_("dashboard.value.FR"), "fr": S_("dashboard.value.fr"),
    "es": S_("dashboard.value.es"), "bm": S_("dashboard.value.bm"),
    "sms": S_("dashboard.value.sms"), "telegram": S_("dashboard.value.telegram"),
    "local": S_("dashboard.value.local"), UNKNOWN: S_("dashboard.unknown"),
}  # fmt: skip
TOPIC_GROUPS = {
    "contraception": S_("dashboard.topic.contraception"),
    "pregnancy": S_("dashboard.topic.pregnancy"), "addiction": S_("dashboard.topic.addiction"),
    "more": S_("dashboard.topic.more"), "fallback": S_("dashboard.topic.fallback"),
    "other": S_("dashboard.topic.other"),
}  # fmt: skip
INTENTS = {
    "contraception": S_("dashboard.topic.contraception"),
    "pregnancy": S_("dashboard.topic.pregnancy"), "addiction": S_("dashboard.topic.addiction"),
    "more": S_("dashboard.intent.more"), "nlu_fallback": S_("dashboard.intent.nlu_fallback"),
    "out_of_scope": S_("dashboard.intent.out_of_scope"), "greet": S_("dashboard.intent.greet"),
    "goodbye": S_("dashboard.intent.goodbye"), "thank": S_("dashboard.intent.thank"),
    "help": S_("dashboard.intent.help"), "about": S_("dashboard.intent.about"),
    "request_counsellor": S_("dashboard.intent.request_counsellor"),
    "book_workshop": S_("dashboard.intent.book_workshop"),
    "cancel_booking": S_("dashboard.intent.cancel_booking"),
    "my_bookings": S_("dashboard.intent.my_bookings"), "media": S_("dashboard.intent.media"),
    "emergency": S_("dashboard.intent.emergency"),
    "safety_checkin": S_("dashboard.intent.safety_checkin"),
    "safety_checkin_safe": S_("dashboard.intent.safety_checkin_safe"),
    "choose_language": S_("dashboard.intent.choose_language"),
    "choose_option": S_("dashboard.intent.choose_option"),
}  # fmt: skip
CATEGORIES = {
    "overdose": S_("dashboard.category.overdose"), "obstetric": S_("dashboard.category.obstetric"),
    "suicide": S_("dashboard.category.suicide"),
    "sexual_violence": S_("dashboard.category.sexual_violence"),
    "violence": S_("dashboard.category.violence"), "general": S_("dashboard.category.general"),
    "possible": S_("dashboard.category.possible"),
}  # fmt: skip
LEVELS = {"clear": S_("dashboard.level.clear"), "possible": S_("dashboard.level.possible")}
OUTCOMES = {
    "resolved": S_("dashboard.outcome.resolved"), "referred": S_("dashboard.outcome.referred"),
    "booked": S_("dashboard.outcome.booked"), "no_answer": S_("dashboard.outcome.no_answer"),
    "timeout": S_("dashboard.outcome.timeout"), "unclaimed": S_("dashboard.outcome.unclaimed"),
    "opted_out": S_("dashboard.outcome.opted_out"), "erased": S_("dashboard.outcome.erased"),
    "open": S_("dashboard.outcome.open"),
}  # fmt: skip
ROLES = {"manager": S_("dashboard.role.manager"), "supervisor": S_("dashboard.role.supervisor")}
REASONS = {
    "asked": S_("dashboard.reason.asked"), "emergency": S_("dashboard.reason.emergency"),
    "not_understood": S_("dashboard.reason.not_understood"),
}  # fmt: skip
WORKSHOP_TOPICS = {
    "childbirth": S_("dashboard.workshop_topic.childbirth"),
    "breastfeeding": S_("dashboard.workshop_topic.breastfeeding"),
    "motherhood": S_("dashboard.workshop_topic.motherhood"),
    "sexuality": S_("dashboard.workshop_topic.sexuality"),
    "nutrition": S_("dashboard.workshop_topic.nutrition"),
    "addiction": S_("dashboard.workshop_topic.addiction"),
}  # fmt: skip


def group_key(value: str) -> str:
    return GROUPS.get(value, value)


def topic_group_key(group: str) -> str:
    return TOPIC_GROUPS[group]


def intent_key(intent: str) -> str:
    return INTENTS.get(intent, intent)


def category_key(category: str) -> str:
    return CATEGORIES.get(category, category)


def level_key(level: str) -> str:
    return LEVELS.get(level, level)


def outcome_key(outcome: str) -> str:
    return OUTCOMES.get(outcome, outcome)


def topic_key(topic: str) -> str:
    return WORKSHOP_TOPICS.get(topic, topic)


def reason_key(reason: str) -> str:
    return REASONS.get(reason, reason)
