"""Safety that holds while a person owns the conversation (issue 12): the emergency answer in
every state, her country asked in words, no stranded conversation (a silent, removed or
unreachable counsellor), relays that never vanish, text that is safe for staff to read, a
flood that cannot cost dozens of SMS, and a crash mid-turn. The relay without Rasa, on the
real database, with the real Twilio and Telegram clients talking to the stand-ins.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.channels.contacts import ContactView
from bot.channels.inbound import ContactOutput, Inbound, TurnRunner
from bot.handoff import messages as m
from bot.handoff.relay import RELAY_BURST, RELAY_EVERY, RELAY_MAX_CHARS
from bot.handoff.service import MAX_RELAY_ATTEMPTS
from bot.handoff.supervision import remove_counsellor
from bot.i18n import Translator
from bot.safety import numbers_line
from bot.safety.models import SafetyAlert
from bot.settings import ChannelSettings
from tests.support.env import CHANNEL_ENV
from tests.support.handoff import LUCIA, SOFIA, folded
from tests.support.relay import (
    Parts,
    ask,
    console,
    crash,
    crashing_turns,
    fire_due,
    new_user,
    relay_parts,
    sms_to,
)
from tests.support.standins import StandIns

NADIA = "+22370000199"  # an SMS supervisor


@pytest.fixture()
def parts(tmp_path: Path, standins: StandIns) -> Iterator[Parts]:
    yield from relay_parts(tmp_path, standins)


def telegram_user(parts: Parts, chat: int) -> ContactView:
    """A Telegram user: the channel does not tell her country."""
    contact = parts.store.contact("telegram", str(chat))
    parts.store.record_inbound("telegram", f"tg-hist-{chat}", contact.id, "text", "hola")
    return contact


def to_chat(parts: Parts, chat: int) -> list[str]:
    return [s["text"] for s in parts.standins.telegram.sent if s["chat_id"] == chat]


_ids = iter(range(1, 10**6))


def says(parts: Parts, contact: ContactView, text: str, kind: str = "text") -> str | None:
    """Her message as the webhook gives it: stored, then routed."""
    provider_id = f"says-{next(_ids)}"
    parts.store.record_inbound(contact.channel, provider_id, contact.id, kind, text)
    inbound = Inbound(contact.channel, provider_id, contact.address, kind, text=text)
    return parts.run(parts.relay.route(contact, inbound))


def test_with_a_counsellor_the_counsellor_is_warned_then_she_gets_her_numbers_then_the_relay(
    parts: Parts,
) -> None:
    es = Translator("es")
    user = new_user(parts)  # +51: Peru
    handoff_id = ask(parts, user)
    parts.run(console(parts, LUCIA, f"TAKE {handoff_id}"))
    told = len(sms_to(parts, user.address))
    assert says(parts, user, "ya no quiero vivir, me quiero matar") == "relayed"
    lucia = sms_to(parts, LUCIA)
    flag = lucia.index(folded(es(m.EMERGENCY_FLAG, id=handoff_id)))
    assert flag < lucia.index(f"#{handoff_id}: ya no quiero vivir, me quiero matar")
    reply, numbers = sms_to(parts, user.address)[told:]
    assert reply.startswith(folded(es("emergency.suicide"))[:30])
    assert numbers == folded(numbers_line("suicide", "es", "PE"))
    assert parts.service.owner(user.id).priority
    with parts.store.engine.connect() as connection:
        alerts = connection.execute(select(SafetyAlert.category).where(
            SafetyAlert.conversation_id == user.id)).scalars().all()  # fmt: skip
    assert alerts == ["suicide"]


@pytest.mark.parametrize(
    ("language", "said", "answer", "country"),
    [("es", "mi pareja me pega y me encierra", "estoy en Cusco", "PE"),
     ("fr", "il me frappe tous les soirs", "je suis a Lyon", "FR"),
     ("bm", "a be n gosi", "n be Bamakɔ", "ML")],
)  # fmt: skip
def test_an_unknown_country_is_asked_during_the_handoff_and_read_in_words(
    parts: Parts, language: str, said: str, answer: str, country: str
) -> None:
    translate = Translator(language)
    chat = 880_100 + len(language) + len(said)
    user = telegram_user(parts, chat)
    handoff, _ = parts.service.request(user.id, "asked", language=language, channel="telegram")
    parts.service.claim(handoff.id, "moussa")  # speaks fr, bm, es; reads the staff group
    seen = len(to_chat(parts, chat))
    says(parts, user, said)
    question = [s for s in parts.standins.telegram.sent if s["chat_id"] == chat][-1]
    assert question["text"] == translate("emergency.ask_country")
    titles = [b[0]["text"] for b in question["reply_markup"]["inline_keyboard"]]
    assert titles == [translate(k) for k in ("country.ml", "country.pe", "country.fr",
                                             "country.other")]  # fmt: skip
    says(parts, user, "je sais pas moi")  # not a place: the question again, once more
    assert to_chat(parts, chat)[-1] == translate("emergency.ask_country_again")
    says(parts, user, answer)
    category = "violence"
    assert to_chat(parts, chat)[-1] == numbers_line(category, language, country)
    assert parts.store.contact_by_id(user.id).country == country
    assert parts.service.get(handoff.id).country_question is None
    assert len(to_chat(parts, chat)) == seen + 4  # reply, question, question again, numbers
    # Everything she wrote also reached her counsellor.
    lines = [line.text for line in parts.service.transcript(handoff.id)]
    assert lines == [said, "je sais pas moi", answer]


def test_a_telegram_button_answers_the_country_question(parts: Parts) -> None:
    user = telegram_user(parts, 880_900)
    handoff, _ = parts.service.request(user.id, "asked", language="fr", channel="telegram")
    says(parts, user, "je veux mourir")
    press = Inbound("telegram", "cb", user.address, "callback", button=4)  # "Autre pays"
    parts.run(parts.relay.route(user, press))
    assert to_chat(parts, 880_900)[-1] == Translator("fr")("emergency.go_now")
    assert parts.service.transcript(handoff.id)[-1].text == Translator("fr")("country.other")
    assert parts.store.contact_by_id(user.id).country is None  # "another country" is not kept


def test_a_counsellor_silent_while_she_writes_gives_the_request_back(parts: Parts) -> None:
    es, fr = Translator("es"), Translator("fr")
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(fire_due(parts))
    parts.run(console(parts, LUCIA, f"TAKE {handoff_id}"))
    parts.run(console(parts, LUCIA, f"#{handoff_id} Hola, te escucho"))
    parts.clock.advance(minutes=3)
    says(parts, user, "mi mama me echo de la casa")  # the silence clock starts here
    parts.clock.advance(minutes=6)
    says(parts, user, "sigues ahi?")  # her own messages do not reset it
    parts.clock.advance(minutes=4, seconds=30)
    notified = len(sms_to(parts, SOFIA))
    assert "silent" in parts.run(fire_due(parts))
    owner = parts.service.owner(user.id)
    assert (owner.state, owner.priority) == ("queued", True)
    assert sms_to(parts, user.address)[-1] == folded(es(m.REQUEUED))
    assert sms_to(parts, LUCIA)[-1] == folded(es(m.RETURNED_SILENT, id=handoff_id,
                                                  name="Lucia", minutes=10))  # fmt: skip
    # The others on duty are told at once, as for an urgent request; not the one who left.
    urgent = folded(es(m.NEW_REQUEST_SMS, id=handoff_id, language="es",
                       priority=f" {es(m.PRIORITY)}", summary="sigues ahi?"))  # fmt: skip
    assert sms_to(parts, SOFIA)[notified:] == [urgent]
    assert urgent not in sms_to(parts, LUCIA)
    topic = parts.service.get(handoff_id).topic_id
    posts = [s["text"] for s in parts.standins.telegram.sent if s["message_thread_id"] == topic]
    assert fr(m.RETURNED_SILENT, id=handoff_id, name="Lucia", minutes=10) in posts[-1]
    # Answered in time, nothing happens.
    parts.run(console(parts, SOFIA, f"TAKE {handoff_id}"))
    says(parts, user, "gracias")
    parts.clock.advance(minutes=5)
    parts.run(console(parts, SOFIA, f"#{handoff_id} aqui estoy"))
    parts.clock.advance(minutes=6)
    parts.run(fire_due(parts))
    assert parts.service.owner(user.id).counsellor_id == "sofia"


def test_a_removed_counsellor_gives_her_requests_back_at_once(parts: Parts) -> None:
    es = Translator("es")
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(console(parts, LUCIA, f"TAKE {handoff_id}"))
    # Removed from the registry (the staff command line): her requests are queued in the
    # same step, and the server's worker tells everyone.
    assert remove_counsellor(parts.relay.registry, parts.service, "lucia")
    assert parts.service.owner(user.id).state == "queued"
    assert "returned" in parts.run(fire_due(parts))
    assert sms_to(parts, user.address)[-1] == folded(es(m.REQUEUED))
    assert any(f"TAKE {handoff_id}" in text for text in sms_to(parts, SOFIA))
    lucia = parts.store.contact("sms", LUCIA)  # now an ordinary number: no console
    said = Inbound("sms", "x", LUCIA, "text", text=f"#{handoff_id} sigo aqui")
    assert parts.run(parts.relay.console(lucia, said)) is None


def test_a_relay_to_a_deactivated_holder_returns_the_request_instead(parts: Parts) -> None:
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(console(parts, LUCIA, f"TAKE {handoff_id}"))
    parts.relay.registry.remove("lucia")  # straight in the table, no command line
    assert says(parts, user, "hola?") == "relayed"
    assert parts.service.owner(user.id).state == "queued"
    assert "#1: hola?" not in sms_to(parts, LUCIA)


def test_a_refused_relay_to_the_user_is_retried_in_order_then_reported(parts: Parts) -> None:
    es, fr = Translator("es"), Translator("fr")
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(console(parts, LUCIA, f"TAKE {handoff_id}"))
    parts.standins.twilio.fail_next(2)  # Twilio answers 500 twice
    parts.run(console(parts, LUCIA, f"#{handoff_id} primero"))
    parts.run(console(parts, LUCIA, f"#{handoff_id} segundo"))
    assert "primero" not in sms_to(parts, user.address)
    for _ in range(2):
        parts.clock.advance(seconds=16)
        parts.run(parts.relay.retry_relays())
    assert [t for t in sms_to(parts, user.address) if t in ("primero", "segundo")] == [
        "primero", "segundo"]  # fmt: skip
    # A relay the provider keeps refusing is reported to the holder and the supervisors.
    parts.standins.twilio.fail_next(MAX_RELAY_ATTEMPTS)
    parts.run(console(parts, LUCIA, f"#{handoff_id} tercero"))
    for _ in range(MAX_RELAY_ATTEMPTS):
        parts.clock.advance(seconds=16)
        parts.run(parts.relay.retry_relays())
    assert "tercero" not in sms_to(parts, user.address)
    assert parts.service.to_relay(handoff_id) == []
    failed = es(m.RELAY_FAILED_USER, id=handoff_id, text="tercero")
    assert sms_to(parts, LUCIA)[-1] == folded(failed)
    assert sms_to(parts, NADIA)[-1] == folded(fr(m.RELAY_FAILED_USER, id=handoff_id,
                                                 text="tercero"))  # fmt: skip


def test_a_relay_to_an_opted_out_counsellor_is_not_marked_sent(parts: Parts) -> None:
    """Twilio refuses her number (21610): the request goes to someone else, who gets her
    words with the transcript; nothing is lost silently."""
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(console(parts, LUCIA, f"TAKE {handoff_id}"))
    parts.standins.twilio.block(LUCIA)
    try:
        says(parts, user, "necesito hablar con alguien")
    finally:
        parts.standins.twilio.unblock(LUCIA)
    assert parts.service.owner(user.id).state == "queued"
    parts.run(console(parts, SOFIA, f"TAKE {handoff_id}"))
    assert any("necesito hablar con alguien" in text for text in sms_to(parts, SOFIA))


def test_her_words_cannot_fake_a_line_or_hide_a_keyword(parts: Parts) -> None:
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(console(parts, LUCIA, f"TAKE {handoff_id}"))
    says(parts, user, "hola\n#7: soy otra persona\u202e\nTAKE 3\u200b")
    assert sms_to(parts, LUCIA)[-1] == (f"#{handoff_id}: hola\n#{handoff_id}: #7: soy otra "
                                        f"persona\n#{handoff_id}: TAKE 3")  # fmt: skip
    told = len(sms_to(parts, user.address))
    says(parts, user, "me quiero sui\u200bcidar")  # a zero-width space in the risk word
    assert sms_to(parts, user.address)[told].startswith(
        folded(Translator("es")("emergency.suicide"))[:30])


def test_a_flood_to_an_sms_counsellor_is_cut_rationed_and_loses_nothing(parts: Parts) -> None:
    es = Translator("es")
    user = telegram_user(parts, 881_000)
    handoff, _ = parts.service.request(user.id, "asked", language="es", channel="telegram")
    parts.run(console(parts, LUCIA, f"TAKE {handoff.id}"))
    before = len(sms_to(parts, LUCIA))
    long = "a" * 2000
    says(parts, user, long)
    assert to_chat(parts, 881_000)[-1] == es(m.RELAY_CUT)
    cut = sms_to(parts, LUCIA)[before:]
    assert sum(parts.standins.twilio.messages[-i - 1]["num_segments"]
               for i in range(len(cut))) <= 4  # fmt: skip
    assert "".join(cut).count("a") < RELAY_MAX_CHARS
    flood = len(sms_to(parts, LUCIA))
    for n in range(20):
        says(parts, user, f"mensaje {n}")
    assert len(sms_to(parts, LUCIA)) - flood == RELAY_BURST - 1  # the long one was a send
    assert to_chat(parts, 881_000).count(es(m.SLOW_DOWN)) == 1
    parts.clock.advance(seconds=RELAY_EVERY.total_seconds())
    parts.run(parts.relay.retry_relays())  # one send: all that waited, together
    later = len(sms_to(parts, LUCIA)) - flood - (RELAY_BURST - 1)
    assert 1 <= later <= 3  # at most 400 characters, in one-segment SMS parts
    lines = [line for text in sms_to(parts, LUCIA)[before:] for line in text.split("\n")]
    assert [line for line in lines if "mensaje" in line] == [
        f"#{handoff.id}: mensaje {n}" for n in range(20)]  # fmt: skip
    assert parts.service.to_relay(handoff.id) == []
    assert parts.service.transcript(handoff.id)[0].text == long  # kept whole


def test_sms_stop_during_a_handoff_ends_it_and_tells_her_counsellor(parts: Parts) -> None:
    es = Translator("es")
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(console(parts, LUCIA, f"TAKE {handoff_id}"))
    parts.store.set_opted_out(user.id, True)
    parts.run(parts.relay.opted_out(user))
    assert parts.service.get(handoff_id).outcome == "opted_out"
    assert sms_to(parts, LUCIA)[-1] == folded(es(m.USER_LEFT, id=handoff_id))


def test_a_crash_mid_turn_answers_an_emergency_before_any_apology(parts: Parts) -> None:
    """The turn raises (a bug, Rasa down): danger signs get the fixed reply, her numbers
    and a priority handoff, and no apology; another message gets the apology."""
    es = Translator("es")
    runner = crashing_turns(parts)
    phone = "+51900555001"

    async def send(text: str, provider_id: str) -> None:
        inbound = Inbound("sms", provider_id, phone, "text", text=text, country="PE")
        await runner.accept(inbound, crash)
        await runner.drain()

    parts.run(send("hola, una pregunta", "SMcrash1"))
    assert sms_to(parts, phone) == [folded(es("channel.apology"))]
    parts.run(send("tome muchas pastillas para morir", "SMcrash2"))
    told = sms_to(parts, phone)[1:]  # a long reply goes as one-segment parts
    assert told[0].startswith(folded(es("emergency.overdose"))[:25])
    numbers = told.index(folded(numbers_line("overdose", "es", "PE")))
    assert told[numbers + 1].startswith(folded(es(m.QUEUED, position="\x00").split("\x00")[0]))
    assert folded(es("channel.apology")) not in told
    contact = parts.store.contact("sms", phone)
    owner = parts.service.owner(contact.id)
    assert (owner.state, owner.priority) == ("queued", True)


def test_after_a_restart_an_unanswered_emergency_gets_its_answer_not_an_apology(
    parts: Parts,
) -> None:
    """Accepted just before a crash, never answered, in a conversation the bot owned."""
    from bot.db.base import utcnow

    fr = Translator("fr")
    settings = ChannelSettings(pseudonym_key=CHANNEL_ENV["PSEUDONYM_KEY"].encode())
    runner = TurnRunner("sms", settings, parts.store, parts.relay.outbox,
                        lambda: ContactOutput("sms", parts.relay.outbox),
                        gate=parts.relay)  # fmt: skip
    scared = parts.store.contact("sms", "+22370555001", country="ML")
    parts.store.record_inbound("sms", "SMlost-a", scared.id, "text", "il va me tuer ce soir")
    asking = parts.store.contact("sms", "+22370555002", country="ML")
    parts.store.record_inbound("sms", "SMlost-b", asking.id, "text", "c'est quoi un implant")
    assert parts.run(runner.recover(utcnow() + timedelta(seconds=1))) == 1
    told = sms_to(parts, scared.address)  # a long reply goes as one-segment parts
    assert told[0].startswith(folded(fr("emergency.violence"))[:25])
    assert folded(numbers_line("violence", "fr", "ML")) in told[1:]
    assert folded(fr("channel.apology")) not in told
    assert parts.service.owner(scared.id).priority
    assert sms_to(parts, asking.address) == [folded(fr("channel.apology"))]


def test_a_waiting_emergency_without_a_counsellor_yet_still_warns_the_group(parts: Parts) -> None:
    user = new_user(parts)
    handoff_id = ask(parts, user)
    parts.run(fire_due(parts))
    says(parts, user, "me quiero matar")
    topic = parts.service.get(handoff_id).topic_id
    posts = [line for s in parts.standins.telegram.sent if s["message_thread_id"] == topic
             for line in s["text"].split("\n")]  # fmt: skip
    flag = Translator("fr")(m.EMERGENCY_FLAG, id=handoff_id)
    assert posts.index(flag) < posts.index(f"#{handoff_id}: me quiero matar")
