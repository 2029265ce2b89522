"""The turn runner without Rasa: what is stored, what is answered, what is never lost.

A recording sender stands in for Twilio here (the HTTP stand-ins are exercised end to end in
``test_channels.py``); the store is the real one, on SQLite.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rasa.core.channels.channel import UserMessage
from sqlalchemy import select

from bot.channels.contacts import ContactView
from bot.channels.inbound import MEDIA_PAYLOAD, ContactOutput, Inbound, TurnRunner
from bot.channels.messages import InboundMessage
from bot.channels.outbound import Button, Outbox
from bot.channels.store import ChannelStore
from bot.db.base import utcnow
from bot.db.database import make_engine
from bot.i18n import Translator
from bot.menu import option_payload
from bot.settings import ChannelSettings

SETTINGS = ChannelSettings(pseudonym_key=b"k" * 32, rate_limit=3, rate_window=timedelta(hours=1))


class RecordingSender:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, list[str]]] = []

    async def send(self, contact: ContactView, text: str, buttons: Sequence[Button]) -> bool:
        self.sent.append((contact.address, text, [b.title for b in buttons]))
        return True


@pytest.fixture()
def parts(tmp_path: Path) -> tuple[TurnRunner, ChannelStore, RecordingSender]:
    store = ChannelStore(make_engine(f"sqlite:///{tmp_path / 'app.db'}"), SETTINGS.pseudonym_key)
    sender = RecordingSender()
    outbox = Outbox(store, {"sms": sender})
    runner = TurnRunner("sms", SETTINGS, store, outbox, lambda: ContactOutput("sms", outbox))
    return runner, store, sender


def run(runner: TurnRunner, *inbounds: Inbound, handler: Any = None) -> list[UserMessage]:
    seen: list[UserMessage] = []

    async def on_new_message(message: UserMessage) -> None:
        seen.append(message)
        if handler:
            await handler(message)

    async def go() -> list[bool]:
        accepted = [await runner.accept(i, on_new_message) for i in inbounds]
        await runner.drain()
        return accepted

    asyncio.run(go())
    return seen


def sms(sid: str, text: str = "hola", phone: str = "+51900000001", **kw: Any) -> Inbound:
    return Inbound("sms", sid, phone, kw.pop("kind", "text"), text=text, country="PE", **kw)


def statuses(store: ChannelStore) -> list[str]:
    with store.engine.connect() as connection:
        return list(connection.scalars(select(InboundMessage.status).order_by(InboundMessage.id)))


def test_rasa_sees_a_pseudonym_and_the_country(parts: Any) -> None:
    runner, store, _ = parts
    [message] = run(runner, sms("SM1"))
    assert message.sender_id.startswith("sms-") and "900000001" not in message.sender_id
    assert message.metadata == {"channel": "sms", "kind": "text", "country": "PE"}
    assert message.text == "hola"
    assert statuses(store) == ["done"]


def test_her_words_never_reach_rasa_as_an_intent(parts: Any) -> None:
    """Rasa reads "/name" as an intent and skips NLU and the safety check: a leading slash
    of hers is dropped ("/greet je veux mourir" is read as words)."""
    runner, _, _ = parts
    messages = run(runner, sms("SM1", "/greet je veux mourir"), sms("SM2", "//"),
                   sms("SM3", "/emergency{}"))  # fmt: skip
    assert [m.text for m in messages] == ["greet je veux mourir", "?", "emergency{}"]


def test_a_redelivery_is_not_a_second_turn(parts: Any) -> None:
    runner, store, _ = parts
    assert len(run(runner, sms("SM1"), sms("SM1"))) == 1
    # A new runner on the same database (a restart) still knows the message.
    fresh = replace(runner, tasks=set(), _draining={})
    assert run(fresh, sms("SM1")) == []
    assert statuses(store) == ["done"]


def test_a_crash_keeps_the_message_and_apologises_in_her_language(parts: Any) -> None:
    runner, store, sender = parts

    async def crash(message: UserMessage) -> None:
        raise RuntimeError("the model fell over")

    run(runner, sms("SM1", "mi regla no viene"), handler=crash)
    assert sender.sent == [("+51900000001", Translator("es")("channel.apology"), [])]
    with store.engine.connect() as connection:
        row = connection.execute(select(InboundMessage.status, InboundMessage.text,
                                        InboundMessage.error)).one()  # fmt: skip
    assert tuple(row) == ("failed", "mi regla no viene", "RuntimeError")


def test_a_flood_is_stored_and_answered_once(parts: Any) -> None:
    runner, store, sender = parts
    seen = run(runner, *[sms(f"SM{i}", f"msg {i}") for i in range(6)])
    assert len(seen) == 3  # the limit
    assert statuses(store) == ["done"] * 3 + ["rate_limited"] * 3
    assert [text for _, text, _ in sender.sent] == [Translator("es")("channel.rate_limited")]


def test_media_becomes_the_media_intent_and_a_number_chooses_a_stored_button(parts: Any) -> None:
    runner, store, _ = parts
    contact = store.contact("sms", "+51900000001")
    health, language = (option_payload("main", k) for k in ("menu.health", "menu.language"))
    store.set_buttons(contact.id, [("Salud", health), ("Idioma", language)])
    seen = run(runner, sms("SM1", "", kind="media"), sms("SM2", " 2 "), sms("SM3", "9"))
    assert [m.text for m in seen] == [MEDIA_PAYLOAD, language, "9"]


def test_nothing_reaches_an_opted_out_contact(parts: Any) -> None:
    runner, store, sender = parts
    contact = store.contact("sms", "+51900000001")
    store.set_opted_out(contact.id, True)
    assert run(runner, sms("SM1")) == []
    assert statuses(store) == ["opted_out"]
    assert not asyncio.run(runner.outbox.send(contact.id, "hola"))
    assert sender.sent == []


def test_turns_of_one_conversation_run_in_order(parts: Any) -> None:
    runner, _, _ = parts
    order: list[str] = []

    async def slow_first(message: UserMessage) -> None:
        await asyncio.sleep(0.05 if message.text == "uno" else 0)
        order.append(message.text or "")

    run(runner, sms("SM1", "uno"), sms("SM2", "dos"), handler=slow_first)
    assert order == ["uno", "dos"]


def test_after_a_restart_unanswered_messages_are_kept_and_their_senders_told(parts: Any) -> None:
    """A process killed between the acknowledgement and the reply: at the next start, each
    sender hears once (in her language) that she should write again; nothing is replayed."""
    runner, store, sender = parts
    peru = store.contact("sms", "+51900000001", country="PE")
    opted_out = store.contact("sms", "+51900000002", country="PE")
    store.set_opted_out(opted_out.id, True)
    for sid, contact in (("SM1", peru), ("SM2", peru), ("SM3", opted_out)):
        row = store.record_inbound("sms", sid, contact.id, "text", "hola")
        store.set_inbound_status(row, "processing")  # its turn had begun
    done = store.record_inbound("sms", "SM4", peru.id, "text", "gracias")
    store.set_inbound_status(done, "done")

    assert asyncio.run(runner.recover(utcnow())) == 1
    assert sender.sent == [("+51900000001", Translator("es")("channel.apology"), [])]
    assert statuses(store) == ["interrupted", "interrupted", "interrupted", "done"]
    assert asyncio.run(runner.recover(utcnow())) == 0  # told once


def test_a_message_arriving_as_a_turn_ends_still_waits_for_the_one_before(parts: Any) -> None:
    """A third message stored while the first turn ends and the second waits must queue
    behind the second, not overtake it."""
    runner, _, _ = parts
    order: list[str] = []

    async def handler(message: UserMessage) -> None:
        await asyncio.sleep(0.02)
        order.append(message.text or "")
        if message.text == "uno":  # arrives while "uno" ends and "dos" waits
            await runner.accept(sms("SM3", "tres"), handler)

    async def go() -> None:
        await runner.accept(sms("SM1", "uno"), handler)
        await runner.accept(sms("SM2", "dos"), handler)
        await runner.drain()

    asyncio.run(go())
    assert order == ["uno", "dos", "tres"]
