"""``python -m bot bench-compare``: stock ``rasa run`` against our serve mode, one model,
one machine, one run.

Issue 14's targets are claims about this comparison (3× stock's throughput, p95 under 0.3 s
at the load stock sustains, under 0.8 GB per Rasa process), so the three configurations are
measured the same way, one after the other (never two stacks at once on the 2 cores):

- **stock**: ``rasa run`` with the REST channel only and Rasa's in-memory stores, the
  project's action server and answers (:class:`~bot.i18n.nlg.CatalogNLG`); a turn is one
  ``POST /webhooks/rest/webhook``, its answer in the response;
- **ours, 1 and 2 instances**: :class:`~bot.server.supervisor.ServeStack` with production
  settings on a fresh PostgreSQL database and Redis, the Twilio and Telegram stand-ins; a
  turn is one signed SMS webhook (to a random instance), its latency the time until the
  first reply SMS reaches the Twilio stand-in. The webhook answers before the turn runs, so
  the end of a turn (when the next message of a closed-loop user goes) is read from the
  message's row in the database.

For each: the time to ready (model load included); closed-loop throughput (C users, each
her own conversation, sending her next message when the previous turn ended); latency under
open-loop Poisson arrivals at the rate stock sustained; the RSS of each server process after
the load. py-spy samples our single instance during its closed loop.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import socket
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bot import PROJECT_ROOT
from bot.channels.sandbox import ENV as SANDBOX_ENV
from bot.channels.sandbox import free_port
from bot.db.crypto import new_key
from bot.launcher import StackError, port_in_use
from bot.server import checks
from bot.server.bench.load import (
    LoadFigures,
    Profile,
    Profiler,
    closed_loop,
    group_rss_mb,
    largest_rss_mb,
    open_loop,
    percentile,
)
from bot.server.bench.targets import (
    ADMIN_POSTGRES,
    END_POLL_S,
    MESSAGES,
    P95_LIMIT_MS,
    PROFILE_RATE,
    PUBLIC_URL,
    REDIS,
    RSS_LIMIT_MB,
    THROUGHPUT_FACTOR,
    RepliesSeen,
    ServeTarget,
    StockRasa,
    StockTarget,
    Target,
    TurnEnds,
    language_of,
)
from bot.server.supervisor import STOP_TIMEOUT_S, ServeStack
from bot.settings import Settings, StackSettings, settings_from_env
from bot.standins.telegram import TelegramStandIn
from bot.standins.twilio import TwilioStandIn


@dataclass
class Options:
    """The command's options (``--clients``, ``--seconds``...)."""

    model: Path
    clients: int = 8
    seconds: float = 30.0
    warmup: float = 5.0
    instances: tuple[int, ...] = (1, 2)
    stock: bool = True
    rate: float | None = None  # open-loop rate; default: stock's closed-loop throughput
    conversations: int = 50
    postgres: str = ADMIN_POSTGRES
    redis: str = REDIS
    profile: bool = True
    seed: int = 14
    bench_dir: Path = field(default_factory=lambda: settings_from_env().stack.var_dir / "bench")


@dataclass
class ConfigResult:
    """One row of the table."""

    name: str
    ready_s: float | None = None
    closed: LoadFigures | None = None
    open: LoadFigures | None = None
    rasa_rss_mb: list[float] = field(default_factory=list)
    actions_rss_mb: float | None = None
    statuses: dict[str, int] = field(default_factory=dict)  # ours: inbound rows by status
    handoffs: int | None = None  # ours: handoffs opened (the messages ask for none)
    error: str | None = None


def _measure(result: ConfigResult, target: Target, options: Options, stop: threading.Event,
             warm: Callable[[], None], rate: Callable[[], float],
             profiler: Profiler | None = None) -> None:  # fmt: skip
    """Warm-up, closed loop, open loop: the same for every configuration."""
    warm()
    users = [target.conversation(n) for n in range(options.clients)]
    if options.warmup > 0:
        closed_loop(target, users, options.warmup, stop)
    result.closed = closed_loop(target, users, options.seconds, stop,
                                on_start=profiler.start if profiler else None)  # fmt: skip
    result.open = open_loop(target, rate(), options.seconds, options.conversations, 2000,
                            options.seed, stop)  # fmt: skip


def _fresh_dir(path: Path) -> Path:
    """A configuration's own folder under var/bench, emptied: its logs are this run's."""
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def run_stock(options: Options, stop: threading.Event) -> ConfigResult:
    """Stock ``rasa run``: its figures, and its closed-loop throughput as the open-loop rate."""
    result = ConfigResult("stock rasa run")
    settings = StackSettings(rasa_port=free_port(), action_port=free_port(),
                             var_dir=_fresh_dir(options.bench_dir / "stock"),
                             model=options.model)  # fmt: skip
    stack = StockRasa(settings)
    started = time.perf_counter()
    try:
        stack.start()
        result.ready_s = time.perf_counter() - started
        target = StockTarget(stack)

        def warm() -> None:
            for n in range(2):  # one turn per language: TensorFlow traces its graphs first
                target.turn(target.conversation(1000 + n), MESSAGES[language_of(n)][1])

        def rate() -> float:
            closed = result.closed
            return options.rate or (closed.throughput if closed and closed.throughput else 1.0)

        _measure(result, target, options, stop, warm, rate)
        result.rasa_rss_mb = [largest_rss_mb(stack.pid("rasa"))]
        result.actions_rss_mb = group_rss_mb(stack.pid("actions"))
    except StackError as error:
        result.error = str(error)
    finally:
        stack.stop()
    return result


def _reachable(url: str, default_port: int) -> str | None:
    parts = urllib.parse.urlsplit(url.replace("+psycopg2", ""))
    host, port = parts.hostname or "127.0.0.1", parts.port or default_port
    try:
        socket.create_connection((host, port), timeout=3).close()
    except OSError as error:
        return f"nothing listens on {host}:{port} ({type(error).__name__})"
    return None


@contextmanager
def fresh_database(admin_url: str) -> Iterator[str]:
    """A PostgreSQL database of its own for one configuration, dropped afterwards (even
    with connections left open)."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def two_free_ports() -> int:
    """A free port whose next one is free too (instance 2 listens on RASA_PORT + 1)."""
    for _ in range(50):
        port = free_port()
        if not port_in_use("127.0.0.1", port + 1):
            return port
    raise StackError("no two consecutive free ports")


def serve_env(database: str, redis: str, instances: int, var_dir: Path, model: Path,
              twilio: TwilioStandIn, telegram: TelegramStandIn) -> dict[str, str]:  # fmt: skip
    """Production settings (what ``make serve`` checks), the providers being stand-ins."""
    return {
        **SANDBOX_ENV, "PSEUDONYM_KEY": secrets.token_urlsafe(32), "PUBLIC_URL": PUBLIC_URL,
        "DATA_KEYS": new_key(),  # serve refuses to store texts in plaintext
        "TELEGRAM_WEBHOOK_SECRET": secrets.token_urlsafe(24),
        "RASA_API_TOKEN": secrets.token_urlsafe(32),
        "TWILIO_API_BASE_URL": twilio.base_url, "TELEGRAM_API_BASE_URL": telegram.base_url,
        "DATABASE_URL": database, "TRACKER_STORE_URL": database, "LOCK_STORE_URL": redis,
        "RASA_PORT": str(two_free_ports() if instances > 1 else free_port()),
        "ACTION_PORT": str(free_port()), "VAR_DIR": str(var_dir), "MODEL_PATH": str(model),
        "INSTANCES": str(instances), "RATE_LIMIT_MESSAGES": "100000",
        "TELEGRAM_STAFF_PER_MINUTE": "100000", "LOCALES_DIR": str(PROJECT_ROOT / "locales"),
    }  # fmt: skip


def _rows_by_status(database: str) -> tuple[dict[str, int], int]:
    engine = create_engine(database)
    try:
        with engine.connect() as db:
            statuses = {s: int(n) for s, n in db.execute(text(
                "SELECT status, count(*) FROM inbound_messages GROUP BY status"))}  # fmt: skip
            handoffs = int(db.execute(text("SELECT count(*) FROM handoffs")).scalar() or 0)
    finally:
        engine.dispose()
    return statuses, handoffs


def run_serve(options: Options, instances: int, stop: threading.Event,
              rate: Callable[[], float]) -> tuple[ConfigResult, Profile | None]:  # fmt: skip
    """Serve mode with ``instances`` Rasa processes on a database of its own (dropped after),
    and the profile of the single instance."""
    name = f"ours, {instances} instance{'s' if instances > 1 else ''}"
    result = ConfigResult(name)
    missing = _reachable(options.postgres, 5432) or _reachable(options.redis, 6379)
    if missing:
        result.error = f"PostgreSQL or Redis: {missing}"
        return result, None
    var_dir = _fresh_dir(options.bench_dir / f"serve{instances}")
    twilio = RepliesSeen(SANDBOX_ENV["TWILIO_ACCOUNT_SID"], SANDBOX_ENV["TWILIO_AUTH_TOKEN"],
                         status_callbacks=False)  # fmt: skip
    telegram = TelegramStandIn(SANDBOX_ENV["TELEGRAM_BOT_TOKEN"])
    profile: Profile | None = None
    profiler: Profiler | None = None
    with twilio, telegram, fresh_database(options.postgres) as database:
        env = serve_env(database, options.redis, instances, var_dir, options.model, twilio,
                        telegram)  # fmt: skip
        settings = Settings.from_env(env)
        problems = checks.problems(settings, instances)
        if problems:
            result.error = "production checks refused the settings: " + "; ".join(problems)
            return result, None
        stack = ServeStack(settings, instances, env=env)
        ends = TurnEnds(database)
        started = time.perf_counter()
        try:
            stack.start()
            result.ready_s = time.perf_counter() - started
            target = ServeTarget(stack, twilio, ends, SANDBOX_ENV["TWILIO_AUTH_TOKEN"],
                                 SANDBOX_ENV["TWILIO_ACCOUNT_SID"],
                                 SANDBOX_ENV["TWILIO_FROM_NUMBER"], options.seed)  # fmt: skip

            def warm() -> None:
                for i in range(instances):  # each instance traces its graphs, per language
                    for n in range(2):
                        target.turn(target.conversation(1000 + 2 * i + n),
                                    MESSAGES[language_of(n)][1], instance=i)  # fmt: skip

            if options.profile and instances == 1:
                profiler = Profiler(stack.process("rasa-0").pid,
                                    max(1, int(options.seconds) - 5),
                                    options.bench_dir / "profile-serve1.txt")  # fmt: skip
            _measure(result, target, options, stop, warm, rate, profiler)
            if profiler is not None:
                profile = profiler.finish()
            result.rasa_rss_mb = [largest_rss_mb(stack.process(f"rasa-{i}").pid)
                                  for i in range(instances)]  # fmt: skip
            result.actions_rss_mb = group_rss_mb(stack.process("actions").pid)
            result.statuses, result.handoffs = _rows_by_status(database)
        except StackError as error:
            result.error = str(error)
        finally:
            if profiler is not None:
                profiler.kill()
            ends.close()
            stack.stop(STOP_TIMEOUT_S)
    return result, profile


@dataclass
class CompareResult:
    """The comparison (``make bench-compare``): one row per configuration."""

    options: Options
    rows: list[ConfigResult]
    profile: Profile | None
    rate: float | None

    def lines(self) -> list[str]:
        o = self.options
        out = [
            f"bench-compare: model {o.model.name}, {os.cpu_count()} CPU(s), closed loop "
            f"{o.clients} users x {o.seconds:g} s (after {o.warmup:g} s of warm-up), open loop "
            f"{o.seconds:g} s over {o.conversations} conversations",
            "",
            "| configuration | ready s | closed turns/s | p50 ms | p95 ms | open rate /s "
            "| open p50 ms | open p95 ms | Rasa RSS MiB (max) | actions RSS MiB |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in self.rows:
            out.append(_table_row(row))
        out.append("")
        for row in self.rows:
            out += _row_notes(row)
        stock = next((r for r in self.rows if r.name.startswith("stock") and not r.error), None)
        out.append("")
        out += _verdicts(stock, [r for r in self.rows if r.name.startswith("ours")], self.rate)
        out.append("")
        out += [
            "how: stock latency is the REST answer (the whole turn); ours is signed SMS "
            "webhook POST -> first reply SMS at the Twilio stand-in (the webhook answers "
            "first, the turn runs after).",
            "  a closed-loop user sends her next message when her turn ended (stock: the "
            f"answer; ours: her row left 'processing', polled every {END_POLL_S * 1000:g} ms).",
            "  the load generator, the stand-ins and PostgreSQL share the machine with the "
            "servers; Twilio status callbacks are off (PUBLIC_URL is not reachable here).",
        ]
        if self.profile is not None:
            out.append("")
            out += _profile_lines(self.profile)
        return out


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _table_row(row: ConfigResult) -> str:
    if row.error:
        return f"| {row.name} | failed: {row.error} |"
    c, o = row.closed, row.open
    cells = [
        row.name,
        "-" if row.ready_s is None else f"{row.ready_s:.1f}",
        "-" if c is None else f"{c.throughput:.2f}",
        _ms(percentile(c.latencies, 0.5) if c else None),
        _ms(percentile(c.latencies, 0.95) if c else None),
        "-" if o is None or o.rate is None else f"{o.rate:.2f}",
        _ms(percentile(o.latencies, 0.5) if o else None),
        _ms(percentile(o.latencies, 0.95) if o else None),
        f"{max(row.rasa_rss_mb):.0f}" if row.rasa_rss_mb else "-",
        "-" if row.actions_rss_mb is None else f"{row.actions_rss_mb:.0f}",
    ]
    return "| " + " | ".join(cells) + " |"


def _row_notes(row: ConfigResult) -> list[str]:
    if row.error or row.closed is None or row.open is None:
        return []
    c, o = row.closed, row.open
    ended = sum(1 for t in o.turns if t.ended is not None)
    notes = [f"{row.name}: closed loop {len(c.turns)} turns sent, {c.ended_in_window} ended in "
             f"the window; open loop {len(o.turns)} sent in {o.seconds:g} s, {ended} ended, "
             f"{o.overflow} to a new conversation (all busy)"]
    problems = (c.errors() + o.errors())
    if problems or c.unanswered or o.unanswered:
        notes.append(f"  no reply: {c.unanswered + o.unanswered}; failed: {dict(problems)}")
    if len(row.rasa_rss_mb) > 1:
        notes.append("  Rasa RSS MiB per instance: "
                     + ", ".join(f"{m:.0f}" for m in row.rasa_rss_mb))  # fmt: skip
    if row.statuses:
        notes.append(f"  inbound rows by status: {row.statuses}; handoffs opened: "
                     f"{row.handoffs}")  # fmt: skip
    return notes


def _verdicts(stock: ConfigResult | None, ours: list[ConfigResult], rate: float | None
              ) -> list[str]:  # fmt: skip
    out: list[str] = []
    base = stock.closed.throughput if stock and stock.closed else None
    if stock and stock.closed and stock.open:
        out.append(f"stock sustained {base:.2f} turns/s; its own p95 at that rate: "
                   f"{_ms(percentile(stock.open.latencies, 0.95))} ms")  # fmt: skip
    elif rate is not None:
        out.append(f"no stock run: open loop at {rate:.2f}/s (--rate or its default)")
    for row in ours:
        if row.error or row.closed is None or row.open is None:
            continue
        p95 = percentile(row.open.latencies, 0.95)
        rss = max(row.rasa_rss_mb) if row.rasa_rss_mb else None
        ratios = []
        if stock and base:
            ratios.append(f"throughput x{row.closed.throughput / base:.2f}")
        if stock and stock.ready_s and row.ready_s:
            ratios.append(f"ready time x{row.ready_s / stock.ready_s:.2f}")
        stock_p95 = percentile(stock.open.latencies, 0.95) if stock and stock.open else None
        if stock_p95 and p95 is not None:
            ratios.append(f"open-loop p95 x{p95 / stock_p95:.2f}")
        if stock and stock.rasa_rss_mb and rss:
            ratios.append(f"Rasa RSS x{rss / max(stock.rasa_rss_mb):.2f}")
        out.append(f"{row.name} / stock: " + (", ".join(ratios) or "no stock figures"))
        targets = [
            ("throughput >= 3x stock",
             None if not base else row.closed.throughput >= THROUGHPUT_FACTOR * base),
            (f"p95 < {P95_LIMIT_MS:.0f} ms at stock's load",
             None if p95 is None or not base else p95 < P95_LIMIT_MS),
            (f"RSS < {RSS_LIMIT_MB:.0f} MiB per Rasa process",
             None if rss is None else rss < RSS_LIMIT_MB),
        ]  # fmt: skip
        out.append("  targets: " + "; ".join(
            f"{label}: {'n/a' if met is None else 'MET' if met else 'NOT met'}"
            for label, met in targets))  # fmt: skip
    return out


def _profile_lines(profile: Profile) -> list[str]:
    frames = profile.frames
    if profile.error or frames is None:
        return [f"py-spy (ours, 1 instance): not profiled: {profile.error}"]
    busy = frames.samples - frames.waiting
    out = [f"py-spy, ours 1 instance, closed loop, {PROFILE_RATE} Hz, every thread waiting or "
           f"not: {frames.samples} samples, {frames.waiting} of them waiting "
           f"outside Python (idle pool threads, event loops in C), {busy} doing Python work; "
           f"raw: {profile.path}",
           "  top frames by inclusive share of the Python-work samples (once per stack; "
           "thread and runpy plumbing left out):"]  # fmt: skip
    out += [f"    {share:6.1%}  {frame}" for frame, share in frames.inclusive]
    out.append("  top frames by own share (the frame running):")
    out += [f"    {share:6.1%}  {frame}" for frame, share in frames.own]
    return out


def run_bench(options: Options) -> CompareResult:
    """Each configuration in turn; everything started is stopped (Ctrl-C included)."""
    stop = threading.Event()
    rows: list[ConfigResult] = []
    profile: Profile | None = None
    options.bench_dir.mkdir(parents=True, exist_ok=True)

    def rate() -> float:
        if options.rate:
            return options.rate
        stock = next((r for r in rows if r.name.startswith("stock")), None)
        if stock and stock.closed and stock.closed.throughput:
            return stock.closed.throughput
        return 2.0

    try:
        if options.stock:
            rows.append(run_stock(options, stop))
        for instances in options.instances:
            row, found = run_serve(options, instances, stop, rate)
            rows.append(row)
            profile = found or profile
    finally:
        stop.set()  # the load threads end (they are daemons: nothing waits for them)
    return CompareResult(options, rows, profile, rate() if rows else None)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``bench-compare`` (``python -m bot`` wires the same)."""
    parser.add_argument("--clients", type=int, default=8, help="closed-loop users (8)")
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="length of each closed and open loop (30)")  # fmt: skip
    parser.add_argument("--warmup", type=float, default=5.0,
                        help="closed-loop seconds before measuring (5)")  # fmt: skip
    parser.add_argument("--instances", default="1,2",
                        help="our configurations, comma-separated ('' for none)")  # fmt: skip
    parser.add_argument("--skip-stock", action="store_true", help="no stock rasa run")
    parser.add_argument("--rate", type=float,
                        help="open-loop rate (default: stock's closed-loop throughput)")
    parser.add_argument("--conversations", type=int, default=50,
                        help="open-loop conversations, round robin (50)")  # fmt: skip
    parser.add_argument("--postgres", default=ADMIN_POSTGRES,
                        help="a PostgreSQL where the bench may CREATE DATABASE")  # fmt: skip
    parser.add_argument("--redis", default=REDIS, help="Redis for the lock store")
    parser.add_argument("--no-profile", action="store_true", help="no py-spy")
    parser.add_argument("--model", type=Path, help="default: MODEL_PATH")


def run(args: argparse.Namespace, model: Path) -> int:
    """Run and print; 0 once every configuration was measured, whatever the figures."""
    options = Options(
        model=args.model or model, clients=args.clients, seconds=args.seconds,
        warmup=args.warmup,
        instances=tuple(int(n) for n in args.instances.split(",") if n.strip()),
        stock=not args.skip_stock, rate=args.rate, conversations=args.conversations,
        postgres=args.postgres, redis=args.redis, profile=not args.no_profile,
    )  # fmt: skip
    if not options.model.is_file():
        print(f"No model at {options.model}: run `make train`.", file=sys.stderr)
        return 1
    try:
        result = run_bench(options)
    except KeyboardInterrupt:
        print("Interrupted; everything started was stopped.", file=sys.stderr)
        return 130
    print("\n".join(result.lines()))
    return 1 if any(r.error for r in result.rows) else 0


def main(argv: list[str] | None = None) -> int:
    """``python -c "from bot.server.bench import main; main([...])"``: the same command."""
    parser = argparse.ArgumentParser(prog="bench-compare", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv), settings_from_env().stack.model)
