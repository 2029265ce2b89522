"""States × triggers, end to end (issue 12): whatever state her conversation is in, each
kind of message she may send gets the answer it should, over the real SMS webhook, Rasa and
the action server, with the real Twilio client talking to the stand-in.

States: the bot answers; queued for a person; with a counsellor; inside the booking form;
inside the country question of an emergency (her number tells no country). Triggers: an
emergency, a possible risk (issue 17: the check-in, or her counsellor warned), a request for
a person, an SMS keyword (HELP), a photo, an opt-out (STOP), "forget me" (EFFACER, then yes:
issue 15). The
languages rotate across the states. A crash mid-turn is ``tests/db/test_handoff_safety.py``.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Callable
from typing import Any

import pytest

from bot.channels.sandbox import Sandbox, post
from bot.handoff import messages as m
from bot.i18n import Translator
from bot.privacy import FORGET_ASK, FORGET_DONE, STAFF_ERASED
from bot.safety import numbers_line
from tests.support.conversation import worries
from tests.support.handoff import (
    LUCIA,
    SOFIA,
    conversation_of,
    db,
    folded,
    handoff_of,
    owner,
    sms,
    wait_for,
)

pytestmark = pytest.mark.stack

NADIA = "+22370000199"  # an SMS supervisor who speaks the three languages
_numbers = itertools.count(1)

# State -> (language, calling code of her phone: "+1555" tells no country).
STATES = {
    "bot": ("fr", "+2237640"),
    "queued": ("es", "+5190640"),
    "counsellor": ("bm", "+2237641"),
    "booking": ("fr", "+3370640"),
    "country_question": ("es", "+1555640"),
}
COUNTRY = {"+2237": "ML", "+5190": "PE", "+3370": "FR"}
GREET = {"fr": "bonjour", "es": "hola", "bm": "i ni ce"}
ASK = {"fr": "PARLER", "es": "HABLAR", "bm": "KUMA"}
EMERGENCY = {"fr": "je veux mourir", "es": "me quiero matar", "bm": "n b'a fe ka n yere faga"}
HELP = {"fr": "AIDE", "es": "AYUDA", "bm": "DEME"}
STOP = {"fr": "ARRET", "es": "BAJA", "bm": "DABILA"}
FORGET = {"fr": "EFFACER", "es": "Borrar", "bm": "Jɔsi"}
YES = {"fr": "oui", "es": "si", "bm": "awo"}
COUNSELLOR = {"fr": SOFIA, "es": LUCIA, "bm": NADIA}
CONSOLE_LANGUAGE = {SOFIA: "es", LUCIA: "es", NADIA: "fr"}  # their first language


class User:
    """One SMS user in one state."""

    def __init__(self, channels: Sandbox, state: str) -> None:
        self.channels, self.state = channels, state
        self.language, prefix = STATES[state]
        self.phone = f"{prefix}{next(_numbers):04d}"
        self.country = COUNTRY.get(self.phone[:5])
        self.t = Translator(self.language)
        self.handoff_id, self.conversation = 0, ""

    def inbox(self) -> list[str]:
        return self.channels.sms_to(self.phone)

    def says(self, text: str, media: str | None = None) -> int:
        """Send, and return how many SMS she had before (to read what came after)."""
        before = len(self.inbox())
        assert post(*self.channels.sms_request(self.phone, text, media))[0] == 200
        return before

    def waits_for(self, key: str, after: int, what: str, **values: Any) -> None:
        text = folded(self.t(key, **values))
        wait_for(lambda: any(t.startswith(text[:40]) for t in self.inbox()[after:]), what=what)

    def numbers(self, category: str = "suicide") -> str:
        return folded(numbers_line(category, self.language, self.country))

    def set_up(self) -> None:
        """Bring the conversation to its state."""
        self.waits_for("greet", self.says(GREET[self.language]), "the greeting")
        if self.state in ("queued", "counsellor"):
            self.says(ASK[self.language])
            self.handoff_id, self.conversation = wait_for(
                lambda: handoff_of(self.channels, self.phone)[0]
                and handoff_of(self.channels, self.phone), what="a handoff")  # fmt: skip
        if self.state == "counsellor":
            counsellor = COUNSELLOR[self.language]
            wait_for(lambda: any(f"TAKE {self.handoff_id}" in t
                                 for t in self.channels.sms_to(counsellor)))  # fmt: skip
            sms(self.channels, counsellor, f"TAKE {self.handoff_id}")
            wait_for(lambda: owner(self.channels, self.conversation)[0] == "counsellor")
        if self.state == "booking":
            self.waits_for("booking.list", self.says("ATELIER"), "the list of sessions")
        if self.state == "country_question":
            after = self.says(EMERGENCY[self.language])
            self.waits_for("emergency.ask_country", after, "the country question")

    def tear_down(self) -> None:
        """Hand back any handoff left open, so that the counsellors' queue stays short."""
        found, conversation = handoff_of(self.channels, self.phone)
        if found and owner(self.channels, conversation)[0] != "bot":
            sms(self.channels, NADIA, f"TAKE {found}")
            sms(self.channels, NADIA, f"DONE {found} resolved")
            wait_for(lambda: owner(self.channels, conversation)[0] == "bot", what="closed")

    def console(self, key: str, **values: Any) -> str:
        """A sentence as her counsellor's console says it (in its first language)."""
        return Translator(CONSOLE_LANGUAGE[COUNSELLOR[self.language]])(key, **values)

    def relayed(self, text: str) -> None:
        counsellor = COUNSELLOR[self.language]
        wait_for(lambda: f"#{self.handoff_id}: {text}" in self.channels.sms_to(counsellor),
                 what="relayed to her counsellor")  # fmt: skip


def an_emergency(user: User) -> None:
    after = user.says(EMERGENCY[user.language])
    if user.state == "country_question":  # nothing but the question, again
        user.waits_for("emergency.ask_country_again", after, "the question again")
        return
    user.waits_for("emergency.suicide", after, "the fixed reply")
    wait_for(lambda: user.numbers() in user.inbox()[after:], what="her numbers")
    if user.state == "counsellor":
        counsellor = COUNSELLOR[user.language]
        flag = folded(user.console(m.EMERGENCY_FLAG, id=user.handoff_id))
        wait_for(lambda: flag in user.channels.sms_to(counsellor), what="the warning")
        user.relayed(EMERGENCY[user.language])
        inbox, said = user.channels.sms_to(counsellor), EMERGENCY[user.language]
        assert inbox.index(flag) < inbox.index(f"#{user.handoff_id}: {said}")
    _, conversation = wait_for(lambda: handoff_of(user.channels, user.phone)[0] and
                               handoff_of(user.channels, user.phone))  # fmt: skip
    wait_for(lambda: db(user.channels, "SELECT priority FROM conversation_owners WHERE "
                        "conversation_id = ?", conversation) == [(1,)], what="first in line")


def a_possible_risk(user: User) -> None:
    said = worries(user.channels.stack)[user.language]  # `possible` for this model
    after = user.says(said)
    if user.state == "country_question":  # the emergency's question stays the question
        user.waits_for("emergency.ask_country_again", after, "the question again")
        return
    if user.state == "counsellor":  # her counsellor is warned and reads her; the bot is silent
        counsellor = COUNSELLOR[user.language]
        flag = folded(user.console(m.POSSIBLE_FLAG, id=user.handoff_id))
        wait_for(lambda: flag in user.channels.sms_to(counsellor), what="the warning")
        user.relayed(said)
        assert not any(t.startswith(folded(user.t("safety.checkin"))[:30])
                       for t in user.inbox()[after:])  # fmt: skip
        return
    user.waits_for("safety.checkin", after, "are you safe right now?")
    if user.state == "queued":
        wait_for(lambda: db(user.channels, "SELECT priority FROM conversation_owners WHERE "
                            "conversation_id = ?", user.conversation) == [(1,)],
                 what="first in line")  # fmt: skip
    if user.state == "booking":  # the booking is left; "2" is then her answer to the check-in
        after = user.says("2")
        user.waits_for("emergency.general", after, "the emergency answer")


def a_request_for_a_person(user: User) -> None:
    before = handoff_of(user.channels, user.phone)[0]
    after = user.says(ASK[user.language])
    if user.state == "country_question":
        user.waits_for("emergency.ask_country_again", after, "the question again")
    elif user.state == "counsellor":
        user.relayed(ASK[user.language])
    elif user.state == "queued":
        wait_for(lambda: db(user.channels, "SELECT COUNT(*) FROM handoff_messages WHERE "
                            "handoff_id = ?", user.handoff_id) == [(1,)], what="kept for her")
        assert handoff_of(user.channels, user.phone)[0] == before  # no second request
    else:  # the bot, or inside a form: a person is asked for
        user.waits_for(m.QUEUED, after, "her place in the line", position=1)
        assert handoff_of(user.channels, user.phone)[0] > before


def an_sms_keyword(user: User) -> None:
    after = user.says(HELP[user.language])
    user.waits_for("channel.how_to_stop", after, "how to stop")
    if user.state == "counsellor":
        user.relayed(HELP[user.language])
    elif user.state == "bot":
        user.waits_for("help", after, "the help and the menu")
    elif user.state == "booking":
        user.waits_for("booking.invalid", after, "which session, again", count=2)
    elif user.state == "country_question":
        user.waits_for("emergency.ask_country_again", after, "the question again")


def a_photo(user: User) -> None:
    after = user.says("", media="image/jpeg")
    if user.state == "country_question":
        user.waits_for("emergency.ask_country_again", after, "the question again")
    elif user.state in ("queued", "counsellor"):
        user.waits_for(m.MEDIA_NOT_RELAYED, after, "write it in words")
        if user.state == "counsellor":
            user.relayed("[media]")
    else:
        user.waits_for("media", after, "I can only read text")
    if user.state == "booking":  # the booking goes on: her choice is still read
        user.waits_for("booking.list", after, "the list again")


def an_opt_out(user: User) -> None:
    after = user.says(STOP[user.language])
    user.waits_for("channel.opted_out", after, "the one confirmation")
    if user.handoff_id:
        wait_for(lambda: db(user.channels, "SELECT outcome FROM handoffs WHERE id = ?",
                            user.handoff_id) == [("opted_out",)], what="the handoff ends")
    if user.state == "counsellor":
        left = folded(user.console(m.USER_LEFT, id=user.handoff_id))
        wait_for(lambda: left in user.channels.sms_to(COUNSELLOR[user.language]))
    told = len(user.inbox())
    user.says(EMERGENCY[user.language])  # nothing at all after STOP, even this
    wait_for(lambda: db(user.channels, "SELECT status FROM inbound_messages WHERE "
                        "conversation_id = ? ORDER BY id DESC LIMIT 1",
                        conversation_of(user.phone)) == [("opted_out",)],
             what="kept, unanswered")  # fmt: skip
    assert len(user.inbox()) == told


def forget_me(user: User) -> None:
    conversation = conversation_of(user.phone)
    user.waits_for(FORGET_ASK, user.says(FORGET[user.language]), "what will be erased")
    if user.state == "counsellor":  # the word is hers: it never reaches the counsellor
        relayed = f"#{user.handoff_id}: {FORGET[user.language]}"
        assert relayed not in user.channels.sms_to(COUNSELLOR[user.language])
    user.waits_for(FORGET_DONE, user.says(YES[user.language]), "the last confirmation")
    wait_for(lambda: db(user.channels, "SELECT COUNT(*) FROM contacts WHERE id = ?",
                        conversation) == [(0,)], what="her contact erased")  # fmt: skip
    tracker = user.channels.stack.settings.tracker_db
    with sqlite3.connect(tracker) as connection:
        assert list(connection.execute("SELECT COUNT(*) FROM events WHERE sender_id = ?",
                                       (conversation,))) == [(0,)]  # fmt: skip
    if user.handoff_id:
        assert db(user.channels, "SELECT outcome FROM handoffs WHERE id = ?",
                  user.handoff_id) == [("erased",)]  # fmt: skip
    if user.state == "counsellor":
        told = folded(user.console(STAFF_ERASED, id=user.handoff_id))
        wait_for(lambda: told in user.channels.sms_to(COUNSELLOR[user.language]),
                 what="her counsellor is told")  # fmt: skip


TRIGGERS: dict[str, Callable[[User], None]] = {
    "emergency": an_emergency, "possible": a_possible_risk,
    "request": a_request_for_a_person, "keyword": an_sms_keyword,
    "media": a_photo, "opt_out": an_opt_out, "forget": forget_me,
}  # fmt: skip


@pytest.mark.parametrize("trigger", list(TRIGGERS))
@pytest.mark.parametrize("state", list(STATES))
def test_each_state_answers_each_trigger(
    channels: Sandbox, request: pytest.FixtureRequest, state: str, trigger: str
) -> None:
    if state == "booking":
        request.getfixturevalue("schedule")  # sessions to book, cancelled afterwards
    user = User(channels, state)
    user.set_up()
    try:
        TRIGGERS[trigger](user)
    finally:
        user.tear_down()


@pytest.mark.parametrize("language", ["fr", "es", "bm"])
def test_the_main_menu_entry_asks_then_forgets_her(channels: Sandbox, language: str) -> None:
    """The menu's fifth entry, answered with a digit, then a yes in words."""
    user = User(channels, "bot")
    user.language, user.t = language, Translator(language)
    user.phone = {"fr": "+3370641", "es": "+5190641", "bm": "+2237642"}[language] + \
        f"{next(_numbers):04d}"
    user.set_up()
    user.waits_for(FORGET_ASK, user.says("5"), "what will be erased")
    user.waits_for(FORGET_DONE, user.says(YES[language]), "the last confirmation")
    wait_for(lambda: db(channels, "SELECT COUNT(*) FROM contacts WHERE id = ?",
                        conversation_of(user.phone)) == [(0,)], what="her contact erased")
