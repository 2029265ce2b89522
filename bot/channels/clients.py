"""The provider clients of the channels, built by factories (never at import time).

Both factories take a ``base_url``: ``None`` in production (the real Twilio and Telegram
hosts), the URL of a local stand-in (:mod:`bot.standins`) in the tests and the local mode,
so the channels run the same official client code everywhere and only the host changes.
"""

from __future__ import annotations

import logging
from typing import Any, TypedDict
from urllib.parse import urlsplit

from aiohttp import ClientSession, ClientTimeout
from telegram import Bot
from telegram.request import HTTPXRequest
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.response import Response
from twilio.rest import Client

__all__ = ["RebasedAsyncHttpClient", "close_twilio_client", "telegram_bot", "twilio_client"]

TWILIO_TIMEOUT = 10.0  # seconds for one Twilio API call
TELEGRAM_POOL_SIZE = 16  # concurrent sends (replies, handoff, reminders) share the pool


class _DebugOnly(logging.LoggerAdapter):
    """twilio logs every request at INFO (URL with the account SID, headers); keep it DEBUG."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        super().log(min(level, logging.DEBUG), msg, *args, **kwargs)


class RebasedAsyncHttpClient(AsyncTwilioHttpClient):
    """twilio 8's aiohttp client, sending to ``base_url`` instead of Twilio when it is set.

    Why a subclass: the twilio library builds absolute ``https://api.twilio.com`` URLs and
    has no base-URL setting. Here any ``*.twilio.com`` origin (also with an edge or region)
    is replaced, so nothing leaves the machine when a stand-in is configured. Also:

    - the aiohttp session is created on first use, inside the running event loop (aiohttp
      binds a session to the loop it was created in; the factory may run outside one);
    - every call has a timeout (the parent passes ``timeout=None`` to aiohttp, which means
      none at all);
    - no automatic retries: a POST retried after a timeout could send the SMS twice.

    Close it with :meth:`close` (or :func:`close_twilio_client`); it can be used again after.
    """

    session: ClientSession | None  # the parent's, made on first use here

    def __init__(self, base_url: str | None = None, timeout: float = TWILIO_TIMEOUT) -> None:
        super().__init__(
            pool_connections=False,
            timeout=timeout,
            logger=_DebugOnly(logging.getLogger(__name__), {}),
        )
        self.base_url = base_url.rstrip("/") if base_url else None

    def rebase(self, url: str) -> str:
        """``url`` on ``base_url`` when it points at Twilio and a base URL is set."""
        if not self.base_url:
            return url
        parts = urlsplit(url)
        host = parts.hostname or ""
        if host != "twilio.com" and not host.endswith(".twilio.com"):
            return url
        rest = parts.path + (f"?{parts.query}" if parts.query else "")
        return self.base_url + rest

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if self.session is None:
            self.session = ClientSession(timeout=ClientTimeout(total=self.timeout))
        return await super().request(
            method,
            self.rebase(url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout if timeout is not None else self.timeout,
            allow_redirects=allow_redirects,
        )

    async def close(self) -> None:
        """Close the aiohttp session (a new one is made if the client is used again)."""
        session, self.session = self.session, None
        if session is not None:
            await session.close()

    async def __aexit__(self, *excinfo: object) -> None:
        await self.close()


def twilio_client(
    account_sid: str,
    auth_token: str,
    base_url: str | None = None,
    *,
    timeout: float = TWILIO_TIMEOUT,
) -> Client:
    """A twilio ``Client`` for async calls, at ``base_url`` (a stand-in) when it is set.

    Use the ``*_async`` methods: ``await client.messages.create_async(to=..., from_=...,
    body=..., status_callback=...)``; they do not block the Rasa server's event loop as the
    synchronous (``requests``) client would. Close with :func:`close_twilio_client`.
    """
    http_client = RebasedAsyncHttpClient(base_url, timeout=timeout)
    return Client(account_sid, auth_token, http_client=http_client)


async def close_twilio_client(client: Client) -> None:
    """Close the aiohttp session of a client from :func:`twilio_client`.

    Call it at shutdown, in the event loop that used the client, so aiohttp does not warn
    about an unclosed session; a client that never sent has nothing to close."""
    http_client = client.http_client
    if isinstance(http_client, AsyncTwilioHttpClient):
        await http_client.close()


def _quiet_httpx() -> None:
    """httpx logs every request at INFO with its URL, and a Bot API URL holds the bot token:
    keep it to WARNING unless logging was configured for httpx explicitly."""
    httpx_logger = logging.getLogger("httpx")
    if httpx_logger.level == logging.NOTSET:
        httpx_logger.setLevel(logging.WARNING)


class _Timeouts(TypedDict):
    connect_timeout: float
    read_timeout: float
    write_timeout: float


def telegram_bot(
    token: str,
    base_url: str | None = None,
    *,
    pool_size: int = TELEGRAM_POOL_SIZE,
) -> Bot:
    """A python-telegram-bot ``Bot``, at ``base_url`` (a stand-in) when it is set.

    PTB's default pool for API calls is sized for a bot with many handlers; ours sends
    replies, handoff messages and reminders concurrently, so ``pool_size`` connections
    with a pool timeout long enough to queue behind them rather than fail, and short
    connect/read timeouts so an unreachable API fails a send instead of hanging a turn.
    ``getUpdates`` keeps its own single connection (long polls must not starve sends).

    The caller owns the HTTP pools: ``async with bot:`` or ``await bot.initialize()`` …
    ``await bot.shutdown()``.
    """
    _quiet_httpx()
    timeouts: _Timeouts = {"connect_timeout": 5.0, "read_timeout": 10.0, "write_timeout": 10.0}
    request = HTTPXRequest(connection_pool_size=pool_size, pool_timeout=5.0, **timeouts)
    updates_request = HTTPXRequest(connection_pool_size=1, pool_timeout=1.0, **timeouts)
    if base_url:
        base = base_url.rstrip("/")
        return Bot(
            token,
            base_url=f"{base}/bot",
            base_file_url=f"{base}/file/bot",
            request=request,
            get_updates_request=updates_request,
        )
    return Bot(token, request=request, get_updates_request=updates_request)
