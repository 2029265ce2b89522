"""A stand-in of the Twilio REST API (Messages) for the official ``twilio`` client.

Only what the SMS channel uses: creating (and fetching) a message, with Twilio's answers
and errors as the real API gives them (201 message resource, 400 error 21610 for a number
that answered STOP, 401 error 20003 for wrong credentials), and signed status callbacks
(``queued`` → ``sent`` → ``delivered``) so the channel's status webhook is exercised with a
real ``X-Twilio-Signature``. Point the client at it with
:func:`bot.channels.clients.twilio_client` (``base_url=standin.base_url``).
"""

from __future__ import annotations

import base64
import hmac
import logging
import re
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

from bot.gsm7 import GSM7_EXTENSION, GSM7_PART, GSM7_SINGLE, UCS2_PART, UCS2_SINGLE, is_gsm7
from bot.standins import LoopbackServer, Request, Response, error_phrase

logger = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
UNSUBSCRIBED = 21610  # "Attempt to send to unsubscribed recipient"
MAX_BODY = 1600  # Twilio refuses longer bodies (error 21617)
CALLBACK_STATUSES = ("queued", "sent", "delivered")

_MESSAGES = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages\.json$")
_MESSAGE = re.compile(
    rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$"
)
# Callbacks go to loopback: never through a proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _error(status: int, code: int, message: str) -> Response:
    """An error in Twilio's JSON shape (what ``TwilioRestException`` is built from)."""
    return Response.json(
        status,
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
    )


def _segments(body: str) -> int:
    """Segments Twilio bills for ``body`` as given (no folding: that is the sender's job)."""
    if is_gsm7(body):
        units = sum(2 if ch in GSM7_EXTENSION else 1 for ch in body)
        single, part = GSM7_SINGLE, GSM7_PART
    else:
        units = sum(2 if ord(ch) > 0xFFFF else 1 for ch in body)
        single, part = UCS2_SINGLE, UCS2_PART
    return 1 if units <= single else -(-units // part)


class TwilioStandIn(LoopbackServer):
    """Twilio's Messages API on loopback, recording what is sent.

    Args:
        account_sid: the account the client authenticates as (``AC…``).
        auth_token: its auth token; also the key that signs the status callbacks.
        status_callbacks: POST signed status callbacks when a message names a
            ``StatusCallback`` URL, as Twilio does.
        callback_delay: seconds between two callbacks of a message.
    """

    name = "twilio stand-in"

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        status_callbacks: bool = True,
        callback_delay: float = 0.05,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host, port)
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.status_callbacks = status_callbacks
        self.callback_delay = callback_delay
        self._validator = RequestValidator(auth_token)
        self._messages: list[dict[str, Any]] = []
        self._resources: dict[str, dict[str, Any]] = {}
        self._callbacks: list[dict[str, Any]] = []
        self._blocked: set[str] = set()
        self._failures: list[int] = []
        self._closing = threading.Event()

    # -- what the tests look at and steer ------------------------------------------------

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Messages accepted so far (copies): ``to``, ``from_``, ``body``, ``sid``,
        ``status_callback``, ``messaging_service_sid``, ``num_segments``, ``at`` (epoch s)."""
        with self._lock:
            return [dict(m) for m in self._messages]

    @property
    def callbacks(self) -> list[dict[str, Any]]:
        """Status callbacks posted so far: ``url``, ``params``, ``http_status`` (None when
        the receiver could not be reached), ``at``."""
        with self._lock:
            return [dict(c, params=dict(c["params"])) for c in self._callbacks]

    def block(self, number: str) -> None:
        """Later sends to ``number`` fail with error 21610, as after the user sent STOP."""
        with self._lock:
            self._blocked.add(number)

    def unblock(self, number: str) -> None:
        """Sends to ``number`` succeed again, as after the user sent START."""
        with self._lock:
            self._blocked.discard(number)

    def fail_next(self, n: int = 1, status: int = 500) -> None:
        """The next ``n`` sends answer HTTP ``status`` (Twilio error ``20000 + status``)."""
        with self._lock:
            self._failures.extend([status] * n)

    def reset(self) -> None:
        """Forget messages, callbacks, blocked numbers and pending failures."""
        with self._lock:
            self._messages.clear()
            self._resources.clear()
            self._callbacks.clear()
            self._blocked.clear()
            self._failures.clear()

    def start(self) -> str:
        self._closing.clear()
        return super().start()

    def stop(self) -> None:
        self._closing.set()  # pending callbacks are dropped, not posted to a closed stack
        super().stop()

    # -- HTTP --------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        if request.method == "GET" and request.path == "/_standin/messages":
            return Response.json(200, self.messages)
        create = _MESSAGES.match(request.path)
        fetch = _MESSAGE.match(request.path)
        if not (create or fetch):
            return _error(404, 20404, "The requested resource was not found")
        if not self._authorised(request):
            logger.debug("%s: refused a request with wrong credentials", self.name)
            return _error(401, 20003, "Authenticate")
        match = create or fetch
        assert match is not None
        if match["account"] != self.account_sid:
            return _error(404, 20404, "The requested resource was not found")
        if create and request.method == "POST":
            return self._create(request.form())
        if fetch and request.method == "GET":
            with self._lock:
                resource = self._resources.get(fetch["sid"])
                resource = dict(resource) if resource else None
            if resource is None:
                return _error(404, 20404, "The requested resource was not found")
            return Response.json(200, resource)
        return _error(405, 20004, "Method not allowed")

    def _authorised(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        expected = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        return hmac.compare_digest(header[len("Basic ") :].strip(), expected)

    def _create(self, form: dict[str, str]) -> Response:
        to = form.get("To", "")
        from_ = form.get("From") or None
        service = form.get("MessagingServiceSid") or None
        body = form.get("Body", "")
        if not to:
            return _error(400, 21604, "A 'To' phone number is required.")
        if not (from_ or service):
            return _error(400, 21603, "A 'From' phone number is required.")
        if not body and not form.get("MediaUrl"):
            return _error(400, 21602, "Message body is required.")
        if len(body) > MAX_BODY:
            return _error(
                400, 21617, "The concatenated message body exceeds the 1600 character limit."
            )
        with self._lock:
            if self._failures:
                status = self._failures.pop(0)
                logger.debug("%s: failing a send with HTTP %d as told", self.name, status)
                return _error(status, 20000 + status, error_phrase(status))
            if to in self._blocked:
                logger.debug("%s: refused a send to a blocked number", self.name)
                return _error(400, UNSUBSCRIBED, "Attempt to send to unsubscribed recipient")
            now = datetime.now(timezone.utc)
            sid = "SM" + uuid.uuid4().hex
            callback = form.get("StatusCallback") or None
            resource = self._resource(sid, to, from_, service, body, now)
            self._resources[sid] = resource
            self._messages.append(
                {
                    "to": to,
                    "from_": from_,
                    "body": body,
                    "sid": sid,
                    "status_callback": callback,
                    "messaging_service_sid": service,
                    "num_segments": int(resource["num_segments"]),
                    "at": now.timestamp(),
                }
            )
        logger.debug("%s: accepted a message", self.name)
        if callback and self.status_callbacks:
            params = {
                "AccountSid": self.account_sid,
                "ApiVersion": API_VERSION,
                "MessageSid": sid,
                "SmsSid": sid,
                "To": to,
                **({"From": from_} if from_ else {}),
                **({"MessagingServiceSid": service} if service else {}),
            }
            threading.Thread(
                target=self._post_callbacks,
                args=(callback, params),
                name=f"{self.name} callbacks",
                daemon=True,
            ).start()
        return Response.json(201, resource)

    def _resource(
        self,
        sid: str,
        to: str,
        from_: str | None,
        service: str | None,
        body: str,
        now: datetime,
    ) -> dict[str, Any]:
        """The message resource as Twilio returns it right after creation."""
        date = format_datetime(now)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{sid}"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": body,
            "date_created": date,
            "date_sent": None,
            "date_updated": date,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": from_,
            "messaging_service_sid": service,
            "num_media": "0",
            "num_segments": str(_segments(body)),
            "price": None,
            "price_unit": "USD",
            "sid": sid,
            "status": "queued",
            "subresource_uris": {"media": f"{uri}/Media.json"},
            "to": to,
            "uri": f"{uri}.json",
        }

    # -- status callbacks ----------------------------------------------------------------

    def _post_callbacks(self, url: str, params: dict[str, str]) -> None:
        """Post queued → sent → delivered to ``url``, signed like Twilio (background thread)."""
        for status in CALLBACK_STATUSES:
            if self._closing.wait(self.callback_delay):
                return
            fields = {**params, "MessageStatus": status, "SmsStatus": status}
            signature = self._validator.compute_signature(url, fields)
            request = urllib.request.Request(
                url,
                data=urlencode(fields).encode(),
                method="POST",
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": signature,
                    "I-Twilio-Idempotency-Token": uuid.uuid4().hex,
                    "User-Agent": "TwilioProxy/1.1",
                },
            )
            http_status: int | None
            try:
                with _OPENER.open(request, timeout=5) as answer:
                    http_status = answer.status
            except urllib.error.HTTPError as error:
                http_status = error.code
                error.close()
            except (OSError, ValueError):  # unreachable receiver or a malformed URL
                http_status = None
            logger.debug("%s: status callback %s -> %s", self.name, status, http_status)
            with self._lock:
                self._callbacks.append(
                    {"url": url, "params": fields, "http_status": http_status, "at": time.time()}
                )
                resource = self._resources.get(params["MessageSid"])
                if resource is not None:
                    resource["status"] = status
                    resource["date_updated"] = format_datetime(datetime.now(timezone.utc))
                    if status == "sent":
                        resource["date_sent"] = resource["date_updated"]
