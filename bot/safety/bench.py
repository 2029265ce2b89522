"""``python -m bot bench-safety``: an emergency written while a counsellor holds the
conversation, to the user's numbers (and to the counsellor's warning).

Starts the stand-ins and the whole stack (:mod:`bot.channels.sandbox`), hands ``count`` SMS
users (Mali in French, Peru in Spanish) to SMS counsellors, then each writes an emergency,
at a steady arrival rate (Poisson, seeded), while each also sends an ordinary message that
is relayed. Times are taken from the Twilio stand-in's clock against the moment the webhook
was called: webhook, gate, safety check, warning, the fixed reply and the numbers.
"""

from __future__ import annotations

import functools
import random
import re
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bot.channels.bench import spread
from bot.channels.contacts import pseudonym
from bot.channels.sandbox import ENV, Sandbox, post, sandbox
from bot.gsm7 import encode
from bot.safety import numbers_line

T = TypeVar("T")
ASK = {"fr": "je veux parler a quelqu un", "es": "quiero hablar con una persona"}


@dataclass(frozen=True)
class Profile:
    language: str
    prefix: str  # her phone's, which tells her country
    country: str
    counsellor: str  # an SMS counsellor of the sandbox who speaks her language
    emergency: str
    ordinary: str


PROFILES = (
    Profile("fr", "+2237800", "ML", "+33700000101", "je veux mourir ce soir", "tu es la ?"),
    Profile("es", "+5190900", "PE", "+51900000101", "me quiero matar", "sigues ahi?"),
)


@dataclass(frozen=True)
class User:
    profile: Profile
    phone: str
    handoff: int


@dataclass
class SafetyBench:
    rate: float
    numbers_ms: list[float]
    warning_ms: list[float]
    missing: int

    def lines(self) -> list[str]:
        return [
            f"emergencies while a counsellor holds the conversation: "
            f"{len(self.numbers_ms) + self.missing} at {self.rate:g}/s, as many ordinary "
            f"messages relayed meanwhile; no numbers within 30 s: {self.missing}",
            f"emergency -> her numbers ms:        {spread(self.numbers_ms)}",
            f"emergency -> counsellor warned ms:  {spread(self.warning_ms)}",
        ]


def _wait(check: Callable[[], T | None], timeout: float = 60.0) -> T | None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    return None


def _handoff(database: Path, phone: str, held: bool) -> int | None:
    """Her open handoff (``held``: once a counsellor holds it), by her conversation id
    (addresses are encrypted in the database)."""
    conversation = pseudonym(ENV["PSEUDONYM_KEY"].encode(), "sms", phone)
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        row = db.execute(
            "SELECT id FROM handoffs WHERE conversation_id = ? AND closed_at IS NULL"
            + (" AND counsellor_id IS NOT NULL" if held else ""), (conversation,),
        ).fetchone()  # fmt: skip
    return int(row[0]) if row else None


def _hand_over(box: Sandbox, count: int) -> list[User]:
    """``count`` users, each with a counsellor holding her conversation."""
    database = box.stack.settings.var_dir / "app.db"
    users = []
    for n in range(count):
        profile = PROFILES[n % len(PROFILES)]
        phone = f"{profile.prefix}{n:04d}"
        post(*box.sms_request(phone, ASK[profile.language]))
        handoff = _wait(functools.partial(_handoff, database, phone, held=False))
        if handoff is None:
            raise RuntimeError("a request for a person opened no handoff within 60 s")
        post(*box.sms_request(profile.counsellor, f"TAKE {handoff}"))
        if _wait(functools.partial(_handoff, database, phone, held=True)) is None:
            raise RuntimeError("a counsellor's TAKE was not applied within 60 s")
        users.append(User(profile, phone, handoff))
    return users


def _equal_to(text: str) -> Callable[[str], bool]:
    return lambda body: body == text


def _matching(pattern: re.Pattern[str]) -> Callable[[str], bool]:
    return lambda body: bool(pattern.search(body))


def _first_at(box: Sandbox, to: str, since: float, match: Callable[[str], bool]) -> float | None:
    return next((m["at"] for m in box.twilio.messages
                 if m["to"] == to and m["at"] >= since and match(m["body"])), None)  # fmt: skip


def run_bench(model: Path, rate: float = 1.0, count: int = 20, seed: int = 7) -> SafetyBench:
    chance = random.Random(seed)
    with sandbox(model, RATE_LIMIT_MESSAGES="1000", TELEGRAM_STAFF_PER_MINUTE="100000") as box:
        users = _hand_over(box, count)
        jobs, at = [], 0.0
        for user in users:
            at += chance.expovariate(rate)
            jobs.append((at, user, True))  # her emergency
            jobs.append((at + chance.random() / rate, user, False))  # and ordinary chatter
        start = time.perf_counter()

        def send(job: tuple[float, User, bool]) -> tuple[User, bool, float]:
            when, user, emergency = job
            time.sleep(max(0.0, start + when - time.perf_counter()))
            sent_at = time.time()
            text = user.profile.emergency if emergency else user.profile.ordinary
            post(*box.sms_request(user.phone, text))
            return user, emergency, sent_at

        with ThreadPoolExecutor(16) as pool:
            sent = [(user, at) for user, emergency, at in pool.map(send, jobs) if emergency]
        numbers_ms, warning_ms, missing = [], [], 0
        for user, sent_at in sent:
            profile = user.profile
            line = encode(numbers_line("suicide", profile.language, profile.country)).text
            found = _wait(
                functools.partial(_first_at, box, user.phone, sent_at, _equal_to(line)), timeout=30
            )
            if found is None:
                missing += 1
                continue
            numbers_ms.append((found - sent_at) * 1000)
            mark = re.compile(rf"#{user.handoff}\b(?!:)")  # the warning, not her relayed words
            warned = _first_at(box, profile.counsellor, sent_at, _matching(mark))
            if warned is not None:
                warning_ms.append((warned - sent_at) * 1000)
    return SafetyBench(rate, numbers_ms, warning_ms, missing)
