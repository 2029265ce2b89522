"""A real dashboard for the tests: ``python -m bot dashboard`` on loopback, over scratch files,
with accounts made by ``python -m bot staff add``, and an HTTP client that keeps cookies and
does not follow redirects (a test sees each 303)."""

from __future__ import annotations

import base64
import contextlib
import http.cookiejar
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine
from sqlalchemy.engine import Engine

from bot import PROJECT_ROOT
from bot.channels.sandbox import free_port
from bot.db.crypto import keyring_from
from bot.db.database import make_engine
from bot.privacy.tracker import EVENTS, tracker_engine
from tests.support.env import require_postgres

STARTUP_S = 60.0


def events_beside(isolated: Engine) -> Engine:
    """Rasa's ``events`` table beside our tables of an ``isolated`` database (on PostgreSQL,
    in the test's own schema), made if missing."""
    tracker = isolated
    if isolated.dialect.name == "postgresql":
        mapping = isolated.get_execution_options()["schema_translate_map"]
        tracker = tracker_engine(require_postgres()).execution_options(
            schema_translate_map=mapping)
    EVENTS.create(tracker, checkfirst=True)
    return tracker


@dataclass(frozen=True)
class Scratch:
    """The dashboard's files and settings: scratch files only, an encryption key of its own
    (the environment stays out of failure reports)."""

    var: Path
    env: dict[str, str] = field(repr=False)

    @classmethod
    def make(cls, var: Path, **settings: str) -> Scratch:
        """``settings``: more environment, e.g. ``DASHBOARD_LOCKOUT_AFTER="3"``."""
        key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DASHBOARD_", "TRACKER_"))}
        env.update(
            DATABASE_URL=f"sqlite:///{var / 'app.db'}", TRACKER_STORE_URL="",
            TRACKER_DB=str(var / "tracker.db"), VAR_DIR=str(var), DATA_KEYS=key,
            RASA_TELEMETRY_ENABLED="false", PYTHONUNBUFFERED="1", **settings,
        )  # fmt: skip
        var.mkdir(parents=True, exist_ok=True)
        return cls(var, env)

    @contextlib.contextmanager
    def engine(self) -> Iterator[Engine]:
        """Our scratch database, with its key."""
        keyring = keyring_from([self.env["DATA_KEYS"].encode()])
        engine = make_engine(self.env["DATABASE_URL"], keyring=keyring)
        try:
            yield engine
        finally:
            engine.dispose()

    def seed(self, users: int = 300, weeks: int = 8) -> None:
        """A realistic stretch of raw rows up to now, then the weekly figures."""
        from bot.dashboard.seed import SeedPlan, seed  # lazy: only tests that show data

        events = create_engine(f"sqlite:///{self.env['TRACKER_DB']}", future=True)
        try:
            with self.engine() as engine:
                seed(engine, events, SeedPlan(users=users, weeks=weeks,
                                              end=datetime.now(timezone.utc)))  # fmt: skip
        finally:
            events.dispose()
        done = self.bot("dashboard", "refresh")
        assert done.returncode == 0, done.stderr[-2000:]

    def bot(self, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """``python -m bot ...`` with these settings."""
        return subprocess.run(
            [sys.executable, "-m", "bot", *argv], input=stdin, env=self.env, cwd=PROJECT_ROOT,
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    def staff_add(self, username: str, role: str, password: str, language: str = "fr") -> None:
        done = self.bot("staff", "add", username, "--role", role, "--language", language,
                        "--password-stdin", stdin=password + "\n")  # fmt: skip
        assert done.returncode == 0, f"staff add {username}: {done.stdout}{done.stderr}"

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        """The dashboard running; yields its origin (``http://127.0.0.1:PORT``)."""
        port = free_port()
        origin = f"http://127.0.0.1:{port}"
        log_path = self.var / f"dashboard-{port}.log"
        with log_path.open("wb") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "bot", "dashboard", "--host", "127.0.0.1", "--port",
                 str(port)], env=self.env, cwd=PROJECT_ROOT, stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
            try:
                deadline = time.monotonic() + STARTUP_S
                while not _answers(f"{origin}/staff/login"):
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError("the dashboard did not start:\n"
                                             + log_path.read_text(errors="replace")[-3000:])
                    time.sleep(0.2)
                yield origin
            finally:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server.pid, signal.SIGTERM)
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(server.pid, signal.SIGKILL)
                    server.wait()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Any
    text: str

    @property
    def location(self) -> str:
        return str(self.headers.get("Location") or "")

    def csrf(self) -> str:
        found = re.search(r'name="csrf" value="([^"]+)"', self.text)
        assert found, "no CSRF field in the page"
        return found.group(1)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class Client:
    """One browser: its cookies, no redirects followed."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect())

    def request(self, path: str, form: dict[str, str] | None = None,
                body: bytes | None = None) -> Answer:  # fmt: skip
        data = urllib.parse.urlencode(form).encode() if form is not None else body
        request = urllib.request.Request(self.origin + path, data=data,
                                         method="POST" if data is not None else "GET")
        try:
            with self.opener.open(request, timeout=30) as answer:
                return Answer(answer.status, answer.headers, answer.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            return Answer(error.code, error.headers, error.read().decode("utf-8", "replace"))

    def get(self, path: str) -> Answer:
        return self.request(path)

    def post(self, path: str, form: dict[str, str]) -> Answer:
        return self.request(path, form)

    def sign_in(self, username: str, password: str) -> Answer:
        token = self.get("/staff/login").csrf()
        return self.post("/staff/login", {"csrf": token, "username": username,
                                          "password": password})  # fmt: skip

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)
