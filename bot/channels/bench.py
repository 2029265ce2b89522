"""``python -m bot bench-channels``: how fast the webhooks answer while turns are running.

Starts the Twilio and Telegram stand-ins and the whole stack (:mod:`bot.channels.sandbox`),
then sends signed SMS webhooks and Telegram updates from many senders at a steady arrival
rate (Poisson, seeded), each in its own client thread so that no request waits for another,
and times each HTTP answer. Every message starts a real turn (NLU, policies, actions,
replies through the stand-ins) in the same server; how many turns were unfinished when each
request arrived is read from the database and reported beside the times, so the figure
says what load it was measured under. ``--rate`` high enough saturates the 2 cores: the
queue then shows in the times, which is the point of reporting the rate.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bot.channels.sandbox import Sandbox, post, sandbox

MESSAGES = ["hola", "olvide mi pastilla", "bonjour", "je suis enceinte", "i ni ce", "4", "1",
            "como dejo el terokal", "c quoi l implant", "n kɔnɔ bɛ wa"]  # fmt: skip


@dataclass(frozen=True)
class Sample:
    status: int
    seconds: float  # as the client saw it
    server_ms: float | None  # Server-Timing
    running: int  # unfinished turns when the request was sent


@dataclass
class BenchResult:
    rate: float
    acks: list[float]
    statuses: dict[int, int]
    in_flight: list[int]  # unfinished turns when each request arrived
    server_ms: list[float]  # the server's own time per acknowledgement (Server-Timing)
    replies: int

    def lines(self) -> list[str]:
        ms = [a * 1000 for a in self.acks]
        busy = sum(n > 0 for n in self.in_flight) / len(self.in_flight)
        return [
            f"webhook requests: {len(ms)} at {self.rate:g}/s (SMS and Telegram alternating), "
            f"statuses {self.statuses}",
            f"turns unfinished when a request arrived: mean {statistics.mean(self.in_flight):.1f},"
            f" max {max(self.in_flight)}; at least one for {busy:.0%} of the requests",
            f"acknowledgement ms, as the client saw it: {spread(ms)}",
            "  ... of the requests sent while turns were unfinished: "
            + spread([m for m, n in zip(ms, self.in_flight, strict=True) if n > 0]),
            f"acknowledgement ms, in the server (Server-Timing): {spread(self.server_ms)}",
            f"replies delivered to the stand-ins meanwhile: {self.replies}",
        ]


def spread(values: list[float]) -> str:
    """p50, p95 and max of timings, as the benchmarks print them."""
    if not values:
        return "no samples"
    ordered = sorted(values)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    return f"p50 {statistics.median(ordered):.1f}  p95 {p95:.1f}  max {ordered[-1]:.1f}"


def _warm_up(box: Sandbox) -> None:
    """One turn per language first: TensorFlow's first calls trace graphs (seconds), which
    says nothing about the steady state the benchmark is about."""
    for n, text in enumerate(["hola", "bonjour", "i ni ce"]):
        post(*box.sms_request(f"+5199999{n:04d}", text))
    deadline = time.monotonic() + 60
    while len(box.twilio.messages) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(1)


def run_bench(model: Path, rate: float = 4.0, count: int = 120, seed: int = 7) -> BenchResult:
    """``count`` messages at ``rate`` per second on average; the acknowledgement times."""
    chance = random.Random(seed)
    with sandbox(model, RATE_LIMIT_MESSAGES="1000") as box:
        database = box.stack.settings.var_dir / "app.db"

        def unfinished() -> int:
            try:
                with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
                    query = "SELECT count(*) FROM inbound_messages WHERE status IN (?, ?)"
                    return int(db.execute(query, ("received", "processing")).fetchone()[0])
            except sqlite3.Error:
                return 0

        _warm_up(box)
        replies_before = len(box.twilio.messages) + len(box.telegram.sent)
        jobs, at = [], 0.0
        for n in range(count):
            at += chance.expovariate(rate)
            text = MESSAGES[n % len(MESSAGES)]
            sender = n % 40  # 40 people writing, each several times
            request = (box.sms_request(f"+5190000{sender:04d}", text) if n % 2 == 0
                       else box.telegram_request(7000 + sender, 100_000 + n, text))  # fmt: skip
            jobs.append((at, request))
        start = time.perf_counter()

        def send(job: tuple[float, tuple[str, bytes, dict[str, str]]]) -> Sample:
            when, request = job
            time.sleep(max(0.0, start + when - time.perf_counter()))
            running = unfinished()
            status, seconds, server_ms = post(*request)
            return Sample(status, seconds, server_ms, running)

        with ThreadPoolExecutor(64) as pool:
            samples = list(pool.map(send, jobs))
        time.sleep(5)  # let the last turns reply before the stack stops
        replies = len(box.twilio.messages) + len(box.telegram.sent) - replies_before
    statuses: dict[int, int] = {}
    for sample in samples:
        statuses[sample.status] = statuses.get(sample.status, 0) + 1
    return BenchResult(
        rate,
        [s.seconds for s in samples],
        statuses,
        [s.running for s in samples],
        [s.server_ms for s in samples if s.server_ms is not None],
        replies,
    )
