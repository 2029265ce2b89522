"""Local stand-ins of the outside APIs (Twilio, Telegram), served over real HTTP on loopback.

The machine that runs the tests and the local mode has no internet, and tests must never
reach a real provider. Each stand-in is a small HTTP server that the *real* client library
(``twilio``, ``python-telegram-bot``) talks to through its configurable base URL, so the
channels run exactly the code they run in production; only the host differs.

Usage::

    with TwilioStandIn(sid, token) as twilio:
        client = twilio_client(sid, token, twilio.base_url)
        ...
        assert twilio.messages[0]["to"] == "+22370000000"
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.policy import HTTP
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

logger = logging.getLogger(__name__)

__all__ = ["LoopbackServer", "Request", "Response", "error_phrase"]

_S = TypeVar("_S", bound="LoopbackServer")


@dataclass(frozen=True)
class Request:
    """One HTTP request as a stand-in sees it (the body already read; header names are
    case-insensitive: ``headers.get("content-type")``)."""

    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0].strip().lower()

    def form(self) -> dict[str, str]:
        """The form fields of a urlencoded or multipart body (last value of a repeated name)."""
        if self.content_type == "multipart/form-data":
            return _multipart(self.headers.get("Content-Type", ""), self.body)
        return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else {}


@dataclass(frozen=True)
class Response:
    """What a stand-in answers; JSON unless told otherwise."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any) -> Response:
        return cls(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"))


def _multipart(content_type: str, body: bytes) -> dict[str, str]:
    """Text fields of a multipart body (file parts are kept as their decoded text, if any)."""
    message = BytesParser(EmailMessage, policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            payload = part.get_payload(decode=True)
            raw = payload if isinstance(payload, bytes) else b""
            fields[name] = raw.decode("utf-8", errors="replace")
    return fields


class _Handler(BaseHTTPRequestHandler):
    """Reads the request, lets the stand-in answer, writes the answer; logs nothing at INFO."""

    protocol_version = "HTTP/1.1"  # keep-alive, as the client libraries pool connections
    server_version = "StandIn/1.0"

    def __init__(self, standin: LoopbackServer, *args: Any) -> None:
        self.standin = standin
        super().__init__(*args)

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=self.headers,
            body=body,
        )
        try:
            answer = self.standin.handle(request)
        except Exception:  # a bug in a stand-in must show up as a 500, not a hung client
            logger.debug("%s: error while answering a request", self.standin.name, exc_info=True)
            answer = Response.json(500, {"error": "stand-in error"})
        self.send_response(answer.status)
        self.send_header("Content-Type", f"{answer.content_type}; charset=utf-8")
        self.send_header("Content-Length", str(len(answer.body)))
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer.body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        # The request line can hold a bot token or a phone number: never to stderr.
        pass


class _Server(ThreadingHTTPServer):
    """A thread per request; a listen backlog deep enough for a burst of concurrent sends
    (the default of 5 resets connections when a client opens 16 at once)."""

    daemon_threads = True
    request_queue_size = 128


class LoopbackServer:
    """Base of the stand-ins: a ``ThreadingHTTPServer`` on loopback in a daemon thread.

    Subclasses implement :meth:`handle`. ``port=0`` takes a free port, so parallel test runs
    never collide; :meth:`start` returns the base URL (``http://127.0.0.1:PORT``).
    """

    name = "stand-in"

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def handle(self, request: Request) -> Response:
        """Answer one request (called on a server thread; guard shared state with the lock)."""
        raise NotImplementedError

    def start(self) -> str:
        """Serve in a daemon thread; idempotent. Returns the base URL."""
        with self._lock:
            if self._server is None:
                server = _Server((self.host, self.port), lambda *args: _Handler(self, *args))
                self._server = server
                self._thread = threading.Thread(
                    target=server.serve_forever,
                    kwargs={"poll_interval": 0.1},
                    name=f"{self.name} server",
                    daemon=True,
                )
                self._thread.start()
                logger.debug("%s: serving on loopback", self.name)
            return self.base_url

    def stop(self) -> None:
        """Stop serving and free the port; idempotent."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        logger.debug("%s: stopped", self.name)

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` of the running server."""
        server = self._server
        if server is None:
            raise RuntimeError(f"{self.name} is not started")
        host, port = server.server_address[:2]
        host = host.decode() if isinstance(host, bytes) else host
        return f"http://{host}:{port}"

    def __enter__(self: _S) -> _S:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def error_phrase(status: int) -> str:
    """``Internal Server Error`` for 500; a stand-in's words for an HTTP status."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
