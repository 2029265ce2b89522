"""The relay without Rasa: consoles, notices and timers, on the real database, with the
real Twilio and Telegram clients talking to the stand-ins. A manual clock drives the
timers; two relays on one database stand for two server instances."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine

from bot.channels.inbound import Inbound
from bot.db.base import utcnow
from bot.handoff import messages as m
from bot.handoff.console import (
    Command,
    TelegramConsole,
    parse_text_command,
    parse_topic_message,
)
from bot.handoff.registry import Registry
from bot.i18n import Translator
from bot.settings import ChannelSettings
from tests.support.clock import ManualClock
from tests.support.env import CHANNEL_ENV, STAFF_CHAT
from tests.support.handoff import LUCIA, SOFIA, folded
from tests.support.relay import (
    Parts,
    ask,
    build,
    console,
    fire_due,
    new_user,
    phones,
    relay_parts,
    sms_to,
    user_says,
)
from tests.support.standins import StandIns


@pytest.fixture()
def parts(tmp_path: Path, standins: StandIns) -> Iterator[Parts]:
    yield from relay_parts(tmp_path, standins)


def test_text_console_commands_parse() -> None:
    assert parse_text_command("TAKE 12") == parse_text_command("take #12")
    assert parse_text_command("#12 hola, te escucho").argument == "hola, te escucho"
    assert parse_text_command("DONE 12 No answer").argument == "no_answer"
    assert parse_text_command("RELEASE 3").verb == "release"
    assert parse_text_command("hola") is None
    assert parse_text_command("TAKE twelve") is None
    assert parse_topic_message("/close@SanteBot referred") == Command("close", None, "referred")
    assert parse_topic_message("/start").verb == "help"
    assert parse_topic_message("Bonjour") == Command("say", None, "Bonjour")


def test_a_request_opens_a_topic_and_notifies_sms_counsellors_on_duty(parts: Parts) -> None:
    user = new_user(parts)
    handoff_id = ask(parts, user)
    assert parts.run(fire_due(parts)) == ["notify"]
    handoff = parts.service.get(handoff_id)
    topic = next(t for t in parts.standins.telegram.topics
                 if t["message_thread_id"] == handoff.topic_id)  # fmt: skip
    assert topic["name"].startswith(f"#{handoff_id} ES sms")
    intro = next(s["text"] for s in parts.standins.telegram.sent
                 if s["message_thread_id"] == handoff.topic_id)  # fmt: skip
    assert "necesito ayuda" in intro and user.address not in intro and user.id not in intro
    # Spanish speakers on SMS get the request; a counsellor without Spanish would not.
    es = Translator("es")
    for phone in (LUCIA, SOFIA):
        assert any(f"TAKE {handoff_id}" in text for text in sms_to(parts, phone))
    assert folded(es(m.NEW_REQUEST_SMS, id=handoff_id, language="es", priority="",
                     summary="necesito ayuda")) in sms_to(parts, LUCIA)  # fmt: skip


def test_waiting_messages_are_kept_and_the_notice_is_rationed(parts: Parts) -> None:
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(fire_due(parts))
    waiting = folded(Translator("es")(m.WAITING, position=1))
    assert parts.run(user_says(parts, user, "hola?")) == "held"
    assert waiting not in sms_to(parts, user.address)  # she was just told her place
    parts.clock.advance(minutes=6)
    assert parts.run(user_says(parts, user, "sigo aqui")) == "held"
    parts.run(user_says(parts, user, "???"))
    assert sms_to(parts, user.address).count(waiting) == 1
    parts.clock.advance(minutes=6)
    parts.run(user_says(parts, user, "nadie?"))
    assert sms_to(parts, user.address).count(waiting) == 2
    assert [line.text for line in parts.service.transcript(handoff_id)] == [
        "hola?", "sigo aqui", "???", "nadie?"]  # fmt: skip


def test_the_sms_console_takes_relays_and_hands_back(parts: Parts) -> None:
    es = Translator("es")
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(console(parts, LUCIA, f"#{handoff_id} hola"))  # not taken yet
    assert folded(es(m.CLAIM_FIRST, id=handoff_id)) in sms_to(parts, LUCIA)
    parts.run(console(parts, LUCIA, f"take {handoff_id}"))
    assert folded(es(m.JOINED)) in sms_to(parts, user.address)
    parts.run(console(parts, SOFIA, f"TAKE {handoff_id}"))
    assert folded(Translator("es")(m.HELD_BY_OTHER, id=handoff_id, name="Lucia")) in sms_to(
        parts, SOFIA)  # fmt: skip
    parts.run(console(parts, LUCIA, f"#{handoff_id} Hola, soy Lucia. Te escucho."))
    assert "Hola, soy Lucia. Te escucho." in sms_to(parts, user.address)
    assert parts.run(user_says(parts, user, "gracias")) == "relayed"
    assert f"#{handoff_id}: gracias" in sms_to(parts, LUCIA)
    parts.run(console(parts, LUCIA, f"DONE {handoff_id} maybe"))
    assert parts.service.owner(user.id).state == "counsellor"
    assert any("resolved" in text for text in sms_to(parts, LUCIA))  # the outcomes are listed
    parts.run(console(parts, LUCIA, f"DONE {handoff_id} booked"))
    assert parts.service.owner(user.id).state == "bot"
    told = sms_to(parts, user.address)
    assert told[-2:] == [folded(es(m.BACK_TO_BOT)), folded(es(m.FOLLOWUP["booked"]))]
    parts.run(console(parts, LUCIA, f"#{handoff_id} otra cosa"))
    assert folded(es(m.NOT_OPEN, id=handoff_id)) in sms_to(parts, LUCIA)
    assert "otra cosa" not in sms_to(parts, user.address)
    parts.run(console(parts, LUCIA, "que hago?"))  # no command: one short line
    assert sms_to(parts, LUCIA)[-1] == folded(es(m.HELP_SHORT))
    assert parts.service.get(handoff_id).outcome == "booked"


def test_release_puts_it_back_in_the_queue(parts: Parts) -> None:
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(console(parts, LUCIA, f"TAKE {handoff_id}"))
    parts.run(console(parts, LUCIA, f"RELEASE {handoff_id}"))
    assert parts.service.owner(user.id).state == "queued"
    parts.run(console(parts, SOFIA, f"TAKE {handoff_id}"))
    assert parts.service.owner(user.id).counsellor_id == "sofia"


def test_unclaimed_requests_are_renotified_then_handed_back(parts: Parts) -> None:
    es = Translator("es")
    user = new_user(parts)
    handoff_id = ask(parts, user)
    assert parts.run(fire_due(parts)) == ["notify"]
    parts.clock.advance(minutes=4)
    assert parts.run(fire_due(parts)) == []
    parts.clock.advance(minutes=2)
    assert parts.run(fire_due(parts)) == ["renotify"]
    assert folded(es(m.RENOTIFY, id=handoff_id, minutes=6)) in sms_to(parts, LUCIA)
    parts.clock.advance(minutes=15)
    assert parts.run(fire_due(parts)) == ["give_up"]
    assert parts.service.owner(user.id).state == "bot"
    assert parts.service.get(handoff_id).outcome == "unclaimed"
    assert sms_to(parts, user.address)[-1] == folded(es(m.NOBODY_FREE))
    parts.clock.advance(hours=1)
    assert parts.run(fire_due(parts)) == []  # nothing left to fire


def test_a_silent_conversation_is_closed_but_activity_keeps_it_open(parts: Parts) -> None:
    es = Translator("es")
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(console(parts, LUCIA, f"TAKE {handoff_id}"))
    parts.clock.advance(minutes=20)
    parts.run(user_says(parts, user, "sigo pensando"))
    parts.run(console(parts, LUCIA, f"#{handoff_id} tomate tu tiempo"))
    parts.clock.advance(minutes=11)
    assert "idle" in parts.run(fire_due(parts))
    assert parts.service.owner(user.id).state == "counsellor"  # they wrote 11 min ago
    parts.clock.advance(minutes=20)
    assert parts.run(fire_due(parts)) == ["idle"]
    assert parts.service.owner(user.id).state == "bot"
    assert parts.service.get(handoff_id).outcome == "timeout"
    assert sms_to(parts, user.address)[-1] == folded(es(m.IDLE_CLOSED))
    assert folded(es(m.CLOSED, id=handoff_id, outcome="timeout")) in sms_to(parts, LUCIA)


def test_an_emergency_while_waiting_gets_the_numbers_at_once_and_goes_first(
    parts: Parts,
) -> None:
    first = new_user(parts)
    ask(parts, first)
    parts.clock.advance(seconds=1)
    user = new_user(parts)
    ask(parts, user)
    assert parts.service.position(user.id) == 2
    parts.run(user_says(parts, user, "me quiero matar"))
    told = sms_to(parts, user.address)
    assert folded(Translator("es")("emergency.suicide"))[:30] in "".join(told)
    assert any(text.startswith(folded(Translator("es")("emergency.numbers", numbers=""))[:15])
               for text in told)  # fmt: skip
    assert parts.service.position(user.id) == 1
    assert parts.service.owner(user.id).priority


def test_a_timer_fires_once_across_two_instances(engine: Engine, standins: StandIns) -> None:
    clock = ManualClock()
    one, two = build(engine, standins, clock), build(engine, standins, clock)
    user = one.store.contact("sms", f"+5190200{next(phones):04d}", country="PE")
    handoff, _ = one.service.request(user.id, "asked", language="es", channel="sms")
    try:
        clock.advance(minutes=6)
        taken = [one.service.take_due(), two.service.take_due()]
        kinds = sorted(t.kind for batch in taken for t in batch if t.handoff_id == handoff.id)
        assert kinds == ["notify", "renotify"]  # each timer taken by one instance only
        assert not (set(t.id for t in taken[0]) & set(t.id for t in taken[1]))
        clock.advance(minutes=2)  # leases last a minute: a dead instance's timer is retried
        retaken = [t for t in two.service.take_due() if t.handoff_id == handoff.id]
        assert sorted(t.kind for t in retaken) == ["notify", "renotify"]
        for timer in retaken:
            two.service.done(timer.id)
        clock.advance(minutes=2)
        assert [t for t in one.service.take_due() if t.handoff_id == handoff.id] == []
    finally:
        one.service.close(handoff.id, "resolved", actor="system")


def test_after_a_restart_messages_of_a_handoff_are_relayed_not_apologised_for(
    parts: Parts,
) -> None:
    """Accepted just before a crash, never processed: a user's words reach her counsellor,
    a counsellor's words in the topic reach the user, and nobody gets the bot's apology."""
    from bot.channels.inbound import ContactOutput, TurnRunner

    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(fire_due(parts))
    parts.service.claim(handoff_id, "awa")
    topic = parts.service.get(handoff_id).topic_id
    awa = parts.store.contact("telegram", "500001")
    said = parts.store.record_inbound("sms", "SMlost1", user.id, "text", "sigues ahi?")
    answered = parts.store.record_inbound("telegram", f"91:{topic}", awa.id, "staff", "Si, aqui")
    settings = ChannelSettings(pseudonym_key=CHANNEL_ENV["PSEUDONYM_KEY"].encode())
    for channel in ("sms", "telegram"):
        runner = TurnRunner(channel, settings, parts.store, parts.relay.outbox,
                            lambda c=channel: ContactOutput(c, parts.relay.outbox),
                            gate=parts.relay)  # fmt: skip
        assert parts.run(runner.recover(utcnow() + timedelta(seconds=1))) == 0
    posts = [s["text"] for s in parts.standins.telegram.sent if s["message_thread_id"] == topic]
    assert f"#{handoff_id}: sigues ahi?" in posts
    assert sms_to(parts, user.address)[-1] == "Si, aqui"
    apology = folded(Translator("es")("channel.apology"))
    assert apology not in sms_to(parts, user.address)
    assert parts.service.owner(user.id).counsellor_id == "awa"
    with parts.store.engine.connect() as connection:
        from sqlalchemy import text

        statuses = dict(connection.execute(
            text("SELECT id, status FROM inbound_messages WHERE id IN (:a, :b)"),
            {"a": said, "b": answered}).all())  # fmt: skip
    assert statuses == {said: "relayed", answered: "console"}


def test_nobody_on_duty_she_is_told_when_counsellors_are_back(tmp_path: Path) -> None:
    """Outside working hours: no place in the line, but the next opening in her language and
    her time zone (Bamako here, for a counsellor working on Paris time)."""
    from bot.db.database import make_engine
    from bot.handoff.requests import open_request

    engine = make_engine(f"sqlite:///{tmp_path / 'app.db'}")
    registry_file = tmp_path / "counsellors.yml"
    registry_file.write_text(
        "counsellors:\n  - {id: nuit, name: Nuit, languages: [fr], channel: sms,\n"
        "     address: '+33700000999', timezone: Europe/Paris, hours: never}\n",
        encoding="utf-8",
    )
    Registry(engine).import_file(registry_file)
    opened = open_request(engine, "sms-test", "asked", language="fr", channel="sms",
                          country="ML")  # fmt: skip
    assert not opened.on_duty and opened.back_at is None  # nobody, ever: no time promised
    registry_file.write_text(registry_file.read_text().replace(
        "hours: never", "hours: 'mon-fri 08:00-18:00'"), encoding="utf-8")
    Registry(engine).import_file(registry_file)
    monday_early = datetime(2026, 11, 30, 6, 0, tzinfo=ZoneInfo("UTC"))  # 07:00 in Paris
    opened = open_request(engine, "sms-test-2", "asked", language="fr", channel="sms",
                          country="ML", at=monday_early)  # fmt: skip
    # 08:00 in Paris is 07:00 in Bamako, said in French.
    assert not opened.on_duty and opened.back_at == "lundi 30 novembre 2026, 07:00"
    engine.dispose()


def test_posts_waiting_for_the_group_pace_go_out_together_in_order(parts: Parts) -> None:
    """Telegram allows about 20 messages a minute in a group: lines that pile up for one
    topic while a post waits its turn are sent with it, in order, none lost."""
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(fire_due(parts))
    handoff = parts.service.get(handoff_id)
    sender = parts.relay.outbox.senders["telegram"]
    slow = TelegramConsole(sender.bot, STAFF_CHAT, "fr", per_minute=60)  # one a second
    before = len(parts.standins.telegram.sent)

    async def burst() -> None:
        await slow.post(handoff, "premier")  # goes at once
        await asyncio.gather(*(slow.post(handoff, f"ligne {n}") for n in range(6)))

    parts.run(burst())
    sent = [s["text"] for s in parts.standins.telegram.sent[before:]
            if s["message_thread_id"] == handoff.topic_id]  # fmt: skip
    assert sent == ["premier", "\n".join(f"ligne {n}" for n in range(6))]


def test_a_failed_relay_is_retried_in_order_once_and_she_is_not_asked_again(
    parts: Parts,
) -> None:
    """Telegram refuses the staff group for a while: her messages stay marked in the
    transcript, she gets no apology (she would write them again), and once Telegram is back
    the worker relays them to her counsellor, in order, each once."""
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(fire_due(parts))
    parts.service.claim(handoff_id, "awa")  # a Telegram counsellor: she reads the topic
    topic = parts.service.get(handoff_id).topic_id

    def posts() -> list[str]:
        """Her lines in the topic (those that waited go out together, one per line)."""
        mine = f"#{handoff_id}:"
        return [line for s in parts.standins.telegram.sent if s["message_thread_id"] == topic
                for line in s["text"].split("\n") if line.startswith(mine)]  # fmt: skip

    parts.standins.telegram.block(STAFF_CHAT)
    told_before = len(sms_to(parts, user.address))
    assert parts.run(user_says(parts, user, "uno")) == "relay_pending"
    assert parts.run(user_says(parts, user, "dos")) == "relay_pending"  # waits behind "uno"
    assert posts() == [] and len(sms_to(parts, user.address)) == told_before
    assert [p.text for p in parts.service.to_relay(handoff_id)] == ["uno", "dos"]
    parts.standins.telegram.unblock(STAFF_CHAT)
    parts.run(parts.relay.retry_relays())
    assert posts() == []  # not before the retry pause
    parts.clock.advance(seconds=16)
    parts.run(parts.relay.retry_relays())
    assert posts() == [f"#{handoff_id}: uno", f"#{handoff_id}: dos"]
    parts.run(parts.relay.retry_relays())
    assert parts.run(user_says(parts, user, "tres")) == "relayed"
    assert posts() == [f"#{handoff_id}: {word}" for word in ("uno", "dos", "tres")]
    assert parts.service.to_relay(handoff_id) == []
    assert [line.text for line in parts.service.transcript(handoff_id)] == ["uno", "dos", "tres"]


def test_one_relay_sender_at_a_time(parts: Parts) -> None:
    """The relay lease: a second sender (another instance, or the worker) waits; a sender
    whose lease expired and was taken cannot renew it; a dead sender's lease expires."""
    user = new_user(parts)
    handoff_id = ask(parts, user)
    service = parts.service
    first = service.take_relay(handoff_id)
    assert first is not None and service.take_relay(handoff_id) is None
    assert service.renew_relay(handoff_id, first)
    parts.clock.advance(seconds=61)  # the first sender died
    second = service.take_relay(handoff_id)
    assert second is not None and not service.renew_relay(handoff_id, first)
    service.release_relay(handoff_id, first)  # not its lease: nothing changes
    assert service.take_relay(handoff_id) is None
    service.release_relay(handoff_id, second)
    assert service.take_relay(handoff_id) is not None


def test_a_voice_note_or_photo_reaches_the_counsellor_as_a_mark_and_she_is_asked_to_write(
    parts: Parts,
) -> None:
    """Counsellors receive text only: the counsellor sees that something came, and the user
    is told, in her language, to write it with words (nothing is silently dropped)."""
    es = Translator("es")
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(console(parts, LUCIA, f"TAKE {handoff_id}"))
    voice = Inbound("sms", "x", user.address, "voice", text=None)
    assert parts.run(parts.relay.route(user, voice)) == "relayed"
    assert f"#{handoff_id}: [voice]" in sms_to(parts, LUCIA)
    assert sms_to(parts, user.address)[-1] == folded(es(m.MEDIA_NOT_RELAYED))
    photo = Inbound("sms", "y", user.address, "media", text="mira esto")  # with a caption
    told = len(sms_to(parts, user.address))
    assert parts.run(parts.relay.route(user, photo)) == "relayed"
    assert f"#{handoff_id}: [media] mira esto" in sms_to(parts, LUCIA)  # the words, the mark
    assert sms_to(parts, user.address)[told:] == [folded(es(m.MEDIA_NOT_RELAYED))]
    assert parts.run(user_says(parts, user, "es una receta")) == "relayed"
    assert sms_to(parts, user.address)[told + 1:] == []  # text: nothing to say


def test_messages_left_by_a_failed_relay_follow_a_release_into_the_topic(parts: Parts) -> None:
    """Released back to the queue before Telegram came back: what she wrote is posted in the
    topic, as a queued message is, once."""
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(fire_due(parts))
    parts.service.claim(handoff_id, "awa")
    topic = parts.service.get(handoff_id).topic_id
    parts.standins.telegram.block(STAFF_CHAT)
    assert parts.run(user_says(parts, user, "sigues?")) == "relay_pending"
    parts.service.release(handoff_id, "awa")
    parts.standins.telegram.unblock(STAFF_CHAT)
    parts.clock.advance(seconds=16)
    parts.run(parts.relay.retry_relays())
    parts.run(parts.relay.retry_relays())
    posts = [s["text"] for s in parts.standins.telegram.sent if s["message_thread_id"] == topic]
    assert posts.count(f"#{handoff_id}: sigues?") == 1
    assert parts.service.to_relay(handoff_id) == []
    assert parts.service.owner(user.id).state == "queued"
