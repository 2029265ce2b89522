"""SMS and Telegram end to end, over HTTP: signed webhooks into the running Rasa server, the
replies observed at the local stand-ins of the Twilio and Bot APIs that the real ``twilio``
and ``python-telegram-bot`` clients call. Assertions compare with the catalogs' texts.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from bot.channels.phone import texting
from bot.channels.polling import PollingError, PollStats, poll
from bot.channels.sandbox import Sandbox
from bot.channels.sandbox import post as http
from bot.gsm7 import fold
from bot.i18n import Translator
from bot.launcher import LocalStack
from bot.privacy import NOTICE
from bot.settings import ChannelSettings
from tests.support.env import CHANNEL_ENV
from tests.support.handoff import conversation_of
from tests.support.standins import StandIns

pytestmark = pytest.mark.stack

TOKEN = CHANNEL_ENV["TWILIO_AUTH_TOKEN"]
SECRET = CHANNEL_ENV["TELEGRAM_WEBHOOK_SECRET"]


def sms_url(stack: LocalStack, path: str = "webhook") -> str:
    return f"{stack.settings.rasa_url}/webhooks/sms/{path}"


def post_sms(stack: LocalStack, params: dict[str, str], signature: str | None = None) -> int:
    url = sms_url(stack)
    if signature is None:
        signature = RequestValidator(TOKEN).compute_signature(url, params)
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if signature:
        headers["X-Twilio-Signature"] = signature
    return http(url, urllib.parse.urlencode(params).encode(), headers)[0]


def sms_params(phone: str, body: str, **extra: str) -> dict[str, str]:
    return {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": CHANNEL_ENV["TWILIO_ACCOUNT_SID"],
            "From": phone, "To": CHANNEL_ENV["TWILIO_FROM_NUMBER"], "Body": body,
            "NumMedia": "0", **extra}  # fmt: skip


def post_update(stack: LocalStack, update: dict[str, Any], secret: str = SECRET) -> int:
    """The webhook's status, 200 for any 2xx (Telegram only needs a 2xx)."""
    url = f"{stack.settings.rasa_url}/webhooks/telegram/webhook"
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret}
    status = http(url, json.dumps(update).encode(), headers)[0]
    return 200 if 200 <= status < 300 else status


def phone() -> str:
    return "+51" + str(uuid.uuid4().int)[:9]


def wait_for(found: Callable[[], list[Any]], count: int = 1, timeout: float = 20) -> list[Any]:
    """What ``found`` returns once it holds ``count`` items; fails after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = found()
        if len(items) >= count:
            return items
        time.sleep(0.1)
    raise AssertionError(f"expected {count} item(s), got {found()}")


def sms_to(standins: StandIns, number: str) -> list[str]:
    return [m["body"] for m in standins.twilio.messages if m["to"] == number]


def telegram_to(standins: StandIns, chat: int) -> list[dict[str, Any]]:
    return [m for m in standins.telegram.sent if str(m.get("chat_id")) == str(chat)]


def sms_text(language: str, key: str) -> str:
    return fold(Translator(language)(key))


class Update:
    """Telegram updates as the Bot API sends them, with increasing update ids."""

    def __init__(self) -> None:
        self.chat = int(str(uuid.uuid4().int)[:9])
        self.next_id = int(str(uuid.uuid4().int)[:8])

    def _base(self) -> dict[str, Any]:
        self.next_id += 1
        return {"update_id": self.next_id}

    def user(self) -> dict[str, Any]:
        return {"id": self.chat, "is_bot": False, "first_name": "Awa", "language_code": "fr"}

    def message(self, **content: Any) -> dict[str, Any]:
        chat = content.pop("chat", {"id": self.chat, "type": "private", "first_name": "Awa"})
        return {**self._base(), "message": {
            "message_id": self.next_id, "date": int(time.time()), "from": self.user(),
            "chat": chat, **content}}  # fmt: skip

    def button(self, data: str) -> dict[str, Any]:
        return {**self._base(), "callback_query": {
            "id": str(self.next_id), "from": self.user(), "chat_instance": "1", "data": data,
            "message": {"message_id": 1, "date": int(time.time()),
                        "chat": {"id": self.chat, "type": "private"}}}}  # fmt: skip


# -- SMS -----------------------------------------------------------------------------------


def test_an_sms_in_spanish_is_answered_in_spanish_by_sms(
    stack: LocalStack, standins: StandIns
) -> None:
    number = phone()
    assert post_sms(stack, sms_params(number, "hola, tengo una pregunta")) == 200
    replies = wait_for(lambda: sms_to(standins, number))
    assert replies[0].startswith(sms_text("es", "greet")[:40])
    # The menu went out as a numbered list, and every part is one GSM-7 segment.
    joined = "\n".join(wait_for(lambda: sms_to(standins, number), 2))
    assert "\n1. " in joined or joined.startswith("1. ")
    for body in sms_to(standins, number):
        assert body == fold(body) and len(body) <= 160


def test_a_number_reply_chooses_the_button_and_the_language_follows(
    stack: LocalStack, standins: StandIns
) -> None:
    number = "+223" + str(uuid.uuid4().int)[:8]
    post_sms(stack, sms_params(number, "bonjour"))
    wait_for(lambda: sms_to(standins, number))
    time.sleep(1.0)
    before = len(sms_to(standins, number))
    post_sms(stack, sms_params(number, "4"))  # Langue / Idioma / Kan
    menu = "\n".join(wait_for(lambda: sms_to(standins, number), before + 1)[before:])
    assert fold(Translator("fr")("language_menu")) in menu
    time.sleep(1.0)
    before = len(sms_to(standins, number))
    post_sms(stack, sms_params(number, "3"))  # Bamanankan
    changed = wait_for(lambda: sms_to(standins, number), before + 1)[before]
    assert changed.startswith(sms_text("bm", "language_changed")[:30])


def test_media_only_and_empty_sms_get_a_kind_answer(stack: LocalStack, standins: StandIns) -> None:
    number = phone()
    photo = sms_params(number, "", NumMedia="1", MediaContentType0="image/jpeg",
                       MediaUrl0="https://example.invalid/m.jpg")  # fmt: skip
    assert post_sms(stack, photo) == 200
    first = wait_for(lambda: sms_to(standins, number))
    assert first[0] == sms_text("fr", "media")[: len(first[0])]


def test_forged_unsigned_and_replayed_sms_send_nothing(
    stack: LocalStack, standins: StandIns
) -> None:
    number = phone()
    params = sms_params(number, "hola")
    assert post_sms(stack, params, signature="") == 403
    assert post_sms(stack, params, signature="bm90IGEgc2lnbmF0dXJl") == 403
    forged = RequestValidator("not-the-token").compute_signature(sms_url(stack), params)
    assert post_sms(stack, params, signature=forged) == 403
    tampered = {**params, "Body": "otra cosa"}
    good = RequestValidator(TOKEN).compute_signature(sms_url(stack), params)
    assert post_sms(stack, tampered, signature=good) == 403
    time.sleep(1.5)
    assert sms_to(standins, number) == []
    # The genuine request, delivered three times (Twilio retries): one turn.
    assert [post_sms(stack, params) for _ in range(3)] == [200, 200, 200]
    first = wait_for(lambda: sms_to(standins, number))
    time.sleep(2.0)
    greeting_parts = [b for b in sms_to(standins, number) if b.startswith(first[0][:20])]
    assert len(greeting_parts) == 1


def test_stop_in_french_stops_everything_and_start_resumes(
    stack: LocalStack, standins: StandIns
) -> None:
    number = "+33" + str(uuid.uuid4().int)[:9]
    post_sms(stack, sms_params(number, "ARRÊT"))
    assert wait_for(lambda: sms_to(standins, number)) == [sms_text("fr", "channel.opted_out")]
    post_sms(stack, sms_params(number, "bonjour"))
    post_sms(stack, sms_params(number, "j'ai oublié ma pilule"))
    time.sleep(3)
    assert len(sms_to(standins, number)) == 1
    post_sms(stack, sms_params(number, "START"))
    assert wait_for(lambda: sms_to(standins, number), 2)[1] == sms_text("fr", "channel.opted_in")


def test_help_in_spanish_says_how_to_stop_and_still_answers(
    stack: LocalStack, standins: StandIns
) -> None:
    number = phone()
    post_sms(stack, sms_params(number, "Ayuda"))
    replies = wait_for(lambda: sms_to(standins, number), 2)
    assert replies[0] == sms_text("es", "channel.how_to_stop")


def test_a_slash_before_danger_words_still_gets_the_emergency_answer(
    stack: LocalStack, standins: StandIns
) -> None:
    """"/greet je veux mourir" would be the intent greet for Rasa, without the safety
    check: by SMS it is read as words, and she gets the suicide answer."""
    number = "+336" + str(uuid.uuid4().int)[:8]  # France: French, whatever she writes
    post_sms(stack, sms_params(number, "/greet je veux mourir"))
    replies = wait_for(lambda: sms_to(standins, number), 1)
    first_sentences = sms_text("fr", "emergency.suicide").split(". ")[:3]
    assert replies[0].startswith(". ".join(first_sentences))


def test_twilio_21610_marks_the_contact_opted_out(
    stack: LocalStack, standins: StandIns, app_db: Callable[[str], list[tuple[Any, ...]]]
) -> None:
    number = phone()
    standins.twilio.block(number)
    post_sms(stack, sms_params(number, "hola"))

    def opted_out() -> list[Any]:
        rows = app_db("SELECT opted_out FROM contacts WHERE id = ?", conversation_of(number))
        return [r for r in rows if r[0]]

    wait_for(opted_out)
    assert sms_to(standins, number) == []


def test_delivery_reports_are_recorded(
    stack: LocalStack, standins: StandIns, app_db: Callable[[str], list[tuple[Any, ...]]]
) -> None:
    number = phone()
    post_sms(stack, sms_params(number, "gracias"))
    wait_for(lambda: sms_to(standins, number))
    sid = next(m["sid"] for m in standins.twilio.messages if m["to"] == number)
    url = sms_url(stack, "status")
    report = {"MessageSid": sid, "MessageStatus": "delivered",
              "AccountSid": CHANNEL_ENV["TWILIO_ACCOUNT_SID"]}  # fmt: skip
    unsigned = http(url, urllib.parse.urlencode(report).encode(), {})[0]
    assert unsigned == 403
    signature = RequestValidator(TOKEN).compute_signature(url, report)
    headers = {"X-Twilio-Signature": signature,
               "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
    assert http(url, urllib.parse.urlencode(report).encode(), headers)[0] in (200, 204)
    wait_for(
        lambda: app_db(
            "SELECT status FROM outbound_messages WHERE provider_id = ? AND status = 'delivered'",
            sid,
        )
    )


def test_no_phone_number_or_text_in_logs_or_tracker(stack: LocalStack, standins: StandIns) -> None:
    number = "+51" + "987" + str(uuid.uuid4().int)[:6]
    secret_text = "mi enamorado me pega " + uuid.uuid4().hex[:6]
    post_sms(stack, sms_params(number, secret_text))
    wait_for(lambda: sms_to(standins, number))
    time.sleep(1)
    logs = "".join(
        p.read_text(errors="replace") for p in (stack.settings.var_dir / "log").glob("*.log")
    )
    assert number not in logs and number[1:] not in logs
    assert secret_text not in logs
    with sqlite3.connect(stack.settings.tracker_db) as db:
        ids = [r[0] for r in db.execute("SELECT DISTINCT sender_id FROM events")]
    assert not any(number[1:] in i for i in ids)


# -- Telegram -------------------------------------------------------------------------------


def test_a_telegram_user_gets_an_inline_menu_and_a_button_works(
    stack: LocalStack, standins: StandIns
) -> None:
    user = Update()
    assert post_update(stack, user.message(text="/start")) == 200
    # The greeting with the menu, then (first contact) what is kept and how to erase it.
    sent = wait_for(lambda: telegram_to(standins, user.chat), 2)
    assert sent[1]["text"] == Translator("fr")(NOTICE, days=90)
    markup = sent[0]["reply_markup"]
    keyboard = json.loads(markup) if isinstance(markup, str) else markup
    buttons = [row[0] for row in keyboard["inline_keyboard"]]
    assert [b["callback_data"] for b in buttons] == [f"b:{n}" for n in range(1, 6)]
    before = len(telegram_to(standins, user.chat))
    assert post_update(stack, user.button("b:4")) == 200
    after = wait_for(lambda: telegram_to(standins, user.chat), before + 1)
    assert (
        after[before]["text"] == Translator("fr")("language_menu")
        or Translator("fr")("language_menu") in after[before]["text"]
    )
    assert any(c["method"].lower() == "answercallbackquery" for c in standins.telegram.calls)


def test_telegram_voice_sticker_and_groups(stack: LocalStack, standins: StandIns) -> None:
    user = Update()
    voice = user.message(voice={"file_id": "v", "file_unique_id": "v", "duration": 2})
    assert post_update(stack, voice) == 200
    assert wait_for(lambda: telegram_to(standins, user.chat))[0]["text"] == Translator("fr")(
        "media"
    )
    group = user.message(text="bonjour", chat={"id": -1001, "type": "supergroup", "title": "x"})
    assert post_update(stack, group) == 200
    time.sleep(1.5)
    assert telegram_to(standins, -1001) == []


def test_telegram_wrong_secret_malformed_and_replayed(
    stack: LocalStack, standins: StandIns
) -> None:
    user = Update()
    update = user.message(text="hola")
    assert post_update(stack, update, secret="wrong") == 403
    url = f"{stack.settings.rasa_url}/webhooks/telegram/webhook"
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    assert http(url, b"{not json", headers)[0] == 400
    assert http(url, b"[1, 2]", headers)[0] == 400
    time.sleep(1)
    assert telegram_to(standins, user.chat) == []
    assert [post_update(stack, update) for _ in range(3)] == [200, 200, 200]
    # One answer (and, a first contact, the notice of what is kept): never three.
    first = wait_for(lambda: telegram_to(standins, user.chat), 2)
    time.sleep(2)
    assert len(telegram_to(standins, user.chat)) == len(first) == 2


def test_a_long_telegram_reply_waits_after_429(stack: LocalStack, standins: StandIns) -> None:
    user = Update()
    standins.telegram.throttle(user.chat, retry_after=1, times=1)
    post_update(stack, user.message(text="bonjour"))
    assert wait_for(lambda: telegram_to(standins, user.chat), timeout=30)


def test_polling_forwards_updates_and_loses_none_while_the_webhook_is_down(
    stack: LocalStack, standins: StandIns
) -> None:
    user = Update()
    standins.telegram.queue_update(user.message(text="bonjour"))
    settings = ChannelSettings.from_env(
        {**CHANNEL_ENV, "TELEGRAM_API_BASE_URL": standins.telegram.base_url}
    )
    webhook = f"{stack.settings.rasa_url}/webhooks/telegram/webhook"

    async def run(url: str, until: Callable[[], bool], limit: float) -> PollStats:
        stop = asyncio.Event()
        task = asyncio.create_task(poll(settings, url, stop=stop, long_poll_s=1, retry_s=0.2))
        deadline = time.monotonic() + limit
        while not until() and time.monotonic() < deadline and not task.done():
            await asyncio.sleep(0.1)
        stop.set()
        return await task

    down = asyncio.run(run("http://127.0.0.1:9/nothing", lambda: False, 1.5))
    assert down.forwarded == 0 and telegram_to(standins, user.chat) == []
    up = asyncio.run(run(webhook, lambda: bool(telegram_to(standins, user.chat)), 30))
    assert up.forwarded == 1
    assert telegram_to(standins, user.chat)[0]["text"].startswith(Translator("fr")("greet")[:10])
    with pytest.raises(PollingError, match="secret"):
        standins.telegram.queue_update(user.message(text="encore"))
        wrong = ChannelSettings.from_env({**CHANNEL_ENV, "TELEGRAM_WEBHOOK_SECRET": "other",
                                          "TELEGRAM_API_BASE_URL": standins.telegram.base_url})
        asyncio.run(poll(wrong, webhook, long_poll_s=1))


def test_the_phone_command_texts_like_an_sms_user(stack: LocalStack, standins: StandIns) -> None:
    """``python -m bot phone``: a typed line goes out signed, the SMS replies come back."""
    box = Sandbox(stack, standins.twilio, standins.telegram, {**CHANNEL_ENV})
    lines = iter(["hola"])
    shown: list[str] = []

    def typed(prompt: str) -> str:
        try:
            return next(lines)
        except StopIteration:
            raise EOFError from None  # Ctrl-D after the last line

    texting(box, "+51" + str(uuid.uuid4().int)[:9], typed, shown.append)
    assert shown[0].startswith("[GSM-7, 1 segment(s)]")
    assert sms_text("es", "greet")[:20] in shown[0]


# -- anything at all -----------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    body=st.one_of(st.binary(max_size=2000), st.text(max_size=2000).map(str.encode),
                   st.dictionaries(st.text(max_size=20), st.text(max_size=50)).map(
                       lambda d: urllib.parse.urlencode(d).encode())),
    # Any value an HTTP client can put in a header (no control characters).
    signature=st.one_of(st.just(""), st.text(st.characters(min_codepoint=32, max_codepoint=255,
                                                           blacklist_categories=("Cc",)),
                                             max_size=40)),
    path=st.sampled_from(["sms/webhook", "sms/status", "telegram/webhook"]),
)  # fmt: skip
def test_random_requests_are_refused_and_send_nothing(
    stack: LocalStack, standins: StandIns, body: bytes, signature: str, path: str
) -> None:
    before = (len(standins.twilio.messages), len(standins.telegram.sent))
    headers = {"X-Twilio-Signature": signature,
               "X-Telegram-Bot-Api-Secret-Token": "nope"}  # fmt: skip
    status, *_ = http(f"{stack.settings.rasa_url}/webhooks/{path}", body, headers)
    assert status in (400, 403, 413)
    assert (len(standins.twilio.messages), len(standins.telegram.sent)) == before


def test_an_oversized_body_is_refused(stack: LocalStack) -> None:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    big = json.dumps({"update_id": 1, "message": {"text": "x" * 200_000}}).encode()
    status, *_ = http(f"{stack.settings.rasa_url}/webhooks/telegram/webhook", big, headers)
    assert status == 413
