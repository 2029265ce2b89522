"""One Rasa server process, as ``make run`` and ``make serve`` start it.

Rasa's own ``configure_app`` and ``load_agent`` build it (the channels of
``credentials.yml``, the HTTP API, the agent); here we only decide what is exposed and add
what production needs, which ``rasa run`` has no option for:

- **local** (``make run``, the tests): every channel of ``credentials.yml`` (REST and the
  local terminal channel included) and the HTTP API without a token, on loopback;
- **serve**: the SMS and Telegram webhooks only; the HTTP API only when ``RASA_API_TOKEN``
  is set, and then every API route asks for it (``?token=``, Rasa's own check); bound to
  ``HOST``;
- both: request bodies over 1 MB refused (413) from the ``Content-Length`` header, before
  any of the body is read; ``GET /health/live``, ``GET /health/ready`` and ``GET /metrics``;
  a shutdown (SIGTERM) that lets running turns finish; logs scrubbed of numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import logging
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from rasa.core.run import (
    close_resources,
    configure_app,
    create_http_input_channels,
    load_agent_on_start,
)
from rasa.core.utils import AvailableEndpoints
from rasa.utils.endpoints import EndpointConfig
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from bot import PROJECT_ROOT, logs
from bot.db.database import database_url, engine_from_env
from bot.metrics import WEBHOOK_ACKS
from bot.runtime import runtime_from_env
from bot.server.metrics import SharedFigures
from bot.server.stores import sql_url
from bot.settings import Settings, settings_from_env

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
# Channels a production server never opens: Rasa's REST channel answers anyone who can reach
# it, and the local terminal channel is for `make run` on a laptop.
LOCAL_ONLY_CHANNELS = frozenset({"rest", "local"})
DRAIN_TIMEOUT_S = 20.0  # running turns get this long to finish at SIGTERM
CHECK_TIMEOUT_S = 2.0


def _probe(check: str, work: Any) -> tuple[str, bool, str]:
    """Run one readiness check; its outcome and, when it failed, the exception's class."""
    try:
        work()
        return check, True, ""
    except Exception as error:
        return check, False, type(error).__name__


@functools.lru_cache(maxsize=4)
def _tracker_engine(url: str) -> Engine:
    """An engine on Rasa's tracker database for the readiness check (Rasa's own store hides
    its connection behind a fail-safe wrapper that never reports an error)."""
    return create_engine(sql_url(url), hide_parameters=True, pool_pre_ping=True)


def readiness(settings: Settings, agent: Any) -> dict[str, str]:
    """Each check of ``/health/ready`` and its result ("ok", "off" or an error class)."""
    results: dict[str, str] = {}

    def database() -> None:
        with engine_from_env(database_url(settings)).connect() as connection:
            connection.execute(text("SELECT 1"))

    def model() -> None:
        if agent is None or not agent.is_ready():
            raise LookupError("model not loaded")

    def tracker_store() -> None:
        with _tracker_engine(settings.tracker_store_url).connect() as connection:
            connection.execute(text("SELECT 1"))

    def actions() -> None:
        url = settings.stack.action_url.rsplit("/", 1)[0] + "/health"
        urllib.request.urlopen(url, timeout=CHECK_TIMEOUT_S).close()

    checks = [("database", database), ("model", model), ("tracker_store", tracker_store),
              ("action_server", actions)]  # fmt: skip
    lock_store = getattr(agent, "lock_store", None)
    if settings.serve.lock_store_url:
        checks.append(("redis", lambda: lock_store.red.ping()))  # type: ignore[union-attr]
    else:
        results["redis"] = "off"
    for name, ok, error in (_probe(name, work) for name, work in checks):
        results[name] = "ok" if ok else error or "failed"
    return results


def health_routes(settings: Settings, figures: SharedFigures) -> Blueprint:
    """``/health/live``, ``/health/ready`` and ``/metrics``: no token, nothing personal."""
    routes = Blueprint("health")

    @routes.get("/health/live")
    async def live(request: Request) -> HTTPResponse:
        return response.json({"status": "live"})

    @routes.get("/health/ready")
    async def ready(request: Request) -> HTTPResponse:
        agent = getattr(request.app.ctx, "agent", None)
        checks = await asyncio.to_thread(readiness, settings, agent)
        good = all(v in ("ok", "off") for v in checks.values())
        return response.json({"status": "ready" if good else "not ready", "checks": checks},
                             status=200 if good else 503)  # fmt: skip

    @routes.get("/metrics")
    async def metrics(request: Request) -> HTTPResponse:
        await asyncio.to_thread(figures.refresh)
        body = await asyncio.to_thread(generate_latest, REGISTRY)
        return response.raw(body, content_type=CONTENT_TYPE_LATEST)

    return routes


def _count_acks(app: Sanic) -> None:
    """Webhook answers by channel and status (the channel is the path's second part)."""

    @app.on_response
    async def count(request: Request, answer: HTTPResponse) -> None:
        parts = request.path.split("/")
        if len(parts) > 3 and parts[1] == "webhooks" and parts[3] == "webhook":
            WEBHOOK_ACKS.labels(parts[2], str(answer.status)).inc()


async def drain(app: Sanic, loop: Any) -> None:
    """At SIGTERM: let the running turns finish (they were acknowledged), then give back
    this instance's conversations. Sanic still accepts requests until this returns: what
    arrives meanwhile is stored and acknowledged, and its turn left to the next instance
    that runs the conversation (another one at once, or this one after its restart)."""
    if not runtime_from_env.cache_info().currsize:
        return  # no request came: nothing runs
    runtime = runtime_from_env()
    started = time.monotonic()
    try:
        await asyncio.wait_for(runtime.stop(), DRAIN_TIMEOUT_S)
        logger.info("Drained in %.1f s.", time.monotonic() - started)
    except asyncio.TimeoutError:
        logger.warning("Turns still running after %.0f s: left to recovery.", DRAIN_TIMEOUT_S)


def endpoints_for(settings: Settings, path: Path) -> AvailableEndpoints:
    """``endpoints.yml``, its action endpoint on this host's ``ACTION_PORT``."""
    endpoints = AvailableEndpoints.read_endpoints(str(path))
    endpoints.action = EndpointConfig(url=settings.stack.action_url)
    return endpoints


def build_app(settings: Settings, *, mode: str, model: Path, port: int,
              credentials: Path, endpoints_file: Path) -> Sanic:  # fmt: skip
    """The Sanic app of one Rasa server process in ``mode`` ("local" or "serve")."""
    serve = mode == "serve"
    channels = create_http_input_channels(None, str(credentials))
    if serve:
        channels = [c for c in channels if c.name() not in LOCAL_ONLY_CHANNELS]
    token = settings.serve.api_token or None
    endpoints = endpoints_for(settings, endpoints_file)
    app = configure_app(
        channels, cors=None, auth_token=token if serve else None,
        enable_api=bool(token) or not serve, endpoints=endpoints, port=port,
    )  # fmt: skip
    app.config.REQUEST_MAX_SIZE = MAX_BODY_BYTES
    app.config.GRACEFUL_SHUTDOWN_TIMEOUT = DRAIN_TIMEOUT_S
    app.blueprint(health_routes(settings, SharedFigures(settings)))
    _count_acks(app)
    app.register_listener(
        functools.partial(load_agent_on_start, str(model), endpoints, None), "before_server_start"
    )
    app.register_listener(drain, "before_server_stop")
    app.register_listener(close_resources, "after_server_stop")
    return app


def _configure_logging(level: int) -> None:
    from rasa.utils.common import configure_logging_and_warnings  # lazy: the process's logs
    from rasa.utils.log_utils import configure_structlog  # lazy: the process's logs

    configure_logging_and_warnings(level)
    configure_structlog(level)
    # SQLAlchemy's engine logger prints statements with their parameters at INFO.
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
    logs.install(*(logging.getLogger(n) for n in ("sanic.root", "sanic.error", "rasa")))


def main(argv: list[str] | None = None) -> int:
    """``python -m bot.server --mode serve --port 5005``: one Rasa server, foreground."""
    parser = argparse.ArgumentParser(prog="python -m bot.server")
    parser.add_argument("--mode", choices=("local", "serve"), default="local")
    parser.add_argument("--port", type=int)
    parser.add_argument("--model")
    parser.add_argument("--credentials", default=str(PROJECT_ROOT / "credentials.yml"))
    parser.add_argument("--endpoints", default=str(PROJECT_ROOT / "endpoints.yml"))
    args = parser.parse_args(argv)
    settings = settings_from_env()
    port = args.port or settings.stack.rasa_port
    host = settings.serve.host if args.mode == "serve" else settings.stack.host
    _configure_logging(logging.INFO)
    app = build_app(settings, mode=args.mode, model=Path(args.model or settings.stack.model),
                    port=port, credentials=Path(args.credentials),
                    endpoints_file=Path(args.endpoints))  # fmt: skip
    logger.info("Rasa server (%s mode) on %s:%d.", args.mode, host, port)
    app.run(host=host, port=port, workers=1, access_log=False, backlog=100)
    return 0


if __name__ == "__main__":
    sys.exit(main())
