"""``python -m bot serve``: the production processes, in the foreground until SIGTERM.

One action server and the staff dashboard (:mod:`bot.dashboard.web`) on loopback, and
``--instances`` Rasa servers in serve mode (:mod:`bot.server.app`) on ``HOST``, ports
``RASA_PORT`` and up. Each instance is named
``host:port`` in the conversation leases, the same after a restart, so a restarted instance
takes back its own conversations at once and never another live instance's. A child that
dies is started again; SIGTERM stops them all, each letting its running turns finish.

``--process actions``, ``--process dashboard`` and ``--process rasa --instance I`` run one
process in place of this supervisor (one systemd unit per process: ``deploy/systemd/``).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import time
from pathlib import Path
from typing import Any

from bot import PROJECT_ROOT
from bot.db.database import database_url, make_engine
from bot.launcher import READY_TIMEOUT_S, LocalStack, StackError, http_json, port_in_use
from bot.server import checks
from bot.settings import Settings

logger = logging.getLogger(__name__)

STOP_TIMEOUT_S = 40.0  # a Rasa server drains for up to 20 s, then closes its stores
RESTART_PAUSE_S = 5.0  # between two restarts of a child that keeps dying


def instance_id(settings: Settings, index: int) -> str:
    """The lease holder name of instance ``index``: stable across restarts, unique."""
    configured = settings.serve.instance_id
    if configured:
        return configured if settings.serve.instances == 1 else f"{configured}-{index}"
    return f"{socket.gethostname()}:{settings.stack.rasa_port + index}"


def actions_command(settings: Settings) -> list[str]:
    return [sys.executable, "-m", "rasa_sdk", "--actions", "actions",
            "--port", str(settings.stack.action_port)]  # fmt: skip


def rasa_command(settings: Settings, index: int) -> list[str]:
    return [sys.executable, "-m", "bot.server", "--mode", "serve",
            "--port", str(settings.stack.rasa_port + index),
            "--model", str(settings.stack.model)]  # fmt: skip


def dashboard_command(settings: Settings) -> list[str]:
    return [sys.executable, "-m", "bot", "dashboard", "--host", settings.dashboard.host,
            "--port", str(settings.dashboard.port)]  # fmt: skip


# Behind the proxy's HTTPS: the dashboard's session cookie never travels in plain HTTP
# (unless the operator set otherwise).
DASHBOARD_ENV = {"DASHBOARD_SECURE_COOKIE": "true"}


def _dashboard_env() -> dict[str, str]:
    return {k: v for k, v in DASHBOARD_ENV.items() if not os.environ.get(k)}


class ServeStack(LocalStack):
    """The action server and the Rasa instances of serve mode, as child processes."""

    def __init__(self, settings: Settings, instances: int, env: dict[str, str] | None = None):
        super().__init__(settings.stack, env)
        self.full = settings
        self.instances = instances
        self._commands: dict[str, tuple[list[str], dict[str, str]]] = {}

    def _env(self) -> dict[str, str]:
        """The environment as given (no local default: production sets everything)."""
        env = dict(os.environ)
        env.update(RASA_TELEMETRY_ENABLED="false", TF_CPP_MIN_LOG_LEVEL="2",
                   PYTHONUNBUFFERED="1", SANIC_HOST="127.0.0.1")  # fmt: skip
        env.update(self._extra_env)
        return env

    def url(self, index: int) -> str:
        host = self.full.serve.host
        host = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        return f"http://{host}:{self.settings.rasa_port + index}"

    def _launch(self, name: str, command: list[str], env: dict[str, str] | None = None) -> None:
        self._commands[name] = (command, env or {})
        self._start(name, command, env)

    def start(self) -> ServeStack:
        """Start every process and wait until each Rasa instance is ready."""
        s = self.settings
        ports = [s.action_port, *(s.rasa_port + i for i in range(self.instances)),
                 self.full.dashboard.port]
        taken = [p for p in ports if port_in_use("127.0.0.1", p)]
        if taken:
            raise StackError(f"Port(s) {', '.join(map(str, taken))} taken; stop what uses "
                             "them or set RASA_PORT / ACTION_PORT.")  # fmt: skip
        make_engine(database_url(self.full)).dispose()  # migrate once, before the children
        deadline = time.monotonic() + READY_TIMEOUT_S
        self._launch("actions", actions_command(self.full))
        for i in range(self.instances):
            self._launch(f"rasa-{i}", rasa_command(self.full, i),
                         {"INSTANCE_ID": instance_id(self.full, i)})  # fmt: skip
        self._launch("dashboard", dashboard_command(self.full), _dashboard_env())
        try:
            self._wait("actions", f"http://127.0.0.1:{s.action_port}/health", deadline)
            self._wait("dashboard", f"{self.dashboard_url}/staff/login", deadline)
            for i in range(self.instances):
                self._wait(f"rasa-{i}", f"{self.url(i)}/health/ready", deadline)
        except BaseException:
            self.stop(STOP_TIMEOUT_S)
            raise
        return self

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.full.dashboard.port}"

    def process(self, name: str) -> Any:
        return next(p for n, p, _ in self._processes if n == name)

    def kill_one(self, name: str) -> None:
        """SIGKILL one process (the crash tests)."""
        process = self.process(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def restart(self, name: str, wait: bool = True) -> None:
        """Start ``name`` again after it died (its log goes on in the same file)."""
        index = next(i for i, (n, _, _) in enumerate(self._processes) if n == name)
        _, _, log = self._processes.pop(index)
        log.close()
        command, env = self._commands[name]
        self._start(name, command, env)
        if wait and name.startswith("rasa-"):
            number = int(name.split("-")[1])
            self._wait(name, f"{self.url(number)}/health/ready",
                       time.monotonic() + READY_TIMEOUT_S)  # fmt: skip

    def dead(self) -> list[str]:
        return [name for name, process, _ in self._processes if process.poll() is not None]

    def ready(self, index: int) -> dict[str, Any]:
        return http_json("GET", f"{self.url(index)}/health/ready")


def run_one(settings: Settings, process: str, index: int) -> int:
    """Replace this process with one server (systemd runs one unit per process)."""
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
    if process == "actions":
        env["SANIC_HOST"] = "127.0.0.1"  # the action server has no auth: loopback only
        command = actions_command(settings)
    elif process == "dashboard":
        env.update(_dashboard_env())
        command = dashboard_command(settings)
    else:
        env["INSTANCE_ID"] = instance_id(settings, index)
        command = rasa_command(settings, index)
    os.chdir(PROJECT_ROOT)
    os.execvpe(command[0], command, env)
    return 0  # not reached


def serve(settings: Settings, instances: int, process: str | None = None, index: int = 0
          ) -> int:  # fmt: skip
    """Check the settings, then run (see the module's docstring). The exit status."""
    found = checks.problems(settings, instances)
    if found:
        print("Not starting: the production settings are incomplete or weak:", file=sys.stderr)
        for problem in found:
            print(f"  - {problem}", file=sys.stderr)
        print("See .env.example and README.md, section Deploying.", file=sys.stderr)
        return 2
    if process is not None:
        return run_one(settings, process, index)
    stopping: list[int] = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda number, frame: stopping.append(number))
    stack = ServeStack(settings, instances)
    try:
        stack.start()
    except StackError as error:
        print(error, file=sys.stderr)
        return 1
    log_dir = Path(settings.stack.var_dir) / "log"
    print(f"Serving: {instances} Rasa instance(s) on {stack.url(0)} and up; logs in {log_dir}.")
    while not stopping:
        time.sleep(0.5)
        for name in stack.dead():
            if stopping:
                break
            print(f"{name} exited; starting it again.", file=sys.stderr)
            time.sleep(RESTART_PAUSE_S)
            stack.restart(name, wait=False)
    print("Stopping: running turns finish first...")
    stack.stop(STOP_TIMEOUT_S)
    print("Stopped.")
    return 0
