"""Production mode for real: ``python -m bot serve``'s processes, two Rasa instances on the
local PostgreSQL (a database of their own) and Redis, the Twilio and Telegram stand-ins.

What a stranger can reach (the API only with its token, no REST or local channel, no body
over 1 MB), what an operator watches (health, metrics), and what users rely on: every SMS
answered once and in order, whichever instance Twilio's request reached, also when one
instance is killed mid-way and Twilio retries on the other.
"""

from __future__ import annotations

import http.client as http_client
import json
import random
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from twilio.request_validator import RequestValidator

from bot.channels.contacts import pseudonym
from bot.channels.sandbox import free_port
from bot.channels.sandbox import post as http
from bot.db.crypto import Keyring
from bot.server.bench import fresh_database, two_free_ports
from bot.server.supervisor import ServeStack
from bot.settings import Settings
from tests.support.env import CHANNEL_ENV, require_postgres
from tests.support.handoff import wait_for
from tests.support.standins import StandIns

TOKEN = "t" * 40  # RASA_API_TOKEN
KEY = "serve-test-pseudonym-key-of-32-bytes!"
DATA_KEY = "c2VydmUtdGVzdC1kYXRhLWtleS1vZi0zMi1ieXRlcyE="  # Fernet: 32 bytes, base64
KEYRING = Keyring([DATA_KEY.encode()])  # texts are encrypted at rest: read them with it
PUBLIC = "https://sante.example.org"
TWILIO_TOKEN = CHANNEL_ENV["TWILIO_AUTH_TOKEN"]
# What people write, in French and Spanish: questions with an answer, none of them an
# emergency, a request for a person, or a "yes" that could accept an offer of one.
TEXTS = ["bonjour", "c'est quoi la pilule", "et le preservatif ?", "merci", "hola",
         "que es el implante", "gracias", "je suis a Lyon", "y la inyeccion?",
         "la pilule du lendemain c'est quoi", "como funciona el condon"]


def redis_unavailable() -> str | None:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=3).close()
    except OSError as error:
        return f"Redis not listening on 127.0.0.1:6379: {error}"
    return None


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    """A PostgreSQL database of its own (the shared ``test`` one holds other tests' rows,
    which these instances' recovery would take for their own)."""
    admin_url = require_postgres()
    if redis_unavailable():
        pytest.skip(redis_unavailable() or "")
    with fresh_database(admin_url) as url:
        yield url


@pytest.fixture(scope="module")
def served(
    model_path: Path, tmp_path_factory: pytest.TempPathFactory, standins: StandIns,
    database: str,
) -> Iterator[ServeStack]:  # fmt: skip
    """``python -m bot serve --instances 2`` with production settings (stand-ins aside)."""
    var = tmp_path_factory.mktemp("serve")
    env = {
        **CHANNEL_ENV, "PSEUDONYM_KEY": KEY, "DATA_KEYS": DATA_KEY, "PUBLIC_URL": PUBLIC,
        "TELEGRAM_WEBHOOK_SECRET": "serve-test-webhook-secret",
        "TWILIO_API_BASE_URL": standins.twilio.base_url,
        "TELEGRAM_API_BASE_URL": standins.telegram.base_url,
        "DATABASE_URL": database, "TRACKER_STORE_URL": database,
        "LOCK_STORE_URL": "redis://127.0.0.1:6379/3", "RASA_API_TOKEN": TOKEN,
        "RASA_PORT": str(two_free_ports()), "ACTION_PORT": str(free_port()),
        "DASHBOARD_PORT": str(free_port()), "VAR_DIR": str(var),
        "MODEL_PATH": str(model_path), "INSTANCES": "2",
        "CONVERSATION_LEASE_S": "4", "RATE_LIMIT_MESSAGES": "100",
        "TELEGRAM_STAFF_PER_MINUTE": "100000",
    }  # fmt: skip
    settings = Settings.from_env(env)
    with ServeStack(settings, 2, env=env) as stack:
        yield stack


def url(stack: ServeStack, index: int, path: str) -> str:
    return f"{stack.url(index)}{path}"


def signed_sms(phone: str, body: str) -> tuple[bytes, dict[str, str]]:
    """A Twilio webhook request, signed for the public address Twilio calls."""
    params = {"MessageSid": "SM" + uuid.uuid4().hex,
              "AccountSid": CHANNEL_ENV["TWILIO_ACCOUNT_SID"], "From": phone,
              "To": CHANNEL_ENV["TWILIO_FROM_NUMBER"], "Body": body, "NumMedia": "0"}  # fmt: skip
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(
        f"{PUBLIC}/webhooks/sms/webhook", params
    )
    headers = {"X-Twilio-Signature": signature,
               "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
    return urllib.parse.urlencode(params).encode(), headers


def call(method: str, address: str, body: Any = None) -> int:
    data = b"" if body is None else json.dumps(body).encode()
    request = urllib.request.Request(address, data=data or None, method=method,
                                     headers={"Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


STATE_ROUTES = [
    ("GET", "/status"), ("GET", "/domain"),
    ("GET", "/conversations/sms-x/tracker"), ("GET", "/conversations/sms-x/story"),
    ("POST", "/conversations/sms-x/messages"), ("POST", "/conversations/sms-x/trigger_intent"),
    ("POST", "/conversations/sms-x/execute"), ("POST", "/conversations/sms-x/predict"),
    ("POST", "/conversations/sms-x/tracker/events"), ("PUT", "/conversations/sms-x/tracker/events"),
    ("POST", "/model/parse"), ("POST", "/model/predict"), ("POST", "/model/train"),
    ("PUT", "/model"), ("DELETE", "/model"),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path"), STATE_ROUTES)
def test_every_api_route_that_reads_or_changes_state_needs_the_token(
    served: ServeStack, method: str, path: str
) -> None:
    assert call(method, url(served, 0, path), {}) == 401
    wrong = "?token=" + "x" * 40
    assert call(method, url(served, 1, path + wrong), {}) == 401


def test_with_the_token_the_api_works(served: ServeStack) -> None:
    assert call("GET", url(served, 0, f"/status?token={TOKEN}")) == 200
    assert call("POST", url(served, 1, f"/model/parse?token={TOKEN}"), {"text": "hola"}) == 200


@pytest.mark.parametrize("path", ["/webhooks/rest/webhook", "/webhooks/local/webhook",
                                  "/webhooks/local/messages"])  # fmt: skip
def test_the_rest_and_local_channels_are_off(served: ServeStack, path: str) -> None:
    assert call("POST", url(served, 0, path), {"sender": "x", "message": "hola"}) == 404
    assert call("GET", url(served, 0, path)) == 404


def test_a_body_over_one_megabyte_is_refused_before_it_is_read(served: ServeStack) -> None:
    """413 from the header alone: the server answers while the client has sent no byte of
    the 3 MB it announced (it never buffers them)."""
    def answer(port: int, path: str, headers: dict[str, str]) -> str:
        """The server's first bytes after the request's head alone (no byte of its body:
        sending 3 MB to a server that already refused them races with its reset)."""
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode())
            return sock.recv(200).decode("latin-1")

    big = {"Content-Length": str(3 * 1024 * 1024),
           "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
    for path in ("/webhooks/sms/webhook", f"/model/parse?token={TOKEN}"):
        found = answer(served.settings.rasa_port, path, big)
        assert found.startswith("HTTP/1.1 413"), found
    body, headers = signed_sms("+51900100000", "x" * (3 * 1024 * 1024))  # signed, on instance 1
    signed = {**headers, "Content-Length": str(len(body))}
    found = answer(urllib.parse.urlsplit(served.url(1)).port or 0, "/webhooks/sms/webhook", signed)
    assert found.startswith("HTTP/1.1 413"), found


def test_the_staff_dashboard_runs_beside_the_instances(served: ServeStack) -> None:
    """Serve mode starts the dashboard on loopback (nginx passes /staff/ to it); its cookies
    are for HTTPS only, the proxy's."""
    with urllib.request.urlopen(f"{served.dashboard_url}/staff/login", timeout=10) as answer:
        assert answer.status == 200
        assert "secure" in answer.headers["Set-Cookie"].lower()


def test_health_and_metrics(served: ServeStack) -> None:
    assert call("GET", url(served, 0, "/health/live")) == 200
    for index in (0, 1):
        ready = served.ready(index)
        assert ready["status"] == "ready"
        assert ready["checks"] == {"database": "ok", "model": "ok", "tracker_store": "ok",
                                   "action_server": "ok", "redis": "ok"}  # fmt: skip
    phone = "+51900100001"
    body, headers = signed_sms(phone, "hola")
    assert http(url(served, 0, "/webhooks/sms/webhook"), body, headers)[0] == 200
    wait_for(lambda: served_messages(phone), timeout=60)

    def scrape() -> str:
        with urllib.request.urlopen(url(served, 0, "/metrics"), timeout=10) as answer:
            return str(answer.read().decode())

    # The reply goes out during the turn; the turn is counted when it ends.
    metrics = wait_for(lambda: (lambda m: m if 'outcome="done"' in m else "")(scrape()))
    assert 'sante_turns_total{channel="sms",outcome="done"}' in metrics
    assert 'sante_webhook_acks_total{channel="sms",status="200"}' in metrics
    for name in ("sante_turn_seconds_bucket", "sante_inbound_queue", "sante_outbox_backlog",
                 "sante_handoffs_waiting", "sante_handoff_oldest_wait_seconds",
                 "sante_notices_due", "sante_outbox_failed_24h"):  # fmt: skip
        assert name in metrics
    assert "sms-" not in metrics and "900100001" not in metrics and "hola" not in metrics


_STANDINS: list[StandIns] = []


@pytest.fixture(autouse=True)
def _keep_standins(standins: StandIns) -> None:
    _STANDINS[:] = [standins]


def served_messages(phone: str) -> list[str]:
    return [m["body"] for m in _STANDINS[0].twilio.messages if m["to"] == phone]


def tracker(stack: ServeStack, phone: str) -> dict[str, Any]:
    conversation = pseudonym(KEY.encode(), "sms", phone)
    with urllib.request.urlopen(url(stack, 0, f"/conversations/{conversation}/tracker"
                                              f"?token={TOKEN}"), timeout=30) as answer:
        return json.loads(answer.read())  # type: ignore[no-any-return]


def conversation_texts(stack: ServeStack, phone: str) -> tuple[list[str], int, list[str]]:
    """Her messages as the tracker has them, how many bot messages follow them, and the
    ids of her messages (each must appear once)."""
    events = tracker(stack, phone)["events"]
    users = [e for e in events if e["event"] == "user"]
    bots = [e for e in events if e["event"] == "bot"]
    return [e["text"] for e in users], len(bots), [e["message_id"] for e in users]


def answered_in_order(stack: ServeStack, phone: str) -> bool:
    """Each of her messages in the tracker is followed by an answer before her next one."""
    kinds = [e["event"] for e in tracker(stack, phone)["events"] if e["event"] in ("user", "bot")]
    return all("b" in turn for turn in "".join(k[0] for k in kinds).split("u")[1:])


def sent_rows(stack: ServeStack, phone: str) -> list[tuple[str, str]]:
    """What our outbox recorded for her (text, status), in order: one row per SMS part."""
    engine = create_engine(stack.full.database_url)
    try:
        with engine.connect() as db:
            return [(KEYRING.decrypt(t), s) for t, s in db.execute(text(
                "SELECT text, status FROM outbound_messages WHERE conversation_id = :c "
                "ORDER BY id"), {"c": pseudonym(KEY.encode(), "sms", phone)})]  # fmt: skip
    finally:
        engine.dispose()


def send_all(stack: ServeStack, scripts: dict[str, list[str]], kill_after: int | None = None
             ) -> dict[str, int]:  # fmt: skip
    """Every conversation's messages in order (each after the previous one's acknowledgement,
    as a phone sends them), conversations in parallel, each message to a random instance.
    With ``kill_after``: instance 1 is SIGKILLed after that many messages, and whatever it
    did not acknowledge is sent again to instance 0, as Twilio retries."""
    sent = {"count": 0, "retried": 0}
    lock = threading.Lock()
    killed = threading.Event()

    def post(index: int, body: bytes, headers: dict[str, str]) -> int:
        try:
            return http(url(stack, index, "/webhooks/sms/webhook"), body, headers)[0]
        except (OSError, http_client.HTTPException):  # refused, reset, no answer
            return 0

    def conversation(phone: str, texts: list[str], seed: int) -> None:
        rng = random.Random(seed)
        for body_text in texts:
            body, headers = signed_sms(phone, body_text)
            index = rng.choice((0, 1))
            status = 0 if index == 1 and killed.is_set() else post(index, body, headers)
            if status != 200:  # Twilio got no answer: it retries, here on the live one
                assert index == 1 and kill_after is not None, status
                with lock:
                    sent["retried"] += 1
                status = post(0, body, headers)
            assert status == 200
            with lock:
                sent["count"] += 1
                if kill_after is not None and sent["count"] == kill_after:
                    stack.kill_one("rasa-1")
                    killed.set()
            time.sleep(rng.uniform(0, 0.3))

    with ThreadPoolExecutor(len(scripts)) as pool:
        runs = [pool.submit(conversation, phone, texts, n)
                for n, (phone, texts) in enumerate(scripts.items())]  # fmt: skip
    for run in runs:
        run.result()  # a failed thread fails the test
    return sent


def scripts(prefix: str) -> dict[str, list[str]]:
    rng = random.Random(prefix)
    return {f"+51{prefix}{n:05d}": [rng.choice(TEXTS) + f" {i}" for i in range(10)]
            for n in range(30)}  # fmt: skip


def test_two_instances_answer_every_message_once_and_in_order(served: ServeStack) -> None:
    script = scripts("9002")
    assert send_all(served, script)["count"] == 300
    for phone in script:
        wait_for(lambda p=phone: len(conversation_texts(served, p)[0]) >= 10, timeout=120)
    time.sleep(2)
    for phone, texts in script.items():
        users, bots, ids = conversation_texts(served, phone)
        assert users == texts  # once each, in the order she sent them
        assert len(set(ids)) == 10 and bots >= 10
        assert answered_in_order(served, phone)
        # Every SMS part the turns wrote went out once, in order (no turn ran twice).
        assert served_messages(phone) == [t for t, _ in sent_rows(served, phone)]


def test_an_instance_killed_mid_way_loses_nothing_and_answers_nothing_twice(
    served: ServeStack,
) -> None:
    """Instance 1 dies (SIGKILL) a third of the way; Twilio's retries go to instance 0.
    Every message is stored once; each gets its turn once, or, when the kill cut its turn
    off, the safety check and the apology; instance 0 takes the dead one's conversations
    once their leases (4 s here) run out. Then instance 1 comes back and serves again."""
    script = scripts("9003")
    sent = send_all(served, script, kill_after=100)
    assert sent["count"] == 300
    conversations = {pseudonym(KEY.encode(), "sms", p): p for p in script}
    engine = create_engine(served.full.database_url)

    def unanswered() -> int:
        with engine.connect() as db:
            return int(db.scalar(text(
                "SELECT count(*) FROM inbound_messages WHERE status IN "
                "('received', 'processing') AND conversation_id = ANY(:ids)"
            ), {"ids": list(conversations)}) or 0)  # fmt: skip

    wait_for(lambda: unanswered() == 0, timeout=150)  # 90 s timed out once on a busy CI run
    with engine.connect() as db:
        rows = db.execute(text(
            "SELECT conversation_id, status, text FROM inbound_messages "
            "WHERE conversation_id = ANY(:ids) ORDER BY id"
        ), {"ids": list(conversations)}).all()  # fmt: skip
    engine.dispose()
    assert len(rows) == 300  # nothing lost, no retry stored twice
    assert {status for _, status, _ in rows} <= {"done", "interrupted"}
    cut_off = {(c, KEYRING.decrypt(t) if t else t) for c, status, t in rows
               if status == "interrupted"}  # fmt: skip
    assert len(cut_off) <= 30  # only turns the kill cut off (at most one per conversation)
    for conversation, phone in conversations.items():
        users, _, ids = conversation_texts(served, phone)
        assert len(ids) == len(set(ids))  # no message had two turns
        assert users == [t for t in script[phone] if t in users]  # in the order she sent
        # Every message had its turn but those the kill cut off (their turn may have run).
        assert set(script[phone]) - set(users) <= {t for c, t in cut_off if c == conversation}
        rows = sent_rows(served, phone)
        if not any(c == conversation for c, _ in cut_off):
            assert answered_in_order(served, phone)
            assert served_messages(phone) == [t for t, _ in rows]
        else:  # each SMS sent has its row, once (the kill may fall between the two)
            assert not Counter(served_messages(phone)) - Counter(t for t, _ in rows)
    served.restart("rasa-1")
    assert served.ready(1)["status"] == "ready"
    body, headers = signed_sms("+51900399999", "hola")
    assert http(url(served, 1, "/webhooks/sms/webhook"), body, headers)[0] == 200
    wait_for(lambda: served_messages("+51900399999"), timeout=60)
