"""``python -m bot bench-handoff``: from a user's request to the counsellors' notification.

Starts the stand-ins and the whole stack (:mod:`bot.channels.sandbox`, the sandbox's
counsellors always on duty), then users ask for a person at a steady arrival rate (Poisson,
seeded), alternating SMS and Telegram, French and Spanish. Each request is a real turn (NLU,
rules, the action opening the handoff) and the notification is what a counsellor receives:
the forum topic created in the staff group, and the SMS to counsellors on duty. Times are
taken from the stand-ins' own clocks (same machine) against the moment the webhook was
called, so they include the webhook, the turn, the action server and the relay.
"""

from __future__ import annotations

import random
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bot.channels.bench import spread
from bot.channels.contacts import pseudonym
from bot.channels.sandbox import ENV, Sandbox, post, sandbox

ASK = {"fr": "je veux parler a quelqu un", "es": "quiero hablar con una persona"}


@dataclass
class HandoffBench:
    """How fast requests for a person reach the staff (``make bench-handoff``)."""

    rate: float
    topic_ms: list[float]
    sms_ms: list[float]
    missing: int

    def lines(self) -> list[str]:
        """The report, one line per measure."""
        first = [min(pair) for pair in zip(self.topic_ms, self.sms_ms, strict=True)]
        return [
            f"requests for a person: {len(self.topic_ms) + self.missing} at {self.rate:g}/s "
            f"(SMS and Telegram users, fr and es); not notified within 30 s: {self.missing}",
            f"request -> first notification ms: {spread(first)}",
            f"request -> staff-group topic ms:  {spread(self.topic_ms)}",
            f"request -> counsellor SMS ms:     {spread(self.sms_ms)}",
        ]


def _handoff_id(database: Path, address: str) -> int | None:
    """The newest handoff of an address, read-only from the sandbox's database (by her
    conversation id: addresses are encrypted there)."""
    key = ENV["PSEUDONYM_KEY"].encode()
    ids = (pseudonym(key, "sms", address), pseudonym(key, "telegram", address))
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        row = db.execute(
            "SELECT id FROM handoffs WHERE conversation_id IN (?, ?) ORDER BY id DESC", ids
        ).fetchone()  # fmt: skip
    return int(row[0]) if row else None


def _notified(box: Sandbox, handoff_id: int) -> tuple[float, float] | None:
    """When the topic was created and the first counsellor SMS sent (stand-in clocks)."""
    topic = next((c["at"] for c in box.telegram.calls if c["method"].lower() ==
                  "createforumtopic" and str(c["params"].get("name", "")).startswith(
                      f"#{handoff_id} ")), None)  # fmt: skip
    sms = next((msg["at"] for msg in box.twilio.messages if f"TAKE {handoff_id}" in
                msg["body"]), None)  # fmt: skip
    return (topic, sms) if topic is not None and sms is not None else None


def _warm_up(box: Sandbox) -> None:
    """A first handoff per channel: TensorFlow traces its graphs on the first calls."""
    post(*box.sms_request("+51999990001", ASK["es"]))
    post(*box.telegram_request(6_999_001, 1, ASK["fr"]))
    deadline = time.monotonic() + 90
    while len(box.telegram.topics) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)


def run_bench(model: Path, rate: float = 0.5, count: int = 40, seed: int = 11) -> HandoffBench:
    """``count`` requests at ``rate`` per second (Poisson arrivals), half by SMS and
    half by Telegram: how long until the topic and the counsellor's SMS."""
    chance = random.Random(seed)
    with sandbox(model, RATE_LIMIT_MESSAGES="1000", TELEGRAM_STAFF_PER_MINUTE="100000") as box:
        database = box.stack.settings.var_dir / "app.db"
        _warm_up(box)
        jobs, at = [], 0.0
        for n in range(count):
            at += chance.expovariate(rate)
            language = "fr" if n % 4 < 2 else "es"
            if n % 2 == 0:
                address = f"+2237500{n:04d}"
                request = box.sms_request(address, ASK[language])
            else:
                address = str(6_000_000 + n)
                request = box.telegram_request(int(address), 200_000 + n, ASK[language])
            jobs.append((at, address, request))
        start = time.perf_counter()

        def send(job: tuple[float, str, tuple[str, bytes, dict[str, str]]]) -> tuple[str, float]:
            when, address, request = job
            time.sleep(max(0.0, start + when - time.perf_counter()))
            sent_at = time.time()
            post(*request)
            return address, sent_at

        with ThreadPoolExecutor(32) as pool:
            sent = list(pool.map(send, jobs))
        topic_ms, sms_ms, missing = [], [], 0
        for address, sent_at in sent:
            deadline, found = time.monotonic() + 30, None
            while found is None and time.monotonic() < deadline:
                handoff_id = _handoff_id(database, address)
                found = _notified(box, handoff_id) if handoff_id else None
                if found is None:
                    time.sleep(0.1)
            if found is None:
                missing += 1
                continue
            topic_ms.append((found[0] - sent_at) * 1000)
            sms_ms.append((found[1] - sent_at) * 1000)
    return HandoffBench(rate, topic_ms, sms_ms, missing)
