"""The load of :mod:`bot.server.bench` (closed and open loop), the figures it gives, RSS
per process, and the py-spy profile's summary."""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bot.server.bench.targets import PROFILE_RATE, Conversation, Target, Turn


@dataclass
class LoadFigures:
    """One load phase: what was offered, what ended within the window, how fast."""

    seconds: float
    turns: list[Turn]
    window_end: float
    rate: float | None = None  # open loop: the arrival rate offered
    overflow: int = 0  # open loop: arrivals sent to a new conversation (all 50 busy)

    @property
    def ended_in_window(self) -> int:
        return sum(1 for t in self.turns if t.ended is not None and t.ended <= self.window_end)

    @property
    def throughput(self) -> float:
        return self.ended_in_window / self.seconds

    @property
    def latencies(self) -> list[float]:
        return [ms for t in self.turns if (ms := t.latency_ms) is not None]

    @property
    def failed(self) -> int:
        return sum(1 for t in self.turns if t.error is not None)

    @property
    def unanswered(self) -> int:
        return sum(1 for t in self.turns if t.error is None and t.first_reply is None)

    def errors(self) -> Counter[str]:
        return Counter(t.error for t in self.turns if t.error is not None)


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile, as the project's other benchmarks take it."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, round(share * len(ordered)) - 1)]


def _join(threads: list[threading.Thread], stop: threading.Event) -> None:
    """Wait for the load threads in short steps, so that Ctrl-C reaches the main thread;
    then the threads are told to stop before the servers go."""
    try:
        for thread in threads:
            while thread.is_alive() and not stop.is_set():
                thread.join(0.2)
    except KeyboardInterrupt:
        stop.set()
        raise


def closed_loop(target: Target, users: list[Conversation], seconds: float, stop: threading.Event,
                on_start: Callable[[], None] | None = None) -> LoadFigures:  # fmt: skip
    """Each user sends her next message as soon as her previous turn ended, ``seconds``
    long; turns are counted when they end within the window."""
    turns: list[Turn] = []
    lock = threading.Lock()
    if on_start is not None:
        on_start()
    start = time.perf_counter()
    end = start + seconds

    def user(conversation: Conversation, first: int) -> None:
        n = first
        while not stop.is_set() and time.perf_counter() < end:
            done = target.turn(conversation, conversation.text(n))
            n += 1
            with lock:
                turns.append(done)
            if done.error is not None:
                time.sleep(0.5)  # no tight loop on a failing server

    threads = [threading.Thread(target=user, args=(c, c.number), daemon=True) for c in users]
    for thread in threads:
        thread.start()
    _join(threads, stop)
    return LoadFigures(seconds, turns, end)


def open_loop(target: Target, rate: float, seconds: float, conversations: int, first: int,
              seed: int, stop: threading.Event) -> LoadFigures:  # fmt: skip
    """Poisson arrivals at ``rate`` for ``seconds``, each a message of the next of
    ``conversations`` in turn that has no message in flight (all busy: a new one)."""
    chance = random.Random(seed)
    people = [target.conversation(first + n) for n in range(conversations)]
    sent = dict.fromkeys(range(len(people)), 0)
    busy: set[int] = set()
    turns: list[Turn] = []
    lock = threading.Lock()
    threads: list[threading.Thread] = []
    overflow, nxt = 0, 0

    def one(index: int, conversation: Conversation, message: str) -> None:
        done = target.turn(conversation, message)
        with lock:
            turns.append(done)
            busy.discard(index)

    start = time.perf_counter()
    at = chance.expovariate(rate)
    while at < seconds and not stop.is_set():
        time.sleep(max(0.0, start + at - time.perf_counter()))
        with lock:
            index = next((i for i in ((nxt + k) % len(people) for k in range(len(people)))
                          if i not in busy), None)  # fmt: skip
            if index is None:
                overflow += 1
                index = len(people)
                people.append(target.conversation(first + index))
                sent[index] = 0
            else:
                nxt = index + 1
            busy.add(index)
        conversation = people[index]
        message = conversation.text(sent[index])
        sent[index] += 1
        thread = threading.Thread(target=one, args=(index, conversation, message), daemon=True)
        thread.start()
        threads.append(thread)
        at += chance.expovariate(rate)
    end = start + seconds
    _join(threads, stop)
    figures = LoadFigures(seconds, turns, end, rate=rate, overflow=overflow)
    figures.window_end = float("inf")  # every turn offered counts: the rate was fixed
    return figures


# -- memory and profile ------------------------------------------------------------------


def _group(leader: int) -> list[int]:
    """The processes of the process group ``leader`` heads (a server and its children)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[2]) == leader:
            pids.append(int(entry.name))
    return pids or [leader]


def rss_mb(pid: int) -> float:
    """VmRSS of ``pid`` in MiB (0 when it is gone)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0.0
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
    return int(found.group(1)) / 1024 if found else 0.0


def largest_rss_mb(leader: int) -> float:
    """The largest process of a server's group: the one Rasa runs in."""
    return max(rss_mb(pid) for pid in _group(leader))


def group_rss_mb(leader: int) -> float:
    return sum(rss_mb(pid) for pid in _group(leader))


Shares = list[tuple[str, float]]
# With --nonblocking py-spy samples every thread, waiting or not. A stack ending in one of
# these frames is waiting outside Python: a pool thread for work, an event loop (uvloop, in
# C) for I/O or doing it.
WAITING_LEAVES = frozenset({
    "_worker (concurrent/futures/thread.py)", "serve (sanic/server/runners.py)",
    "run (threading.py)", "run_forever (asyncio/base_events.py)",
    "_run_once (asyncio/base_events.py)", "select (selectors.py)",
})  # fmt: skip
# Frames every stack of a thread passes through: they say nothing about where time goes.
PLUMBING = frozenset({
    "_bootstrap (threading.py)", "_bootstrap_inner (threading.py)", "run (threading.py)",
    "_worker (concurrent/futures/thread.py)", "run (concurrent/futures/thread.py)",
    "_run_module_as_main (runpy.py)", "_run_code (runpy.py)",
})  # fmt: skip


@dataclass(frozen=True)
class Frames:
    """py-spy's collapsed stacks, summarised."""

    samples: int  # every sample of every thread
    waiting: int  # of them, stacks ending in a wait outside Python (WAITING_LEAVES)
    inclusive: Shares  # of the others: frames by inclusive share, plumbing left out
    own: Shares  # of the others: the frame running


def top_frames(raw: Path, count: int = 12) -> Frames:
    """Frames by share of the samples doing Python work: inclusive (a frame counted once
    per stack) and own. A frame is a function and its file (line numbers folded)."""
    total = waiting = busy = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, number = line.rpartition(" ")
        if not stack or not number.isdigit():
            continue
        samples = int(number)
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")
                  if not f.startswith(("process ", "thread "))]  # fmt: skip
        if not frames:
            continue
        total += samples
        if frames[-1] in WAITING_LEAVES:
            waiting += samples
            continue
        busy += samples
        for frame in set(frames) - PLUMBING:
            inclusive[frame] += samples
        own[frames[-1]] += samples
    if not busy:
        return Frames(total, waiting, [], [])
    return Frames(total, waiting, [(f, n / busy) for f, n in inclusive.most_common(count)],
                  [(f, n / busy) for f, n in own.most_common(count)])  # fmt: skip


@dataclass
class Profile:
    """What py-spy gave (or why it gave nothing: the run goes on without it)."""

    path: Path
    error: str | None = None
    frames: Frames | None = None


class Profiler:
    """py-spy on one process, for the measured window of a closed loop."""

    def __init__(self, pid: int, seconds: int, path: Path) -> None:
        self.pid, self.seconds, self.path = pid, seconds, path
        self.process: subprocess.Popen[bytes] | None = None
        self.log = path.with_suffix(".log")
        self.error: str | None = None

    def start(self) -> None:
        spy = Path(sys.executable).with_name("py-spy")
        binary = str(spy) if spy.is_file() else shutil.which("py-spy")
        if binary is None:
            self.error = "py-spy is not installed"
            return
        self.path.unlink(missing_ok=True)
        command = [binary, "record", "--format", "raw", "-r", str(PROFILE_RATE),
                   "-d", str(self.seconds), "-o", str(self.path), "--pid", str(self.pid),
                   "--subprocesses", "--nonblocking"]  # fmt: skip
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL)  # fmt: skip

    def finish(self) -> Profile:
        process = self.process
        if process is not None:
            try:
                process.wait(timeout=self.seconds + 30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.returncode != 0 and self.error is None:
                said = self.log.read_text(errors="replace").strip().splitlines()
                self.error = (f"py-spy exited with {process.returncode}: "
                              f"{said[-1] if said else 'no output'}")  # fmt: skip
        if self.error is None and not self.path.is_file():
            self.error = "py-spy wrote no profile"
        if self.error is not None:
            return Profile(self.path, self.error)
        return Profile(self.path, None, top_frames(self.path))

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


# -- the run -------------------------------------------------------------------------------
