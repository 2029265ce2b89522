"""A small driver of headless Chromium over the Chrome DevTools Protocol (CDP), for the
browser tests: no Selenium, no driver binary, only ``websockets`` (already a dependency,
through Rasa) and the standard library. One browser, one page, synchronous calls, each with
a timeout; the browser's whole process group is killed at the end, whatever happened."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any, TypeVar

import websockets.client

T = TypeVar("T")
NAMES = ("chromium", "chromium-browser", "google-chrome")
# No first-run, sync, update or metrics traffic of its own: the tests watch the network.
FLAGS = (
    "--headless=new", "--no-sandbox", "--remote-debugging-port=0", "--no-first-run",
    "--no-default-browser-check", "--disable-gpu", "--disable-extensions", "--disable-sync",
    "--disable-background-networking", "--disable-component-update", "--mute-audio",
    "--disable-features=Translate,OptimizationHints,MediaRouter", "--no-proxy-server",
)  # fmt: skip


def find_chromium() -> str | None:
    """The browser binary on PATH, or None (the browser tests then skip)."""
    return next((found for name in NAMES if (found := shutil.which(name))), None)


class CDPError(RuntimeError):
    """The browser answered a command with an error, or a page script threw."""


class Chromium:
    """``with Chromium(find_chromium()) as browser: browser.navigate(url)``."""

    def __init__(self, binary: str, *, timeout: float = 20.0) -> None:
        self.binary, self.timeout = binary, timeout
        self.events: list[tuple[str, dict[str, Any]]] = []  # every CDP event, in order
        self.requests: list[str] = []  # URL of every request the page made
        self.documents: list[tuple[str, int]] = []  # (url, status) of each document, redirects too
        self.headers: dict[str, str] = {}  # of the last document (names in lower case)
        self._loop = asyncio.new_event_loop()
        self._dir = tempfile.TemporaryDirectory(prefix="chromium-", ignore_cleanup_errors=True)
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._socket: websockets.client.WebSocketClientProtocol | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._arrived = asyncio.Event()
        self._next_id = 0
        self._frame = ""

    def __enter__(self) -> Chromium:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        """Start the browser, find its DevTools port, attach to its page."""
        profile = Path(self._dir.name)
        self._log = (profile.parent / f"{profile.name}.log").open("wb")
        self._process = subprocess.Popen(  # its own process group: killed whole at the end
            [self.binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._log,
            start_new_session=True,
        )  # fmt: skip
        self._run(self._connect(self._page_socket(profile / "DevToolsActivePort")))
        for domain in ("Page", "Network", "Runtime"):
            self.send(f"{domain}.enable")
        self._frame = self.send("Page.getFrameTree")["frameTree"]["frame"]["id"]

    def close(self) -> None:
        """Close the connection, kill the browser's process group, remove its profile."""
        if self._socket is not None and not self._loop.is_closed():
            with contextlib.suppress(Exception):
                self._run(self._disconnect(), timeout=5)
        if self._process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait(timeout=10)
            self._process = None
        if self._log is not None:
            self._log.close()
            Path(self._log.name).unlink(missing_ok=True)
            self._log = None
        if not self._loop.is_closed():
            self._loop.close()
        self._dir.cleanup()

    def _page_socket(self, marker: Path) -> str:
        """The WebSocket URL of the browser's first page (the about:blank it opened), once
        the browser has written its DevTools port to ``marker`` and lists the page there."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise CDPError(f"chromium exited with {self._process.returncode}: {self.stderr()}")
            with contextlib.suppress(OSError, ValueError, IndexError):  # not yet
                port = int(marker.read_text().splitlines()[0])
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=5) as f:
                    pages = [t for t in json.load(f) if t.get("type") == "page"]
                return str(pages[0]["webSocketDebuggerUrl"])
            time.sleep(0.05)
        raise TimeoutError(f"chromium listed no page in {self.timeout} s: {self.stderr()}")

    def stderr(self) -> str:
        """What the browser wrote on its standard error (for failure messages)."""
        return Path(self._log.name).read_text(errors="replace")[-2000:] if self._log else ""

    def _run(self, awaitable: Awaitable[T], timeout: float | None = None) -> T:
        waited = asyncio.wait_for(awaitable, timeout or self.timeout)
        return self._loop.run_until_complete(waited)

    async def _connect(self, url: str) -> None:
        self._socket = await websockets.client.connect(url, max_size=2**27, ping_interval=None)
        self._reader = asyncio.ensure_future(self._read(self._socket))

    async def _disconnect(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._socket is not None:
            await self._socket.close()
            self._socket = None

    async def _read(self, socket: websockets.client.WebSocketClientProtocol) -> None:
        async for raw in socket:
            message = json.loads(raw)
            if "id" in message:
                future = self._pending.pop(message["id"], None)
                if future is not None and not future.done():
                    future.set_result(message)
                continue
            method, params = message.get("method", ""), message.get("params", {})
            self.events.append((method, params))
            self._note(method, params)
            self._arrived.set()

    def _note(self, method: str, params: dict[str, Any]) -> None:
        document = params.get("type") == "Document" and params.get("frameId") == self._frame
        if method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
            redirect = params.get("redirectResponse")
            if document and redirect:
                self.documents.append((redirect["url"], int(redirect["status"])))
        elif method == "Network.responseReceived" and document:
            response = params["response"]
            self.documents.append((response["url"], int(response["status"])))
            self.headers = {k.lower(): v for k, v in response["headers"].items()}

    async def _send(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self._socket is not None, "the browser is not started"
        self._next_id += 1
        future: asyncio.Future[dict[str, Any]] = self._loop.create_future()
        self._pending[self._next_id] = future
        message = {"id": self._next_id, "method": method, "params": params}
        await self._socket.send(json.dumps(message))
        answer = await future
        if "error" in answer:
            raise CDPError(f"{method}: {answer['error']}")
        return dict(answer.get("result", {}))

    def send(self, method: str, timeout: float | None = None, **params: Any) -> dict[str, Any]:
        """One CDP command (``send("Page.reload")``); its result."""
        return self._run(self._send(method, params), timeout)

    def wait_event(
        self, method: str, since: int = 0, test: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """The first event ``method`` at index ``since`` or later (``len(browser.events)``
        taken before the action) that passes ``test``."""

        async def wait() -> dict[str, Any]:
            seen = since
            while True:
                for name, params in self.events[seen:]:
                    if name == method and (test is None or test(params)):
                        return params
                seen = len(self.events)
                self._arrived.clear()
                await self._arrived.wait()

        return self._run(wait(), timeout)

    def navigate(self, url: str) -> int:
        """Open ``url`` and wait for its load event; the HTTP status of the final document."""
        mark = len(self.events)
        result = self.send("Page.navigate", url=url)
        if result.get("errorText"):
            raise CDPError(f"navigation to {url} failed: {result['errorText']}")
        self.wait_event("Page.loadEventFired", mark)
        return self.status

    @property
    def status(self) -> int:
        """The HTTP status of the last document the page loaded (0 before any)."""
        return self.documents[-1][1] if self.documents else 0

    @property
    def url(self) -> str:
        return str(self.evaluate("location.href"))

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (promises awaited) in the page. DevTools
        evaluation is not the page's script: its Content-Security-Policy does not apply."""
        result = self.send(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise CDPError(details.get("exception", {}).get("description") or details["text"])
        return result["result"].get("value")

    def fill(self, form: str, values: dict[str, str]) -> None:
        """Set the fields ``values`` (by name) of the form matched by CSS selector ``form``."""
        script = """((sel, values) => { const form = document.querySelector(sel);
            if (!form) throw new Error('no form ' + sel);
            for (const [name, value] of Object.entries(values)) {
              const field = form.elements.namedItem(name);
              if (!field) throw new Error('no field ' + name);
              field.value = value; } })"""
        self.evaluate(f"{script}({json.dumps(form)}, {json.dumps(values)})")

    def submit(self, form: str) -> int:
        """Submit the form as its button would, wait for the next page; its status."""
        mark = len(self.events)
        found = f"document.querySelector({json.dumps(form)})"
        self.evaluate(f"HTMLFormElement.prototype.submit.call({found})")
        self.wait_event("Page.loadEventFired", mark)
        return self.status

    def cookies(self) -> list[dict[str, Any]]:
        """Every cookie the browser holds (any path), with its flags."""
        return list(self.send("Storage.getCookies")["cookies"])

    def fetch(self, url: str) -> dict[str, Any]:
        """GET ``url`` with the page's ``fetch`` (its cookies): status, headers, text. Only
        where the page's policy allows it (``connect-src``); else see :meth:`download`."""
        script = """(async (url) => { const r = await fetch(url, {credentials: 'same-origin'});
            return {status: r.status, headers: Object.fromEntries(r.headers),
                    text: await r.text()}; })"""
        return dict(self.evaluate(f"{script}({json.dumps(url)})"))

    def download(self, url: str) -> tuple[int, dict[str, str], Path]:
        """Follow a link to a file (``Content-Disposition: attachment``) as a click does, with
        the page's cookies, whatever its policy: the status, headers and the file saved."""
        folder = Path(self._dir.name) / "Downloads"
        folder.mkdir(exist_ok=True)
        self.send("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(folder))
        before, mark = set(folder.iterdir()), len(self.events)
        if not self.send("Page.navigate", url=url).get("isDownload"):
            raise CDPError(f"{url} is not a download")
        response = self.wait_event(
            "Network.responseReceived", mark, lambda e: e.get("frameId") == self._frame
        )["response"]
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:  # saved as *.crdownload, renamed when complete
            done = [f for f in set(folder.iterdir()) - before if f.suffix != ".crdownload"]
            if done:
                headers = {k.lower(): v for k, v in response["headers"].items()}
                return int(response["status"]), headers, done[0]
            time.sleep(0.05)
        raise TimeoutError(f"the download of {url} did not complete in {self.timeout} s")

    def viewport(self, width: int, height: int, *, mobile: bool = False) -> None:
        """Lay the page out at this size (``mobile``: as a phone, honouring <meta viewport>)."""
        scale = 2 if mobile else 1
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=scale, mobile=mobile)  # fmt: skip

    def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        """A PNG of the page (all of it when ``full_page``) written to ``path``."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            params["captureBeyondViewport"] = True
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                              "scale": 1}  # fmt: skip
        data = self.send("Page.captureScreenshot", timeout=max(self.timeout, 30), **params)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path
