"""The three configurations :mod:`bot.server.bench` measures, and how each runs a turn:
stock ``rasa run`` over REST, ours over signed SMS webhooks (the end of a turn read from
the database)."""

from __future__ import annotations

import os
import random
import sys
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine
from twilio.request_validator import RequestValidator

from bot import PROJECT_ROOT
from bot.channels.sandbox import post
from bot.launcher import READY_TIMEOUT_S, LocalStack, StackError, http_json, port_in_use
from bot.server.supervisor import ServeStack, actions_command
from bot.settings import Settings
from bot.standins import Request, Response
from bot.standins.twilio import TwilioStandIn

ADMIN_POSTGRES = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/4"
PUBLIC_URL = "https://bench.example.org"
# What people write, in French and Spanish: questions with an answer; no emergency, no
# request for a person, no "yes" that could accept an offer of one.
MESSAGES = {
    "fr": ["bonjour", "c'est quoi la pilule", "j'ai oublié ma pilule", "et le preservatif ?",
           "c quoi l implant", "la pilule du lendemain c'est quoi",
           "comment savoir si je suis enceinte", "merci"],
    "es": ["hola", "que es el implante", "como funciona el condon", "y la inyeccion?",
           "olvide mi pastilla", "la pildora del dia despues que es",
           "como se si estoy embarazada", "gracias"],
}  # fmt: skip
TURN_TIMEOUT_S = 120.0
END_POLL_S = 0.01  # how often the end of our turns is looked for in the database
RSS_LIMIT_MB = 800.0  # the "0.8 GB per Rasa process", in MiB (conservative)
P95_LIMIT_MS = 300.0
THROUGHPUT_FACTOR = 3.0
PROFILE_RATE = 50


# -- what a turn is, whoever serves it -----------------------------------------------------


@dataclass(frozen=True)
class Conversation:
    """One person writing: her address (a phone, or a REST sender id) and her language."""

    number: int
    key: str
    language: str

    def text(self, turn: int) -> str:
        """Her ``turn``-th message: her language's list, cycled, each person from her own
        place in it (so that parallel turns differ)."""
        texts = MESSAGES[self.language]
        return texts[(self.number + turn) % len(texts)]


@dataclass(frozen=True)
class Turn:
    """One message's fate, in ``time.perf_counter()`` seconds."""

    sent: float
    first_reply: float | None  # ours: first SMS at the stand-in; stock: the REST answer
    ended: float | None  # when the next message may go (None: failed or timed out)
    error: str | None = None

    @property
    def latency_ms(self) -> float | None:
        return None if self.first_reply is None else (self.first_reply - self.sent) * 1000


class Target(Protocol):
    """A running configuration the load talks to."""

    def conversation(self, number: int) -> Conversation: ...

    def turn(self, conversation: Conversation, text: str) -> Turn: ...


def language_of(number: int) -> str:
    return "fr" if number % 2 == 0 else "es"


# -- stock Rasa --------------------------------------------------------------------------


class StockRasa(LocalStack):
    """``rasa run`` as Rasa ships it (REST channel, in-memory tracker and lock stores) with
    the project's action server and answers; ``--enable-api`` only for ``/status``."""

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="2",
                   PYTHONUNBUFFERED="1", SANIC_HOST="127.0.0.1",
                   LOCALES_DIR=str(PROJECT_ROOT / "locales"),
                   VAR_DIR=str(self.settings.var_dir.resolve()))  # fmt: skip
        return env

    def start(self) -> StockRasa:
        s = self.settings
        for port in (s.rasa_port, s.action_port):
            if port_in_use("127.0.0.1", port):
                raise StackError(f"Port {port} is taken.")
        s.var_dir.mkdir(parents=True, exist_ok=True)
        credentials = s.var_dir / "credentials.yml"
        credentials.write_text("rest:\n", encoding="utf-8")
        endpoints = s.var_dir / "endpoints.yml"
        endpoints.write_text(
            f"action_endpoint:\n  url: {s.action_url}\n\n"
            "nlg:\n  type: bot.i18n.nlg.CatalogNLG\n",
            encoding="utf-8",
        )
        rasa = Path(sys.executable).with_name("rasa")
        deadline = time.monotonic() + READY_TIMEOUT_S
        full = Settings(stack=s)
        self._start("actions", actions_command(full))
        self._start("rasa", [str(rasa), "run", "--model", str(s.model),
                             "--interface", "127.0.0.1", "--port", str(s.rasa_port),
                             "--credentials", str(credentials), "--endpoints", str(endpoints),
                             "--enable-api"])  # fmt: skip
        try:
            self._wait("actions", f"http://127.0.0.1:{s.action_port}/health", deadline)
            self._wait("rasa", f"{s.rasa_url}/status", deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def pid(self, name: str) -> int:
        return next(p.pid for n, p, _ in self._processes if n == name)


@dataclass
class StockTarget:
    stack: StockRasa

    def conversation(self, number: int) -> Conversation:
        return Conversation(number, f"bench-{number}", language_of(number))

    def turn(self, conversation: Conversation, text: str) -> Turn:
        url = f"{self.stack.settings.rasa_url}/webhooks/rest/webhook"
        sent = time.perf_counter()
        try:
            replies = http_json("POST", url, {"sender": conversation.key, "message": text},
                                timeout=TURN_TIMEOUT_S)  # fmt: skip
        except Exception as error:  # refused, timed out, 5xx: counted, not raised
            return Turn(sent, None, None, type(error).__name__)
        answered = time.perf_counter()
        return Turn(sent, answered if replies else None, answered)


# -- ours ----------------------------------------------------------------------------------


class RepliesSeen(TwilioStandIn):
    """The Twilio stand-in, noting when each SMS reached it, per phone: a turn's latency ends
    at its first reply (the stand-in itself stays as the tests use it)."""

    def __init__(self, account_sid: str, auth_token: str, **options: Any) -> None:
        super().__init__(account_sid, auth_token, **options)
        self._seen: dict[str, list[float]] = {}
        self._seen_lock = threading.Lock()

    def handle(self, request: Request) -> Response:
        answer = super().handle(request)
        if request.method == "POST" and answer.status == 201:
            at = time.perf_counter()
            phone = request.form().get("To", "")
            with self._seen_lock:
                self._seen.setdefault(phone, []).append(at)
        return answer

    def count(self, phone: str) -> int:
        with self._seen_lock:
            return len(self._seen.get(phone, ()))

    def arrival(self, phone: str, index: int) -> float | None:
        with self._seen_lock:
            seen = self._seen.get(phone, [])
            return seen[index] if index < len(seen) else None


class TurnEnds:
    """When our turns end: the webhook answers before the turn runs, and a turn's replies
    are all sent when its inbound row leaves ``received``/``processing``. One thread polls
    the rows of the messages still running (a few, by the unique provider id)."""

    def __init__(self, database: str) -> None:
        self._engine: Engine = create_engine(database, pool_size=1, max_overflow=0)
        self._pending: set[str] = set()
        self._ended: dict[str, tuple[float, str]] = {}
        self._changed = threading.Condition()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="turn ends", daemon=True)
        self._thread.start()

    def expect(self, sid: str) -> None:
        with self._changed:
            self._pending.add(sid)
            self._changed.notify_all()

    def wait(self, sid: str, timeout: float) -> tuple[float, str] | None:
        """When the turn of message ``sid`` was seen ended, and its status; None if not
        within ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while sid not in self._ended:
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping.is_set():
                    self._pending.discard(sid)
                    return None
                self._changed.wait(left)
            return self._ended.pop(sid)

    def _poll(self) -> None:
        query = text("SELECT provider_id, status FROM inbound_messages WHERE channel = 'sms' "
                     "AND provider_id = ANY(:ids) AND status NOT IN ('received', 'processing')")
        while not self._stopping.is_set():
            with self._changed:
                if not self._pending:
                    self._changed.wait(0.1)
                    continue
                ids = list(self._pending)
            try:
                with self._engine.connect() as db:
                    rows = db.execute(query, {"ids": ids}).all()
            except Exception:  # the database going away at the end: the waits time out
                rows = []
            at = time.perf_counter()
            if rows:
                with self._changed:
                    for sid, status in rows:
                        self._pending.discard(sid)
                        self._ended[sid] = (at, status)
                    self._changed.notify_all()
            time.sleep(END_POLL_S)

    def close(self) -> None:
        self._stopping.set()
        with self._changed:
            self._changed.notify_all()
        self._thread.join(timeout=5)
        self._engine.dispose()


@dataclass
class ServeTarget:
    stack: ServeStack
    twilio: RepliesSeen
    ends: TurnEnds
    auth_token: str
    account_sid: str
    our_number: str
    seed: int
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def conversation(self, number: int) -> Conversation:
        language = language_of(number)
        # Mali in French, Peru in Spanish: the phone's country gives her first language.
        phone = f"+223{70000000 + number}" if language == "fr" else f"+51{900000000 + number}"
        return Conversation(number, phone, language)

    def signed(self, phone: str, body: str) -> tuple[str, bytes, dict[str, str]]:
        """A Twilio webhook request, signed for ``PUBLIC_URL`` as Twilio signs it; its sid."""
        sid = "SM" + uuid.uuid4().hex
        params = {"MessageSid": sid, "AccountSid": self.account_sid, "From": phone,
                  "To": self.our_number, "Body": body, "NumMedia": "0"}  # fmt: skip
        signature = RequestValidator(self.auth_token).compute_signature(
            f"{PUBLIC_URL}/webhooks/sms/webhook", params
        )
        headers = {"X-Twilio-Signature": signature,
                   "Content-Type": "application/x-www-form-urlencoded"}  # fmt: skip
        return sid, urllib.parse.urlencode(params).encode(), headers

    def turn(self, conversation: Conversation, text: str, instance: int | None = None) -> Turn:
        phone = conversation.key
        sid, body, headers = self.signed(phone, text)
        if instance is None:
            instance = self._rng.randrange(self.stack.instances)
        before = self.twilio.count(phone)  # her previous turns have ended: their SMS are in
        url = f"{self.stack.url(instance)}/webhooks/sms/webhook"
        sent = time.perf_counter()
        try:
            status = post(url, body, headers)[0]
        except Exception as error:  # refused, reset
            return Turn(sent, None, None, type(error).__name__)
        if status != 200:
            return Turn(sent, None, None, f"HTTP {status}")
        self.ends.expect(sid)
        ended = self.ends.wait(sid, TURN_TIMEOUT_S)
        if ended is None:
            return Turn(sent, self.twilio.arrival(phone, before), None, "timeout")
        return Turn(sent, self.twilio.arrival(phone, before), ended[0],
                    None if ended[1] == "done" else ended[1])  # fmt: skip


# -- load ----------------------------------------------------------------------------------
