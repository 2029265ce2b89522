"""The Twilio and Telegram stand-ins, driven by the real client libraries over loopback HTTP.

If these pass, the channels' tests talk to the stand-ins exactly as production code talks
to Twilio and Telegram: same client code, only the host differs.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
import warnings
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

import pytest
from telegram import ForumTopic, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import Conflict, Forbidden, InvalidToken, RetryAfter
from telegram.warnings import PTBDeprecationWarning
from twilio.base.exceptions import TwilioRestException
from twilio.request_validator import RequestValidator

from bot.channels.clients import (
    RebasedAsyncHttpClient,
    close_twilio_client,
    telegram_bot,
    twilio_client,
)
from bot.standins import LoopbackServer, Request, Response
from bot.standins.telegram import TelegramStandIn
from bot.standins.twilio import TwilioStandIn

SID = "AC" + "1" * 32
TOKEN = "stand-in-auth-token"
BOT_TOKEN = "424242:stand-in-bot-token"
FROM = "+15005550006"
TO = "+22370000001"

T = TypeVar("T")


def wait_for(probe: Callable[[], T], timeout: float = 5.0) -> T:
    """``probe()`` once it is truthy (callbacks arrive on another thread)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.02)


@pytest.fixture()
def twilio() -> Iterator[TwilioStandIn]:
    with TwilioStandIn(SID, TOKEN) as standin:
        yield standin


@pytest.fixture()
def telegram() -> Iterator[TelegramStandIn]:
    with TelegramStandIn(BOT_TOKEN) as standin:
        yield standin


class Receiver(LoopbackServer):
    """Where status callbacks land: records path, headers and form, answers 204."""

    name = "callback receiver"

    def __init__(self) -> None:
        super().__init__()
        self.received: list[Request] = []

    def handle(self, request: Request) -> Response:
        with self._lock:
            self.received.append(request)
        return Response(204)


async def send_sms(base_url: str, token: str = TOKEN, **kwargs: Any) -> Any:
    client = twilio_client(SID, token, base_url)
    try:
        return await client.messages.create_async(**{"to": TO, "body": "Bonjour", **kwargs})
    finally:
        await close_twilio_client(client)


# -- Twilio -------------------------------------------------------------------------------


def test_an_sms_sent_with_the_async_client_is_recorded(twilio: TwilioStandIn) -> None:
    message = asyncio.run(send_sms(twilio.base_url, from_=FROM, body="I ni ce! Ça va ?"))

    assert message.sid.startswith("SM") and len(message.sid) == 34
    assert message.status == "queued"
    assert (message.to, message.from_, message.num_segments) == (TO, FROM, "1")
    assert message.date_created is not None
    [recorded] = twilio.messages
    assert recorded["sid"] == message.sid
    assert (recorded["to"], recorded["from_"], recorded["body"]) == (TO, FROM, "I ni ce! Ça va ?")
    assert recorded["status_callback"] is None


def test_a_messaging_service_can_send_and_segments_are_counted(twilio: TwilioStandIn) -> None:
    message = asyncio.run(
        send_sms(twilio.base_url, messaging_service_sid="MG" + "2" * 32, body="ɛ" * 71)
    )

    assert message.num_segments == "2"  # ɛ is UCS-2: 70 a segment
    assert twilio.messages[0]["from_"] is None


def test_an_unsubscribed_number_raises_error_21610(twilio: TwilioStandIn) -> None:
    twilio.block(TO)

    with pytest.raises(TwilioRestException) as raised:
        asyncio.run(send_sms(twilio.base_url, from_=FROM))

    assert raised.value.code == 21610
    assert raised.value.status == 400
    assert twilio.messages == []


def test_wrong_credentials_and_told_failures_raise(twilio: TwilioStandIn) -> None:
    with pytest.raises(TwilioRestException) as raised:
        asyncio.run(send_sms(twilio.base_url, token="wrong", from_=FROM))
    assert (raised.value.status, raised.value.code) == (401, 20003)

    twilio.fail_next(1, status=503)
    with pytest.raises(TwilioRestException) as raised:
        asyncio.run(send_sms(twilio.base_url, from_=FROM))
    assert raised.value.status == 503

    asyncio.run(send_sms(twilio.base_url, from_=FROM))  # the failure was used up
    assert len(twilio.messages) == 1


def test_status_callbacks_arrive_signed_in_order(twilio: TwilioStandIn) -> None:
    with Receiver() as receiver:
        url = f"{receiver.base_url}/webhooks/sms/status"
        message = asyncio.run(send_sms(twilio.base_url, from_=FROM, status_callback=url))
        received = wait_for(lambda: receiver.received if len(receiver.received) >= 3 else [])

    validator = RequestValidator(TOKEN)
    forms = [request.form() for request in received]
    for request, form in zip(received, forms, strict=True):
        assert request.path == "/webhooks/sms/status"
        assert validator.validate(url, form, request.headers["X-Twilio-Signature"])
        assert not RequestValidator("other").validate(
            url, form, request.headers["X-Twilio-Signature"]
        )
    assert [f["MessageStatus"] for f in forms] == ["queued", "sent", "delivered"]
    assert {(f["MessageSid"], f["To"], f["From"], f["AccountSid"]) for f in forms} == {
        (message.sid, TO, FROM, SID)
    }
    assert twilio.messages[0]["status_callback"] == url
    assert [c["http_status"] for c in twilio.callbacks] == [204, 204, 204]


def test_concurrent_sends_are_all_recorded(twilio: TwilioStandIn) -> None:
    async def main() -> list[Any]:
        client = twilio_client(SID, TOKEN, twilio.base_url)
        try:
            sends = [
                client.messages.create_async(to=f"+2237000{i:04d}", from_=FROM, body=str(i))
                for i in range(20)
            ]
            return await asyncio.gather(*sends)
        finally:
            await close_twilio_client(client)

    messages = asyncio.run(main())

    assert len({m.sid for m in messages}) == 20
    assert sorted(m["body"] for m in twilio.messages) == sorted(str(i) for i in range(20))


def test_recorded_messages_are_readable_over_http(twilio: TwilioStandIn) -> None:
    asyncio.run(send_sms(twilio.base_url, from_=FROM))

    with urllib.request.urlopen(f"{twilio.base_url}/_standin/messages", timeout=5) as answer:
        listed = json.load(answer)

    assert [m["sid"] for m in listed] == [m["sid"] for m in twilio.messages]
    twilio.reset()
    assert twilio.messages == []


def test_the_twilio_client_is_rebased_only_when_a_base_url_is_set() -> None:
    url = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"

    assert RebasedAsyncHttpClient("http://127.0.0.1:9/").rebase(url) == (
        f"http://127.0.0.1:9/2010-04-01/Accounts/{SID}/Messages.json"
    )
    assert RebasedAsyncHttpClient("http://127.0.0.1:9").rebase(
        "https://api.dublin.ie1.twilio.com/x?a=1"
    ) == ("http://127.0.0.1:9/x?a=1")
    assert RebasedAsyncHttpClient(None).rebase(url) == url


# -- Telegram -----------------------------------------------------------------------------


def retry_seconds(error: RetryAfter) -> float:
    """``retry_after`` in seconds: an int in PTB 22, a ``timedelta`` with ``PTB_TIMEDELTA=1``
    (and in the next major version)."""
    value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def test_get_me_returns_the_bot(telegram: TelegramStandIn) -> None:
    async def main() -> Any:
        async with telegram_bot(BOT_TOKEN, telegram.base_url) as bot:
            return await bot.get_me()

    me = asyncio.run(main())

    assert me.is_bot and me.id == 424242 and me.username == "standin_bot"


def test_a_message_with_an_inline_keyboard_is_recorded(telegram: TelegramStandIn) -> None:
    markup = InlineKeyboardMarkup(
        [[InlineKeyboardButton("Français", callback_data="b:1")],
         [InlineKeyboardButton("Español", callback_data="b:2")]]
    )  # fmt: skip

    async def main() -> Any:
        async with telegram_bot(BOT_TOKEN, telegram.base_url) as bot:
            return await bot.send_message(chat_id=777, text="Langue ?", reply_markup=markup)

    message = asyncio.run(main())

    assert message.chat.id == 777 and message.chat.type == "private"
    assert message.text == "Langue ?"
    assert message.reply_markup == markup
    [sent] = telegram.sent
    assert (sent["chat_id"], sent["text"], sent["message_id"]) == (777, "Langue ?", 1)
    assert sent["reply_markup"] == markup.to_dict()


def test_concurrent_messages_are_all_recorded(telegram: TelegramStandIn) -> None:
    async def main() -> list[Any]:
        async with telegram_bot(BOT_TOKEN, telegram.base_url) as bot:
            sends = [bot.send_message(chat_id=777, text=str(i)) for i in range(40)]
            return await asyncio.gather(*sends)

    messages = asyncio.run(main())

    assert sorted(m.message_id for m in messages) == list(range(1, 41))
    assert len(telegram.sent) == 40


def test_a_throttled_chat_raises_retry_after_then_gets_through(
    telegram: TelegramStandIn,
) -> None:
    telegram.throttle(777, retry_after=3)

    async def main() -> None:
        async with telegram_bot(BOT_TOKEN, telegram.base_url) as bot:
            with pytest.raises(RetryAfter) as raised:
                await bot.send_message(chat_id=777, text="un")
            assert retry_seconds(raised.value) == 3
            await bot.send_message(chat_id=777, text="un")

    with warnings.catch_warnings():
        # PTB 22.2+ warns, building RetryAfter, that retry_after will become a timedelta.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        asyncio.run(main())

    assert [m["text"] for m in telegram.sent] == ["un"]


def test_a_blocked_chat_raises_forbidden(telegram: TelegramStandIn) -> None:
    telegram.block(777)

    async def main() -> None:
        async with telegram_bot(BOT_TOKEN, telegram.base_url) as bot:
            await bot.send_message(chat_id=777, text="un")

    with pytest.raises(Forbidden):
        asyncio.run(main())


def test_get_updates_returns_queued_updates_parsed_by_ptb(telegram: TelegramStandIn) -> None:
    update = {
        "message": {
            "message_id": 5,
            "date": int(time.time()),
            "chat": {"id": 777, "type": "private"},
            "from": {"id": 777, "is_bot": False, "first_name": "Awa"},
            "text": "i ni ce",
        }
    }
    first = telegram.queue_update(update)

    async def main() -> tuple[Any, Any, Any, float]:
        async with telegram_bot(BOT_TOKEN, telegram.base_url) as bot:
            updates = await bot.get_updates(timeout=0)
            confirmed = await bot.get_updates(offset=first["update_id"] + 1, timeout=0)
            # A long poll wakes up when an update is queued meanwhile.
            threading.Timer(0.2, telegram.queue_update, args=(update,)).start()
            started = time.monotonic()
            polled = await bot.get_updates(offset=first["update_id"] + 1, timeout=10)
            return updates, confirmed, polled, time.monotonic() - started

    updates, confirmed, polled, waited = asyncio.run(main())

    assert isinstance(updates[0], Update)
    assert updates[0].update_id == first["update_id"]
    assert updates[0].message.text == "i ni ce"
    assert updates[0].effective_chat.id == 777
    assert confirmed == ()
    assert [u.update_id for u in polled] == [first["update_id"] + 1]
    assert waited < 1.5


def test_get_updates_conflicts_with_a_webhook(telegram: TelegramStandIn) -> None:
    async def main() -> None:
        async with telegram_bot(BOT_TOKEN, telegram.base_url) as bot:
            await bot.set_webhook("http://127.0.0.1:9/webhooks/telegram/webhook", secret_token="s")
            assert telegram.webhook is not None and telegram.webhook["secret_token"] == "s"
            with pytest.raises(Conflict):
                await bot.get_updates(timeout=0)
            await bot.delete_webhook()
            assert await bot.get_updates(timeout=0) == ()

    asyncio.run(main())


def test_forum_topics_are_created_and_posted_into(telegram: TelegramStandIn) -> None:
    group = -1001234567890

    async def main() -> ForumTopic:
        async with telegram_bot(BOT_TOKEN, telegram.base_url) as bot:
            topic = await bot.create_forum_topic(chat_id=group, name="Awa (fr)")
            message = await bot.send_message(
                chat_id=group, text="relais", message_thread_id=topic.message_thread_id
            )
            assert message.message_thread_id == topic.message_thread_id
            assert await bot.edit_forum_topic(group, topic.message_thread_id, name="Awa ✓")
            assert await bot.close_forum_topic(group, topic.message_thread_id)
            return topic

    topic = asyncio.run(main())

    assert isinstance(topic, ForumTopic)
    assert topic.name == "Awa (fr)" and topic.icon_color == 7322096
    assert telegram.sent[0]["message_thread_id"] == topic.message_thread_id
    assert telegram.topics == [
        {
            "chat_id": group,
            "message_thread_id": topic.message_thread_id,
            "name": "Awa ✓",
            "icon_color": 7322096,
            "closed": True,
        }
    ]


def test_other_calls_the_channel_makes(telegram: TelegramStandIn) -> None:
    telegram.add_file("voice-1", b"OggS")

    async def main() -> None:
        async with telegram_bot(BOT_TOKEN, telegram.base_url) as bot:
            message = await bot.send_message(
                chat_id=777,
                text="?",
                reply_markup=InlineKeyboardMarkup(
                    [[InlineKeyboardButton("1", callback_data="b:1")]]
                ),
            )
            edited = await bot.edit_message_reply_markup(777, message.message_id)
            assert edited.reply_markup is None
            assert await bot.answer_callback_query("cq-1")
            assert await bot.send_chat_action(777, "typing")
            file = await bot.get_file("voice-1")
            assert bytes(await file.download_as_bytearray()) == b"OggS"

    asyncio.run(main())

    assert [c["method"] for c in telegram.calls][-5:] == [
        "sendMessage", "editMessageReplyMarkup", "answerCallbackQuery", "sendChatAction", "getFile"
    ]  # fmt: skip


def test_a_wrong_token_raises_invalid_token(telegram: TelegramStandIn) -> None:
    async def main() -> None:
        bot = telegram_bot("999:not-the-token", telegram.base_url)
        try:
            await bot.initialize()
        finally:
            await bot.shutdown()

    with pytest.raises(InvalidToken):
        asyncio.run(main())
    assert telegram.calls == []
