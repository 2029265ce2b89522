"""The local stack: action server and Rasa server as child processes, on loopback.

``make run`` and the conversation tests start the assistant the same way, so what the
tests check is what a newcomer runs. Leaving the ``with`` block (Ctrl-C included) stops
both servers.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from bot import PROJECT_ROOT
from bot.settings import StackSettings

READY_TIMEOUT_S = 240.0
# The counsellor the local console plays (`make counsellor`).
LOCAL_COUNSELLORS = PROJECT_ROOT / "bot" / "handoff" / "counsellors.local.yml"


def local_pseudonym_key(var_dir: Path) -> str:
    """A pseudonym key for the local run, made once and kept in ``var/`` (never in git):
    the same terminal name stays the same conversation across runs."""
    path = var_dir / "pseudonym.key"
    if not path.is_file():
        var_dir.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        path.chmod(0o600)
    return path.read_text(encoding="utf-8").strip()


def local_data_key(var_dir: Path) -> str:
    """A data key (Fernet: url-safe base64 of 32 random bytes) for the local run, made once
    and kept in ``var/`` beside the database it encrypts (never in git): losing it makes the
    encrypted addresses and texts of ``var/app.db`` unreadable."""
    path = var_dir / "data.key"
    if not path.is_file():
        var_dir.mkdir(parents=True, exist_ok=True)
        key = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode("ascii")
        with contextlib.suppress(FileExistsError):  # another launcher made it: it is the one
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as file:
                file.write(key)
    return path.read_text(encoding="utf-8").strip()


def use_local_keys(var_dir: Path) -> bool:
    """A command run beside `make run` (``python -m bot privacy export``...): without
    ``DATABASE_URL`` it reads the local database, so it takes the local run's keys from
    ``var/`` when the environment gives none (never making new ones). True if it did."""
    if os.environ.get("DATABASE_URL"):
        return False
    took = False
    for name, file in (("PSEUDONYM_KEY", "pseudonym.key"), ("DATA_KEYS", "data.key")):
        path = var_dir / file
        if not os.environ.get(name) and path.is_file():
            os.environ[name] = path.read_text(encoding="utf-8").strip()
            took = True
    return took


class StackError(RuntimeError):
    """A server did not start; the message says which and where its log is."""


def http_json(method: str, url: str, body: Any = None, timeout: float = 30.0) -> Any:
    """One JSON request with the standard library (no client library in the chat path)."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        payload = response.read()
    return json.loads(payload) if payload else None


def port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


class LocalStack:
    """Starts the action server and the Rasa server (:mod:`bot.server`, local mode) on
    ``settings``; stops them on exit."""

    def __init__(self, settings: StackSettings, env: dict[str, str] | None = None) -> None:
        self.settings = settings
        self._extra_env = env or {}
        self._processes: list[tuple[str, subprocess.Popen[bytes], IO[bytes]]] = []

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            ACTION_PORT=str(self.settings.action_port),
            TRACKER_DB=str(self.settings.tracker_db.resolve()),
            LOCALES_DIR=os.environ.get("LOCALES_DIR", str(PROJECT_ROOT / "locales")),
            # Rasa's telemetry would try to reach the internet.
            RASA_TELEMETRY_ENABLED="false",
            TF_CPP_MIN_LOG_LEVEL="2",
            PYTHONUNBUFFERED="1",
            SANIC_HOST=self.settings.host,  # the action server listens on loopback only
            VAR_DIR=str(self.settings.var_dir.resolve()),  # our database (bot.db.database)
            # The terminal chat and the local counsellor console (bot/channels/local.py).
            LOCAL_CHANNEL="1",
            # The same name after a restart: the conversations it held are its own again at
            # once (bot/channels/leases.py), not after their leases run out.
            INSTANCE_ID=f"{socket.gethostname()}:{self.settings.rasa_port}",
        )
        env.setdefault("COUNSELLORS_FILE", str(LOCAL_COUNSELLORS))
        env.setdefault("PSEUDONYM_KEY", local_pseudonym_key(self.settings.var_dir))
        env.setdefault("DATA_KEYS", local_data_key(self.settings.var_dir))
        env.update(self._extra_env)
        return env

    def _start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        log_dir = self.settings.var_dir / "log"
        log_dir.mkdir(parents=True, exist_ok=True)
        log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed in stop()
        process = subprocess.Popen(
            command,
            cwd=PROJECT_ROOT,
            env={**self._env(), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in the chat must not kill a server mid-write
        )
        self._processes.append((name, process, log))

    def _wait(self, name: str, url: str, deadline: float) -> None:
        process = next(p for n, p, _ in self._processes if n == name)
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StackError(
                    f"The {name} server exited with code {process.returncode}; "
                    f"see {self.settings.var_dir / 'log' / (name + '.log')}."
                )
            try:
                urllib.request.urlopen(url, timeout=2).close()
                return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        raise StackError(f"The {name} server was not ready within {READY_TIMEOUT_S:.0f} s.")

    def start(self) -> LocalStack:
        """Start both servers and wait until the model is loaded."""
        s = self.settings
        if not s.model.is_file():
            raise StackError(f"No model at {s.model}: run `make train`.")
        for port in (s.rasa_port, s.action_port):
            if port_in_use(s.host, port):
                raise StackError(
                    f"Port {port} on {s.host} is taken; stop what uses it or set "
                    "RASA_PORT / ACTION_PORT."
                )
        s.tracker_db.parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + READY_TIMEOUT_S
        self._start(
            "actions",
            [sys.executable, "-m", "rasa_sdk", "--actions", "actions",
             "--port", str(s.action_port)],
        )
        self._start(
            "rasa",
            [sys.executable, "-m", "bot.server", "--mode", "local", "--port", str(s.rasa_port),
             "--model", str(s.model)],
        )
        try:
            self._wait("actions", f"http://{s.host}:{s.action_port}/health", deadline)
            self._wait("rasa", f"{s.rasa_url}/status", deadline)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the servers: SIGTERM, then SIGKILL after ``timeout`` seconds."""
        for _, process, _ in self._processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _, process, log in self._processes:
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            log.close()
        self._processes.clear()

    def kill(self) -> None:
        """Kill both servers at once (SIGKILL), as a crash or a power cut would: the restart
        tests use it to show that nothing depends on a clean shutdown."""
        for _, process, _ in self._processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
        for _, process, log in self._processes:
            process.wait()
            log.close()
        self._processes.clear()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- talking to the running assistant -------------------------------------------------

    def say(self, sender: str, text: str) -> None:
        """One message over the local channel (answers come later: :meth:`messages`)."""
        url = f"{self.settings.rasa_url}/webhooks/local/webhook"
        http_json("POST", url, {"sender": sender, "text": text})

    def messages(self, sender: str, after: int = 0) -> list[dict[str, Any]]:
        """What the local channel sent to ``sender`` after message ``after``."""
        query = urllib.parse.urlencode({"sender": sender, "after": after})
        url = f"{self.settings.rasa_url}/webhooks/local/messages?{query}"
        return (http_json("GET", url) or {}).get("messages", [])

    def send(self, sender: str, text: str) -> list[dict[str, Any]]:
        """One user message over the REST channel; the assistant's replies."""
        url = f"{self.settings.rasa_url}/webhooks/rest/webhook"
        return http_json("POST", url, {"sender": sender, "message": text}) or []

    def parse(self, text: str) -> dict[str, Any]:
        """``POST /model/parse``: intent, entities and language of ``text``."""
        return http_json("POST", f"{self.settings.rasa_url}/model/parse", {"text": text})

    def tracker(self, sender: str) -> dict[str, Any]:
        """The stored conversation of ``sender``, every event included."""
        url = f"{self.settings.rasa_url}/conversations/{sender}/tracker?include_events=ALL"
        return http_json("GET", url)
