"""The counsellor handoff end to end, over HTTP: the real stack (Rasa, actions, our channels)
with the Twilio and Telegram APIs as local stand-ins driven by the real client libraries.

An SMS user is handed to a Telegram counsellor (staff group topic) and back; a Telegram user
to an SMS counsellor and back; then 30 handoffs at once; then a restart mid-handoff.
The counsellors are the sandbox's (``bot/handoff/counsellors.sandbox.yml``, always on duty).
"""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot import PROJECT_ROOT
from bot.channels.sandbox import Sandbox, post
from bot.handoff import messages as m
from bot.i18n import Translator
from tests.support.env import STAFF_CHAT
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

AWA, MOUSSA = 500001, 500002  # Telegram counsellors (user ids)
_updates = itertools.count(7_000_000)
_numbers = itertools.count(1)


def telegram(channels: Sandbox, chat: int, text: str) -> None:
    assert post(*channels.telegram_request(chat, next(_updates), text))[0] in (200, 204)


def in_topic(channels: Sandbox, counsellor: int, thread: int, text: str) -> None:
    request = channels.staff_request(counsellor, next(_updates), STAFF_CHAT, thread, text)
    assert post(*request)[0] in (200, 204)


def topic_posts(channels: Sandbox, thread: int) -> list[str]:
    return [s["text"] for s in channels.telegram.sent
            if s["chat_id"] == STAFF_CHAT and s["message_thread_id"] == thread]  # fmt: skip


def topic_lines(channels: Sandbox, thread: int) -> list[str]:
    """The topic's posts line by line (posts waiting for the group's pace go out together)."""
    return [line for post in topic_posts(channels, thread) for line in post.split("\n")]


def to_chat(channels: Sandbox, chat: int) -> list[str]:
    return [s["text"] for s in channels.telegram.sent if s["chat_id"] == chat]


def bot_turn_events(channels: Sandbox, conversation_id: str) -> list[str]:
    """The bot's own answers (responses Rasa chose) in the stored conversation."""
    tracker = channels.stack.tracker(conversation_id)
    return [e["metadata"].get("utter_action") for e in tracker["events"]
            if e["event"] == "bot" and not e["metadata"].get("handoff")]  # fmt: skip


def test_sms_user_to_a_telegram_counsellor_and_back(channels: Sandbox) -> None:
    fr = Translator("fr")
    phone = f"+2237600{next(_numbers):04d}"
    sms(channels, phone, "bonjour")
    wait_for(lambda: channels.sms_to(phone), what="the greeting")
    sms(channels, phone, "je veux parler a quelqu un svp")
    handoff_id, conversation = wait_for(lambda: handoff_of(channels, phone)[0] and
                                        handoff_of(channels, phone), what="a handoff")
    queued = folded(fr(m.QUEUED, position="\x00").split("\x00")[0])  # up to the position
    wait_for(lambda: any(t.startswith(queued) for t in channels.sms_to(phone)),
             what="the queued notice")  # fmt: skip
    # The staff group gets a topic, titled with the short id, language and channel.
    topic = wait_for(lambda: next((t for t in channels.telegram.topics
                                   if t["name"].startswith(f"#{handoff_id} FR sms")), None),
                     what="the topic")  # fmt: skip
    thread = topic["message_thread_id"]
    intro = wait_for(lambda: topic_posts(channels, thread), what="the topic intro")[0]
    assert "parler a quelqu un" in intro and phone not in intro and conversation not in intro
    # A French SMS counsellor on duty is told by SMS.
    assert wait_for(lambda: [t for t in channels.sms_to(SOFIA) if f"TAKE {handoff_id}" in t])

    sms(channels, phone, "vous etes la ?")  # before the claim: kept, shown to counsellors
    wait_for(lambda: f"#{handoff_id}: vous etes la ?" in topic_lines(channels, thread))
    in_topic(channels, AWA, thread, "/claim")
    wait_for(lambda: folded(fr(m.JOINED)) in channels.sms_to(phone), what="joined notice")
    assert owner(channels, conversation) == ("counsellor", "awa")
    claimed = fr(m.CLAIMED, id=handoff_id, name="Awa")
    wait_for(lambda: claimed in topic_lines(channels, thread), what="the claim in the topic")
    title = next(t["name"] for t in channels.telegram.topics if t["message_thread_id"] == thread)
    assert title.endswith(fr(m.STATE["counsellor"]))
    before = len(bot_turn_events(channels, conversation))

    sms(channels, phone, "j ai peur de rentrer chez moi")
    wait_for(lambda: f"#{handoff_id}: j ai peur de rentrer chez moi" in topic_lines(channels,
                                                                                   thread))
    in_topic(channels, AWA, thread, "Je suis la. Tu es en securite maintenant ?")
    wait_for(lambda: "Je suis la. Tu es en securite maintenant ?" in channels.sms_to(phone))
    sms(channels, phone, "bonjour")  # a greeting to the counsellor is not the bot's business
    wait_for(lambda: f"#{handoff_id}: bonjour" in topic_lines(channels, thread))
    assert len(bot_turn_events(channels, conversation)) == before  # the bot said nothing

    # Telegram refuses the staff group for a while: her message waits, she is not asked to
    # write it again, and the server's worker relays it once Telegram is back.
    channels.telegram.block(STAFF_CHAT)
    told = len(channels.sms_to(phone))
    sms(channels, phone, "tu es toujours la ?")
    last_status = ("SELECT status FROM inbound_messages WHERE conversation_id = ? "
                   "ORDER BY id DESC LIMIT 1")  # fmt: skip
    wait_for(lambda: db(channels, last_status, conversation_of(phone)) == [("relay_pending",)],
             what="pending")  # fmt: skip
    channels.telegram.unblock(STAFF_CHAT)
    wait_for(lambda: f"#{handoff_id}: tu es toujours la ?" in topic_lines(channels, thread),
             timeout=60, what="the relay retried")  # fmt: skip
    assert len(channels.sms_to(phone)) == told  # no apology, nothing else
    assert topic_lines(channels, thread).count(f"#{handoff_id}: tu es toujours la ?") == 1

    in_topic(channels, AWA, thread, "/close resolved")
    wait_for(lambda: folded(fr(m.BACK_TO_BOT)) in channels.sms_to(phone), what="hand-back notice")
    assert owner(channels, conversation) == ("bot", None)
    closed = wait_for(lambda: next(t for t in channels.telegram.topics
                                   if t["message_thread_id"] == thread)["closed"])  # fmt: skip
    assert closed
    # Back with the bot: an ordinary turn, in French.
    sent = len(channels.sms_to(phone))
    sms(channels, phone, "c est quoi un implant")
    wait_for(lambda: len(bot_turn_events(channels, conversation)) > before, what="a bot answer")
    wait_for(lambda: len(channels.sms_to(phone)) > sent)
    history = db(channels, "SELECT direction, text FROM handoff_messages WHERE handoff_id = ? "
                           "ORDER BY id", handoff_id)  # fmt: skip
    assert history == [("user", "vous etes la ?"), ("user", "j ai peur de rentrer chez moi"),
                       ("counsellor", "Je suis la. Tu es en securite maintenant ?"),
                       ("user", "bonjour"), ("user", "tu es toujours la ?")]  # fmt: skip
    changes = db(channels, "SELECT from_state, to_state, actor, why FROM owner_changes "
                           "WHERE conversation_id = ? ORDER BY id", conversation)  # fmt: skip
    assert changes == [("bot", "queued", "user", "asked"),
                       ("queued", "counsellor", "counsellor:awa", None),
                       ("counsellor", "bot", "counsellor:awa", "resolved")]  # fmt: skip


def test_telegram_user_to_an_sms_counsellor_and_back(channels: Sandbox) -> None:
    es = Translator("es")
    chat = 880000 + next(_numbers)
    telegram(channels, chat, "hola")
    wait_for(lambda: to_chat(channels, chat), what="the greeting")
    telegram(channels, chat, "quiero hablar con una persona porfa")
    handoff_id, conversation = wait_for(lambda: handoff_of(channels, str(chat))[0] and
                                        handoff_of(channels, str(chat)))  # fmt: skip
    notice = wait_for(lambda: [t for t in channels.sms_to(LUCIA) if f"TAKE {handoff_id}" in t],
                      what="the SMS notification")  # fmt: skip
    assert str(chat) not in notice[0]
    sms(channels, LUCIA, f"TAKE {handoff_id}")
    wait_for(lambda: es(m.JOINED) in to_chat(channels, chat), what="joined notice")
    wait_for(lambda: any(folded(es(m.CLAIMED, id=handoff_id, name="Lucia"))[:12] in t
                         for t in channels.sms_to(LUCIA)))  # fmt: skip
    assert owner(channels, conversation) == ("counsellor", "lucia")
    # Another counsellor cannot write to her.
    sms(channels, SOFIA, f"#{handoff_id} hola soy otra")
    wait_for(lambda: any(f"#{handoff_id}" in t and "Lucia" in t for t in channels.sms_to(SOFIA)))

    seen = len(to_chat(channels, chat))
    telegram(channels, chat, "tengo miedo, mi pareja me pega")
    # The safety check answers her with a person too: the counsellor is warned first, the
    # user gets the fixed reply and, Telegram not telling her country, the question.
    wait_for(lambda: f"#{handoff_id}: tengo miedo, mi pareja me pega" in channels.sms_to(LUCIA))
    lucia = channels.sms_to(LUCIA)
    flag = lucia.index(folded(es(m.EMERGENCY_FLAG, id=handoff_id)))
    assert flag < lucia.index(f"#{handoff_id}: tengo miedo, mi pareja me pega")
    assert to_chat(channels, chat)[seen:] == [es("emergency.violence"),
                                              es("emergency.ask_country")]  # fmt: skip
    telegram(channels, chat, "vivo en Lima")
    wait_for(lambda: safety_numbers("violence", "es", "PE") in to_chat(channels, chat))
    wait_for(lambda: f"#{handoff_id}: vivo en Lima" in channels.sms_to(LUCIA))
    sms(channels, LUCIA, f"#{handoff_id} Te escucho. Estas en un lugar seguro ahora?")
    wait_for(lambda: "Te escucho. Estas en un lugar seguro ahora?" in to_chat(channels, chat))
    sms(channels, LUCIA, f"DONE {handoff_id} referred")
    wait_for(lambda: es(m.FOLLOWUP["referred"]) in to_chat(channels, chat), what="follow-up")
    received = to_chat(channels, chat)
    assert received.index(es(m.BACK_TO_BOT)) < received.index(es(m.FOLLOWUP["referred"]))
    assert owner(channels, conversation) == ("bot", None)
    wait_for(lambda: any(folded(es(m.CLOSED, id=handoff_id, outcome="referred")) == t
                         for t in channels.sms_to(LUCIA)))  # fmt: skip
    # The assistant answers normally again, in Spanish.
    count = len(to_chat(channels, chat))
    telegram(channels, chat, "hola")
    wait_for(lambda: len(to_chat(channels, chat)) > count, what="the bot's answer")
    assert to_chat(channels, chat)[count].startswith(es("greet").split("{")[0][:20])


def test_thirty_handoffs_four_counsellors_nothing_lost_duplicated_or_misrouted(
    channels: Sandbox,
) -> None:
    """30 users (SMS and Telegram, fr and es) ask at once; 4 counsellors (2 Telegram, 2 SMS)
    take them; 20 messages each way per conversation, interleaved across conversations."""
    rng = random.Random(5)
    users = []
    for i in range(30):
        on_sms, language = i % 2 == 0, "fr" if i % 3 else "es"
        address = f"+2237700{next(_numbers):04d}" if on_sms else str(990000 + next(_numbers))
        users.append({"i": i, "sms": on_sms, "address": address, "language": language})
    ask = {"fr": "je veux parler a une personne", "es": "quiero hablar con una persona"}

    def say(user: dict[str, Any], text: str) -> None:
        if user["sms"]:
            sms(channels, user["address"], text)
        else:
            telegram(channels, int(user["address"]), text)

    def received(user: dict[str, Any]) -> list[str]:
        if user["sms"]:
            return channels.sms_to(user["address"])
        return to_chat(channels, int(user["address"]))

    first = db(channels, "SELECT COALESCE(MAX(id), 0) FROM handoffs")[0][0]
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda u: say(u, ask[u["language"]]), users))
    for user in users:
        user["handoff"], user["conversation"] = wait_for(
            lambda u=user: handoff_of(channels, u["address"], first)[0]
            and handoff_of(channels, u["address"], first), timeout=120, what="30 handoffs")
    # Counsellors by language: awa and moussa (Telegram), lucia and sofia (SMS).
    for user in users:
        if user["language"] == "fr":
            user["counsellor"] = rng.choice(["awa", "moussa", "sofia"])
        else:
            user["counsellor"] = rng.choice(["moussa", "lucia", "sofia"])
    tg_ids = {"awa": AWA, "moussa": MOUSSA}
    phones = {"lucia": LUCIA, "sofia": SOFIA}

    def thread_of(user: dict[str, Any]) -> int:
        return wait_for(lambda: db(channels, "SELECT topic_id FROM handoffs WHERE id = ?",
                                   user["handoff"])[0][0], what="topic")  # fmt: skip

    def counsellor_says(user: dict[str, Any], text: str) -> None:
        name = user["counsellor"]
        if name in tg_ids:
            in_topic(channels, tg_ids[name], thread_of(user), text)
        else:
            number = user["handoff"]
            command = f"TAKE {number}" if text == "/claim" else f"#{number} {text}"
            sms(channels, phones[name], command)

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda u: counsellor_says(u, "/claim"), users))
    for user in users:
        wait_for(lambda u=user: owner(channels, u["conversation"]) == ("counsellor",
                                                                       u["counsellor"]),
                 timeout=60, what="claims")  # fmt: skip
    bot_before = {u["i"]: len(bot_turn_events(channels, u["conversation"])) for u in users}

    def converse(user: dict[str, Any]) -> None:
        """One conversation: user and counsellor alternate, each side in order."""
        for n in range(20):
            say(user, f"u{user['i']}-{n} ca va")
            counsellor_says(user, f"c{user['i']}-{n} je t ecoute")
            time.sleep(rng.random() * 0.05)

    with ThreadPoolExecutor(30) as pool:
        list(pool.map(converse, users))

    def counsellor_inbox(user: dict[str, Any]) -> list[str]:
        """Her lines as her counsellor reads them (what waited for the relay's budget goes
        out together, one line each)."""
        name = user["counsellor"]
        if name in tg_ids:
            texts = topic_lines(channels, thread_of(user))
        else:
            texts = [line for t in channels.sms_to(phones[name]) for line in t.split("\n")]
        return [t for t in texts if t.startswith(f"#{user['handoff']}: u")]

    for user in users:
        expected_user = [f"c{user['i']}-{n} je t ecoute" for n in range(20)]
        expected_counsellor = [f"#{user['handoff']}: u{user['i']}-{n} ca va" for n in range(20)]
        wait_for(lambda u=user, e=expected_user: [t for t in received(u) if t.startswith("c")]
                 == e, timeout=120, what=f"user {user['i']} gets her 20, in order")  # fmt: skip
        wait_for(lambda u=user, e=expected_counsellor: counsellor_inbox(u) == e, timeout=120,
                 what=f"counsellor of {user['i']} gets 20, in order")  # fmt: skip
    for user in users:
        # Nothing misrouted: no user sees another conversation's counsellor text.
        others = [t for t in received(user) if t.startswith("c") and
                  not t.startswith(f"c{user['i']}-")]  # fmt: skip
        assert others == []
        # The bot did not answer while a person owned the conversation.
        assert len(bot_turn_events(channels, user["conversation"])) == bot_before[user["i"]]
        stored = db(channels, "SELECT COUNT(*) FROM handoff_messages WHERE handoff_id = ?",
                    user["handoff"])[0][0]  # fmt: skip
        assert stored == 40
    # Hand everything back; each user hears it once.
    with ThreadPoolExecutor(10) as pool:
        list(pool.map(lambda u: counsellor_says(u, "/close resolved") if u["counsellor"] in
                      tg_ids else sms(channels, phones[u["counsellor"]],
                                      f"DONE {u['handoff']} resolved"), users))  # fmt: skip
    for user in users:
        back = Translator(user["language"])(m.BACK_TO_BOT)
        back = folded(back) if user["sms"] else back
        wait_for(lambda u=user, b=back: received(u).count(b) == 1, timeout=60, what="hand-back")
        assert owner(channels, user["conversation"]) == ("bot", None)


def test_a_crash_mid_handoff_loses_nothing_and_changes_no_owner(channels: Sandbox) -> None:
    phone = f"+2237800{next(_numbers):04d}"
    sms(channels, phone, "je veux parler a une personne")
    handoff_id, conversation = wait_for(lambda: handoff_of(channels, phone)[0] and
                                        handoff_of(channels, phone))  # fmt: skip
    wait_for(lambda: [t for t in channels.sms_to(SOFIA) if f"TAKE {handoff_id}" in t])
    sms(channels, SOFIA, f"TAKE {handoff_id}")
    wait_for(lambda: owner(channels, conversation) == ("counsellor", "sofia"))
    sms(channels, phone, "avant le redemarrage")
    wait_for(lambda: f"#{handoff_id}: avant le redemarrage" in channels.sms_to(SOFIA))

    channels.stack.kill()  # a crash, not a clean shutdown
    channels.stack.start()

    assert owner(channels, conversation) == ("counsellor", "sofia")
    sms(channels, phone, "apres le redemarrage")
    wait_for(lambda: f"#{handoff_id}: apres le redemarrage" in channels.sms_to(SOFIA))
    sms(channels, SOFIA, f"#{handoff_id} toujours la")
    wait_for(lambda: "toujours la" in channels.sms_to(phone))
    assert channels.sms_to(SOFIA).count(f"#{handoff_id}: avant le redemarrage") == 1
    sms(channels, SOFIA, f"DONE {handoff_id} resolved")
    wait_for(lambda: owner(channels, conversation) == ("bot", None))


def test_the_local_console_plays_the_counsellor_of_the_local_run(channels: Sandbox) -> None:
    """`make run` + `make counsellor`: the terminal user and the local counsellor, through
    the local channel, with no account."""
    bm = Translator("bm")
    stack, user = channels.stack, f"terminal-{next(_numbers)}"

    def texts(sender: str) -> list[str]:
        return [msg["text"] for msg in stack.messages(sender)]

    seen = len(texts("console"))
    stack.say(user, "i ni ce")
    wait_for(lambda: texts(user), what="the greeting")
    stack.say(user, "n b'a fe ka kuma ni mogo ye")
    notice = wait_for(lambda: [t for t in texts("console")[seen:] if "TAKE" in t],
                      what="the console notification")[0]  # fmt: skip
    handoff_id = int(notice.split("TAKE")[1].split()[0])
    stack.say("console", f"TAKE {handoff_id}")
    wait_for(lambda: bm(m.JOINED) in texts(user), what="joined")
    stack.say(user, "n ka kan ka taa dogotoroso la wa?")
    wait_for(lambda: f"#{handoff_id}: n ka kan ka taa dogotoroso la wa?" in texts("console"))
    stack.say("console", f"#{handoff_id} Awo, i ka taa CSCom la.")
    wait_for(lambda: "Awo, i ka taa CSCom la." in texts(user))
    stack.say("console", f"DONE {handoff_id} referred")
    wait_for(lambda: bm(m.FOLLOWUP["referred"]) in texts(user), what="hand-back")


def close_by_sms(channels: Sandbox, counsellor: str, handoff_id: int, conversation: str) -> None:
    sms(channels, counsellor, f"TAKE {handoff_id}")
    sms(channels, counsellor, f"DONE {handoff_id} resolved")
    wait_for(lambda: owner(channels, conversation) == ("bot", None), what="closed")


def test_an_emergency_gets_the_numbers_first_then_a_priority_handoff(channels: Sandbox) -> None:
    es = Translator("es")
    phone = f"+5190700{next(_numbers):04d}"  # Peru: the numbers are known at once
    sms(channels, phone, "ya no aguanto, me quiero matar")
    handoff_id, conversation = wait_for(lambda: handoff_of(channels, phone)[0] and
                                        handoff_of(channels, phone), what="a handoff")
    queued = folded(es(m.QUEUED, position="\x00").split("\x00")[0])
    told = wait_for(lambda: [t for t in channels.sms_to(phone)] if any(
        t.startswith(queued) for t in channels.sms_to(phone)) else None, what="queued notice")
    first = folded(es("emergency.suicide"))[:40]
    numbers = folded(es("emergency.numbers", numbers="\x00").split("\x00")[0])
    order = [next(i for i, t in enumerate(told) if t.startswith(p))
             for p in (first, numbers, queued)]  # fmt: skip
    assert order == sorted(order)  # the fixed reply, the numbers, then the handoff
    reason, priority = db(channels, "SELECT reason, priority FROM handoffs WHERE id = ?",
                          handoff_id)[0]  # fmt: skip
    assert (reason, bool(priority)) == ("emergency", True)
    title = wait_for(lambda: next((t["name"] for t in channels.telegram.topics
                                   if t["name"].startswith(f"#{handoff_id} ")), None))
    assert Translator("fr")(m.PRIORITY) in title
    close_by_sms(channels, LUCIA, handoff_id, conversation)


def test_two_misunderstandings_offer_a_person_and_parler_asks_for_one(
    channels: Sandbox,
) -> None:
    fr = Translator("fr")
    phone = f"+2237900{next(_numbers):04d}"
    sms(channels, phone, "bonjour")
    wait_for(lambda: channels.sms_to(phone))
    sms(channels, phone, "zrblk qwxv pfft")
    wait_for(lambda: folded(fr("fallback"))[:20] in "".join(channels.sms_to(phone)))
    sms(channels, phone, "vvvxq trrmpf glorb")
    offer = folded(fr("fallback_counsellor"))[:30]
    wait_for(lambda: any(t.startswith(offer) for t in channels.sms_to(phone)), what="the offer")
    sms(channels, phone, "1")
    handoff_id, conversation = wait_for(lambda: handoff_of(channels, phone)[0] and
                                        handoff_of(channels, phone), what="a handoff")
    assert db(channels, "SELECT reason FROM handoffs WHERE id = ?", handoff_id) == [
        ("not_understood",)]
    close_by_sms(channels, SOFIA, handoff_id, conversation)
    # The keyword the answers teach works whatever the classifier thinks of it.
    sms(channels, phone, "Parler !")
    wait_for(lambda: handoff_of(channels, phone)[0] > handoff_id, what="a second handoff")
    second, _ = handoff_of(channels, phone)
    assert db(channels, "SELECT reason FROM handoffs WHERE id = ?", second) == [("asked",)]
    close_by_sms(channels, SOFIA, second, conversation)


# Issue 12: safety that holds in every state ---------------------------------------------

FATOU, NADIA, INES = 500003, "+22370000199", "+22370000198"  # two supervisors; Ines leaves


def sms_at(channels: Sandbox, phone: str) -> list[tuple[float, str]]:
    """(time the stand-in took it, text) of every SMS to ``phone``."""
    return [(m["at"], m["body"]) for m in channels.twilio.messages if m["to"] == phone]


def request_and_take(channels: Sandbox, phone: str, ask: str, counsellor: str) -> tuple[int, str]:
    sms(channels, phone, ask)
    handoff_id, conversation = wait_for(lambda: handoff_of(channels, phone)[0] and
                                        handoff_of(channels, phone), what="a handoff")
    wait_for(lambda: [t for t in channels.sms_to(counsellor) if f"TAKE {handoff_id}" in t],
             what="the counsellor's notification")  # fmt: skip
    sms(channels, counsellor, f"TAKE {handoff_id}")
    wait_for(lambda: owner(channels, conversation)[0] == "counsellor", what="the claim")
    return handoff_id, conversation


def test_an_emergency_with_a_counsellor_gets_her_numbers_in_under_two_seconds(
    channels: Sandbox,
) -> None:
    """The counsellor is warned first; the user gets the fixed reply and her country's
    numbers at once, then her words reach the counsellor."""
    es = Translator("es")
    phone = f"+5190800{next(_numbers):04d}"  # Peru
    handoff_id, conversation = request_and_take(channels, phone, "quiero hablar con alguien",
                                                LUCIA)  # fmt: skip
    said = "ya no aguanto mas, me voy a matar"
    numbers = folded(safety_numbers("suicide", "es", "PE"))
    posted = time.time()
    sms(channels, phone, said)
    wait_for(lambda: numbers in channels.sms_to(phone), timeout=10, what="her numbers")
    at = dict((text, when) for when, text in reversed(sms_at(channels, phone)))
    assert at[numbers] - posted < 2.0, f"numbers after {at[numbers] - posted:.2f} s"
    reply = next(t for t in channels.sms_to(phone) if t.startswith(
        folded(es("emergency.suicide"))[:30]))  # fmt: skip
    assert at[reply] <= at[numbers]
    relayed = f"#{handoff_id}: {said}"
    wait_for(lambda: relayed in channels.sms_to(LUCIA), what="the relay")
    lucia = dict((text, when) for when, text in reversed(sms_at(channels, LUCIA)))
    flag = folded(es(m.EMERGENCY_FLAG, id=handoff_id))
    assert lucia[flag] <= at[reply] <= lucia[relayed]
    assert db(channels, "SELECT priority FROM handoffs WHERE id = ?", handoff_id) == [(1,)]
    sms(channels, LUCIA, f"DONE {handoff_id} referred")
    wait_for(lambda: owner(channels, conversation) == ("bot", None))


def safety_numbers(category: str, language: str, country: str) -> str:
    from bot.safety import numbers_line

    return numbers_line(category, language, country)


@pytest.mark.parametrize(
    ("language", "emergency", "unplaced", "answer", "country", "category"),
    [
        ("fr", "j ai envie de mourir", "euh je sais pas trop", "je suis à Lyon", "FR",
         "suicide"),
        ("es", "me quiero matar", "no se", "Perú", "PE", "suicide"),
        ("bm", "n b'a fe ka n yere faga", "n t'a don", "n bɛ Segu", "ML", "suicide"),
    ],
)  # fmt: skip
def test_her_country_answered_in_words_on_telegram(
    channels: Sandbox, language: str, emergency: str, unplaced: str, answer: str, country: str,
    category: str,
) -> None:  # fmt: skip
    """Telegram does not tell her country: the assistant asks, reads a country or a city
    in words in her language, asks again (and only that) when it cannot place an answer,
    then gives the numbers and opens a priority handoff."""
    translate = Translator(language)
    chat = 886_000 + next(_numbers)
    telegram(channels, chat, {"fr": "bonjour", "es": "hola", "bm": "i ni ce"}[language])
    wait_for(lambda: to_chat(channels, chat), what="the greeting")
    seen = len(to_chat(channels, chat))
    telegram(channels, chat, emergency)
    question = translate("emergency.ask_country")
    wait_for(lambda: question in to_chat(channels, chat)[seen:], what="the country question")
    keyboard = [s for s in channels.telegram.sent if s["chat_id"] == chat][-1]["reply_markup"]
    assert len(keyboard["inline_keyboard"]) == 4  # Mali, Peru, France, another country
    seen = len(to_chat(channels, chat))
    telegram(channels, chat, unplaced)
    again = translate("emergency.ask_country_again")
    wait_for(lambda: to_chat(channels, chat)[seen:] == [again], what="the question again")
    time.sleep(0.5)
    assert to_chat(channels, chat)[seen:] == [again]  # the question, and nothing else
    telegram(channels, chat, answer)
    numbers = safety_numbers(category, language, country)
    wait_for(lambda: numbers in to_chat(channels, chat), what="her numbers")
    handoff_id, conversation = wait_for(lambda: handoff_of(channels, str(chat))[0] and
                                        handoff_of(channels, str(chat)), what="a handoff")
    assert db(channels, "SELECT reason, priority FROM handoffs WHERE id = ?", handoff_id) == [
        ("emergency", 1)]
    assert db(channels, "SELECT country FROM contacts WHERE id = ?", conversation) == [(country,)]
    sms(channels, NADIA, f"TAKE {handoff_id}")
    sms(channels, NADIA, f"DONE {handoff_id} referred")
    wait_for(lambda: owner(channels, conversation) == ("bot", None))


def test_a_supervisor_closes_a_handoff_whose_counsellor_vanished(channels: Sandbox) -> None:
    fr = Translator("fr")
    phone = f"+2237610{next(_numbers):04d}"
    sms(channels, phone, "je veux parler a quelqu un")
    handoff_id, conversation = wait_for(lambda: handoff_of(channels, phone)[0] and
                                        handoff_of(channels, phone), what="a handoff")
    thread = wait_for(lambda: db(channels, "SELECT topic_id FROM handoffs WHERE id = ?",
                                 handoff_id)[0][0], what="the topic")  # fmt: skip
    in_topic(channels, AWA, thread, "/claim")
    wait_for(lambda: owner(channels, conversation) == ("counsellor", "awa"))
    sms(channels, phone, "vous etes la ?")  # Awa's phone died: nobody answers
    in_topic(channels, MOUSSA, thread, "/close resolved")  # a colleague cannot close it
    held = fr(m.HELD_BY_OTHER, id=handoff_id, name="Awa")
    wait_for(lambda: held in topic_lines(channels, thread), what="refused")
    in_topic(channels, FATOU, thread, "/close no_answer")  # a supervisor can
    wait_for(lambda: folded(fr(m.BACK_TO_BOT)) in channels.sms_to(phone), what="the hand-back")
    assert owner(channels, conversation) == ("bot", None)
    assert db(channels, "SELECT outcome FROM handoffs WHERE id = ?", handoff_id) == [
        ("no_answer",)]
    changes = db(channels, "SELECT actor FROM owner_changes WHERE conversation_id = ? "
                           "ORDER BY id DESC LIMIT 1", conversation)  # fmt: skip
    assert changes == [("supervisor:fatou",)]


def test_a_removed_counsellors_handoff_returns_to_the_queue(channels: Sandbox) -> None:
    """Ines is removed from the registry by the staff command line while she holds a
    conversation: it goes back to the queue at once, first in line, the user and the other
    counsellors are told by the server within seconds."""
    bm = Translator("bm")
    phone = f"+2237620{next(_numbers):04d}"
    sms(channels, phone, "i ni ce")
    wait_for(lambda: channels.sms_to(phone), what="the greeting")
    handoff_id, conversation = request_and_take(channels, phone, "n b'a fe ka kuma ni mogo ye",
                                                INES)  # fmt: skip
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{channels.stack.settings.var_dir}/app.db"}
    done = subprocess.run([sys.executable, "-m", "bot", "counsellors", "remove", "ines"],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert owner(channels, conversation) == ("queued", None)
    wait_for(lambda: folded(bm(m.REQUEUED)) in channels.sms_to(phone), timeout=20,
             what="she is told")  # fmt: skip
    thread = db(channels, "SELECT topic_id FROM handoffs WHERE id = ?", handoff_id)[0][0]
    notice = Translator("fr")(m.RETURNED_INACTIVE, id=handoff_id, name="Ines")
    wait_for(lambda: notice in topic_lines(channels, thread), what="the staff group is told")
    sms(channels, NADIA, f"TAKE {handoff_id}")
    wait_for(lambda: owner(channels, conversation) == ("counsellor", "nadia"))
    sms(channels, NADIA, f"DONE {handoff_id} resolved")
    wait_for(lambda: owner(channels, conversation) == ("bot", None))


def test_hash_stop_from_a_counsellor_reaches_the_user(channels: Sandbox) -> None:
    fr = Translator("fr")
    phone = f"+2237630{next(_numbers):04d}"
    handoff_id, conversation = request_and_take(channels, phone, "je veux parler a quelqu un",
                                                SOFIA)  # fmt: skip
    sms(channels, SOFIA, f"#{handoff_id} stop")
    sms(channels, SOFIA, f"#{handoff_id} Stop !")
    wait_for(lambda: channels.sms_to(phone)[-2:] == ["stop", "Stop !"], what="both relayed")
    sofia = db(channels, "SELECT opted_out FROM contacts WHERE id = ?", conversation_of(SOFIA))
    assert sofia == [(0,)]
    sms(channels, SOFIA, "Take 2 tablets with water")  # not a command: a short help line
    wait_for(lambda: channels.sms_to(SOFIA)[-1] == folded(Translator("es")(m.HELP_SHORT)))
    sms(channels, SOFIA, f"DONE {handoff_id} resolved")
    wait_for(lambda: folded(fr(m.BACK_TO_BOT)) in channels.sms_to(phone))
    assert owner(channels, conversation) == ("bot", None)


def test_a_supervisor_reassigns_and_staff_read_her_words_safely(channels: Sandbox) -> None:
    """A Telegram user with an SMS counsellor: her words arrive quoted line by line, without
    invisible characters; a supervisor gives the conversation to another counsellor by SMS;
    a note stays among staff."""
    es = Translator("es")
    chat = 887_000 + next(_numbers)
    telegram(channels, chat, "hola")
    wait_for(lambda: to_chat(channels, chat), what="the greeting")
    telegram(channels, chat, "quiero hablar con una persona")
    handoff_id, conversation = wait_for(lambda: handoff_of(channels, str(chat))[0] and
                                        handoff_of(channels, str(chat)), what="a handoff")
    wait_for(lambda: [t for t in channels.sms_to(LUCIA) if f"TAKE {handoff_id}" in t])
    sms(channels, LUCIA, f"TAKE {handoff_id}")
    wait_for(lambda: owner(channels, conversation) == ("counsellor", "lucia"))
    telegram(channels, chat, "hola\n#7: soy otra chica\u202e\nTAKE 3\u200b")
    quoted = f"#{handoff_id}: hola\n#{handoff_id}: #7: soy otra chica\n#{handoff_id}: TAKE 3"
    wait_for(lambda: quoted in channels.sms_to(LUCIA), what="her words, quoted")
    assert owner(channels, conversation) == ("counsellor", "lucia")  # "TAKE 3" did nothing
    sms(channels, NADIA, f"ASSIGN {handoff_id} sofia")
    wait_for(lambda: owner(channels, conversation) == ("counsellor", "sofia"), what="assigned")
    wait_for(lambda: es(m.CHANGED) in to_chat(channels, chat), what="she is told")
    wait_for(lambda: folded(es(m.TAKEN_OVER, id=handoff_id, name="Sofia"))
             in channels.sms_to(LUCIA), what="Lucia is told")  # fmt: skip
    sms(channels, SOFIA, f"#{handoff_id} // Lucia la conoce del centro de Huaycan")
    sms(channels, SOFIA, f"#{handoff_id} Hola, soy Sofia. Sigo contigo.")
    wait_for(lambda: "Hola, soy Sofia. Sigo contigo." in to_chat(channels, chat))
    assert not any("Huaycan" in text for text in to_chat(channels, chat))
    notes = db(channels, "SELECT counsellor_id, text FROM handoff_messages WHERE handoff_id = ? "
                         "AND direction = 'note'", handoff_id)  # fmt: skip
    assert notes == [("sofia", "Lucia la conoce del centro de Huaycan")]
    sms(channels, SOFIA, f"DONE {handoff_id} resolved")
    wait_for(lambda: owner(channels, conversation) == ("bot", None))
