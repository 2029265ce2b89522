"""A stand-in of the Telegram Bot API for python-telegram-bot 22.

It answers ``/bot{token}/{method}`` with ``{"ok": true, "result": ...}`` objects that PTB
parses (``Message``, ``User``, ``ForumTopic``, ``File``, ``Update``), and with Telegram's
errors where the channel must cope with them: 401 for a wrong token, 429 with
``retry_after`` (:meth:`TelegramStandIn.throttle`), 403 for a user who blocked the bot
(:meth:`TelegramStandIn.block`), 409 for ``getUpdates`` while a webhook is set. Point a bot at
it with :func:`bot.channels.clients.telegram_bot` (``base_url=standin.base_url``).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from bot.standins import LoopbackServer, Request, Response

logger = logging.getLogger(__name__)

MAX_TEXT = 4096  # characters in one message
DEFAULT_ICON_COLOR = 0x6FB9F0  # Telegram's first topic colour (7322096)
LONG_POLL_CAP = 1.0  # seconds a getUpdates long poll waits at most here

_METHOD = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)$")
_FILE = re.compile(r"^/file/bot(?P<token>[^/]+)/(?P<path>.+)$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_INTEGER = re.compile(r"^-?\d+$")

# How form fields arrive as text from PTB (it JSON-encodes objects and sends a form).
_JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "allowed_updates",
        "link_preview_options",
        "reply_parameters",
        "commands",
        "scope",
    }
)
_INT_FIELDS = frozenset(
    {"message_id", "message_thread_id", "offset", "limit", "icon_color", "max_connections"}
)
_BOOL_FIELDS = frozenset(
    {"drop_pending_updates", "disable_notification", "show_alert", "protect_content"}
)


def _chat_id(value: Any) -> int | str:
    """``123`` for ``"123"``; ``"@channel"`` stays a string."""
    if isinstance(value, str) and _INTEGER.match(value.strip()):
        return int(value)
    return value if isinstance(value, (int, str)) else str(value)


def _normalise(params: dict[str, Any]) -> dict[str, Any]:
    """Typed parameters, whether they came as JSON or as a form of strings."""
    out = dict(params)
    for name, value in params.items():
        if not isinstance(value, str):
            continue
        if name in _JSON_FIELDS:
            try:
                out[name] = json.loads(value)
            except ValueError:
                out[name] = value
        elif name in _INT_FIELDS and _INTEGER.match(value.strip()):
            out[name] = int(value)
        elif name == "timeout":
            try:
                out[name] = float(value)
            except ValueError:
                out[name] = 0.0
        elif name in _BOOL_FIELDS:
            out[name] = value.strip().lower() == "true"
    if "chat_id" in out:
        out["chat_id"] = _chat_id(out["chat_id"])
    return out


def _ok(result: Any) -> Response:
    return Response.json(200, {"ok": True, "result": result})


def _fail(status: int, description: str, parameters: dict[str, Any] | None = None) -> Response:
    """An error as Telegram sends it; PTB picks the exception from status and parameters."""
    payload: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        payload["parameters"] = parameters
    return Response.json(status, payload)


def _bad(description: str) -> Response:
    return _fail(400, f"Bad Request: {description}")


class TelegramStandIn(LoopbackServer):
    """The Bot API on loopback for one bot token, recording what the bot does.

    Args:
        token: the only token it accepts (``123456:…``); the number before the colon is
            the bot's user id, as on Telegram.
        username: the bot's username, for ``getMe``.
    """

    name = "telegram stand-in"

    def __init__(
        self,
        token: str,
        *,
        username: str = "standin_bot",
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host, port)
        self.token = token
        prefix = token.split(":", 1)[0]
        self.bot_user: dict[str, Any] = {
            "id": int(prefix) if prefix.isdigit() else 1,
            "is_bot": True,
            "first_name": "Stand-in bot",
            "username": username,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }
        self._updates_ready = threading.Condition(self._lock)
        self._sent: list[dict[str, Any]] = []
        self._calls: list[dict[str, Any]] = []
        self._updates: list[dict[str, Any]] = []
        self._next_update_id = 1
        self._message_ids: dict[str, int] = {}
        self._stored: dict[tuple[str, int], dict[str, Any]] = {}
        self._topics: dict[tuple[str, int], dict[str, Any]] = {}
        self._next_thread_id = 2  # 1 is a forum's "General" topic
        self._throttles: dict[str, list[int]] = {}
        self._blocked: set[str] = set()
        self._files: dict[str, bytes] = {}
        self._webhook: dict[str, Any] | None = None
        self._methods: dict[str, Callable[[dict[str, Any]], Response]] = {
            "getme": self._get_me,
            "sendmessage": self._send_message,
            "answercallbackquery": self._answer_callback_query,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "getupdates": self._get_updates,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "createforumtopic": self._create_forum_topic,
            "editforumtopic": self._edit_forum_topic,
            "closeforumtopic": self._close_forum_topic,
            "reopenforumtopic": self._reopen_forum_topic,
            "deleteforumtopic": self._delete_forum_topic,
            "getfile": self._get_file,
            "sendchataction": lambda params: _ok(True),
            "setmycommands": lambda params: _ok(True),
            "deletemycommands": lambda params: _ok(True),
        }

    # -- what the tests look at and steer ------------------------------------------------

    @property
    def sent(self) -> list[dict[str, Any]]:
        """``sendMessage`` calls that succeeded (copies): ``chat_id``, ``text``,
        ``reply_markup`` (a dict or None), ``message_thread_id``, ``message_id``, ``at``."""
        with self._lock:
            return [dict(m) for m in self._sent]

    @property
    def calls(self) -> list[dict[str, Any]]:
        """Every authorised call, answered or refused: ``method``, ``params``, ``at``."""
        with self._lock:
            return [dict(c) for c in self._calls]

    @property
    def topics(self) -> list[dict[str, Any]]:
        """Forum topics created: ``chat_id``, ``message_thread_id``, ``name``,
        ``icon_color``, ``closed``."""
        with self._lock:
            return [dict(t) for t in self._topics.values()]

    @property
    def webhook(self) -> dict[str, Any] | None:
        """The last ``setWebhook`` parameters, None when no webhook is set."""
        with self._lock:
            return dict(self._webhook) if self._webhook else None

    def queue_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for ``getUpdates``; an ``update_id`` is given when it has none.

        Returns the queued update (with its ``update_id``)."""
        with self._updates_ready:
            queued = dict(update)
            if "update_id" not in queued:
                queued["update_id"] = self._next_update_id
            self._next_update_id = max(self._next_update_id, int(queued["update_id"]) + 1)
            self._updates.append(queued)
            self._updates_ready.notify_all()
            return dict(queued)

    def throttle(self, chat_id: int | str, retry_after: int = 1, times: int = 1) -> None:
        """The next ``times`` messages to ``chat_id`` get 429 "retry after ``retry_after``"."""
        with self._lock:
            self._throttles.setdefault(str(chat_id), []).extend([retry_after] * times)

    def block(self, chat_id: int | str) -> None:
        """Messages to ``chat_id`` get 403, as when the user has blocked the bot."""
        with self._lock:
            self._blocked.add(str(chat_id))

    def unblock(self, chat_id: int | str) -> None:
        """Messages to ``chat_id`` are delivered again."""
        with self._lock:
            self._blocked.discard(str(chat_id))

    def add_file(self, file_id: str, content: bytes) -> None:
        """Content served for ``file_id`` (a voice note, a photo) at the file URL."""
        with self._lock:
            self._files[file_id] = content

    def reset(self) -> None:
        """Forget what was recorded and steered. Update and message ids keep increasing,
        as on Telegram, so a channel that de-duplicates on them is not fooled."""
        with self._lock:
            self._sent.clear()
            self._calls.clear()
            self._updates.clear()
            self._stored.clear()
            self._topics.clear()
            self._throttles.clear()
            self._blocked.clear()
            self._files.clear()
            self._webhook = None

    # -- HTTP --------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        path = unquote(request.path)
        if request.method == "GET" and path == "/_standin/sent":
            return Response.json(200, self.sent)
        file = _FILE.match(path)
        if file and request.method == "GET":
            if not hmac.compare_digest(file["token"], self.token):
                return _fail(401, "Unauthorized")
            return self._download(file["path"])
        match = _METHOD.match(path)
        if match is None:
            return _fail(404, "Not Found")
        if not hmac.compare_digest(match["token"], self.token):
            logger.debug("%s: refused a call with a wrong token", self.name)
            return _fail(401, "Unauthorized")
        method = self._methods.get(match["method"].lower())
        if method is None:
            return _fail(404, "Not Found")
        try:
            params = _normalise(self._params(request))
        except ValueError:
            return _bad("can't parse request body")
        with self._lock:
            self._calls.append({"method": match["method"], "params": params, "at": time.time()})
        answer = method(params)
        logger.debug("%s: %s -> %d", self.name, match["method"], answer.status)
        return answer

    @staticmethod
    def _params(request: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.body:
            if request.content_type == "application/json":
                body = request.json()
                if not isinstance(body, dict):
                    raise ValueError("not an object")
                params.update(body)
            else:
                params.update(request.form())
        return params

    def _download(self, file_path: str) -> Response:
        file_id = file_path.rsplit("/", 1)[-1]
        with self._lock:
            content = self._files.get(file_id)
        if content is None:
            return _fail(404, "Not Found")
        return Response(200, content, content_type="application/octet-stream")

    # -- objects -----------------------------------------------------------------------

    @staticmethod
    def _chat(chat_id: int | str) -> dict[str, Any]:
        """A Chat object: private for a positive id, a forum supergroup for a negative one."""
        if isinstance(chat_id, int):
            if chat_id > 0:
                return {"id": chat_id, "type": "private"}
            return {"id": chat_id, "type": "supergroup", "title": "Stand-in", "is_forum": True}
        name = chat_id.lstrip("@")
        chat_id = -1_000_000_000_000 - zlib.crc32(name.encode())
        return {"id": chat_id, "type": "channel", "title": name, "username": name}

    def _new_message(self, chat_id: int | str, text: str, params: dict[str, Any]) -> dict[str, Any]:
        """A Message as ``sendMessage`` returns it (call with the lock held)."""
        key = str(chat_id)
        message_id = self._message_ids.get(key, 0) + 1
        self._message_ids[key] = message_id
        message: dict[str, Any] = {
            "message_id": message_id,
            "from": dict(self.bot_user),
            "chat": self._chat(chat_id),
            "date": int(time.time()),
            "text": text,
        }
        thread = params.get("message_thread_id")
        if isinstance(thread, int):
            message["message_thread_id"] = thread
            message["is_topic_message"] = True
        markup = params.get("reply_markup")
        if isinstance(markup, dict) and "inline_keyboard" in markup:
            message["reply_markup"] = markup  # Telegram echoes inline keyboards only
        self._stored[(key, message_id)] = message
        return message

    # -- methods -----------------------------------------------------------------------

    def _get_me(self, params: dict[str, Any]) -> Response:
        return _ok(dict(self.bot_user))

    def _send_message(self, params: dict[str, Any]) -> Response:
        chat_id = params.get("chat_id")
        text = params.get("text")
        if chat_id in (None, ""):
            return _bad("chat_id is empty")
        if not isinstance(text, str) or not text.strip():
            return _bad("message text is empty")
        if len(text) > MAX_TEXT:
            return _bad("message is too long")
        assert isinstance(chat_id, (int, str))
        key = str(chat_id)
        with self._lock:
            if key in self._blocked:
                return _fail(403, "Forbidden: bot was blocked by the user")
            waits = self._throttles.get(key)
            if waits:
                retry_after = waits.pop(0)
                return _fail(
                    429,
                    f"Too Many Requests: retry after {retry_after}",
                    {"retry_after": retry_after},
                )
            message = self._new_message(chat_id, text, params)
            self._sent.append(
                {
                    "chat_id": chat_id,
                    "text": text,
                    "reply_markup": params.get("reply_markup"),
                    "message_thread_id": params.get("message_thread_id"),
                    "parse_mode": params.get("parse_mode"),
                    "message_id": message["message_id"],
                    "at": time.time(),
                }
            )
            return _ok(json.loads(json.dumps(message)))

    def _answer_callback_query(self, params: dict[str, Any]) -> Response:
        if not params.get("callback_query_id"):
            return _bad("query is too old and response timeout expired or query ID is invalid")
        return _ok(True)

    def _set_webhook(self, params: dict[str, Any]) -> Response:
        url = params.get("url") or ""
        secret = params.get("secret_token")
        if secret is not None and not _SECRET.match(str(secret)):
            return _bad("secret token contains unallowed characters")
        with self._lock:
            self._webhook = dict(params) if url else None
        return _ok(True)

    def _delete_webhook(self, params: dict[str, Any]) -> Response:
        with self._lock:
            self._webhook = None
            if params.get("drop_pending_updates"):
                self._updates.clear()
        return _ok(True)

    def _get_webhook_info(self, params: dict[str, Any]) -> Response:
        with self._lock:
            url = self._webhook.get("url", "") if self._webhook else ""
            pending = len(self._updates)
        return _ok({"url": url, "has_custom_certificate": False, "pending_update_count": pending})

    def _get_updates(self, params: dict[str, Any]) -> Response:
        """Queued updates from ``offset`` on; an offset confirms (drops) the earlier ones.

        A long poll (``timeout`` > 0) waits for an update at most ``LONG_POLL_CAP`` seconds,
        so tests stay fast while the client's long-poll path is still exercised."""
        offset = params.get("offset")
        limit = params.get("limit")
        limit = min(max(limit, 1), 100) if isinstance(limit, int) else 100
        wait = min(float(params.get("timeout") or 0.0), LONG_POLL_CAP)
        deadline = time.monotonic() + wait
        with self._updates_ready:
            if self._webhook:
                return _fail(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            if isinstance(offset, int) and offset < 0:
                self._updates = self._updates[offset:]
            elif isinstance(offset, int):
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            while not self._updates:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not self._updates_ready.wait(remaining):
                    break
            return _ok([dict(u) for u in self._updates[:limit]])

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> Response:
        if params.get("inline_message_id"):
            return _ok(True)
        chat_id, message_id = params.get("chat_id"), params.get("message_id")
        with self._lock:
            message = None
            if isinstance(message_id, int):
                message = self._stored.get((str(chat_id), message_id))
            if message is None:
                return _bad("message to edit not found")
            markup = params.get("reply_markup")
            if isinstance(markup, dict) and markup.get("inline_keyboard"):
                message["reply_markup"] = markup
            else:
                message.pop("reply_markup", None)
            message["edit_date"] = int(time.time())
            return _ok(json.loads(json.dumps(message)))

    def _create_forum_topic(self, params: dict[str, Any]) -> Response:
        chat_id, name = params.get("chat_id"), params.get("name")
        if chat_id in (None, ""):
            return _bad("chat_id is empty")
        if not isinstance(name, str) or not 1 <= len(name) <= 128:
            return _bad("TOPIC_NAME_INVALID")
        color = params.get("icon_color")
        topic: dict[str, Any] = {
            "name": name,
            "icon_color": color if isinstance(color, int) else DEFAULT_ICON_COLOR,
        }
        if params.get("icon_custom_emoji_id"):
            topic["icon_custom_emoji_id"] = params["icon_custom_emoji_id"]
        with self._lock:
            topic["message_thread_id"] = self._next_thread_id
            self._next_thread_id += 1
            self._topics[(str(chat_id), topic["message_thread_id"])] = {
                "chat_id": chat_id,
                **topic,
                "closed": False,
            }
        return _ok(topic)

    def _topic(self, params: dict[str, Any]) -> dict[str, Any] | None:
        """The stored topic the call names (call with the lock held)."""
        thread = params.get("message_thread_id")
        if not isinstance(thread, int):
            return None
        return self._topics.get((str(params.get("chat_id")), thread))

    def _edit_forum_topic(self, params: dict[str, Any]) -> Response:
        with self._lock:
            topic = self._topic(params)
            if topic is None:
                return _bad("TOPIC_ID_INVALID")
            for field in ("name", "icon_custom_emoji_id"):
                if params.get(field) is not None:
                    topic[field] = params[field]
        return _ok(True)

    def _set_closed(self, params: dict[str, Any], closed: bool) -> Response:
        with self._lock:
            topic = self._topic(params)
            if topic is None:
                return _bad("TOPIC_ID_INVALID")
            if topic["closed"] == closed:
                return _bad("TOPIC_NOT_MODIFIED")
            topic["closed"] = closed
        return _ok(True)

    def _close_forum_topic(self, params: dict[str, Any]) -> Response:
        return self._set_closed(params, True)

    def _reopen_forum_topic(self, params: dict[str, Any]) -> Response:
        return self._set_closed(params, False)

    def _delete_forum_topic(self, params: dict[str, Any]) -> Response:
        """The topic and every message posted in it go (Telegram: the whole thread)."""
        with self._lock:
            topic = self._topic(params)
            if topic is None:
                return _bad("TOPIC_ID_INVALID")
            thread = topic["message_thread_id"]
            del self._topics[(str(params.get("chat_id")), thread)]
            for message in self._sent:  # kept for the tests, marked as Telegram drops them
                if message.get("message_thread_id") == thread and str(
                        message.get("chat_id")) == str(params.get("chat_id")):
                    message["deleted"] = True
        return _ok(True)

    def _get_file(self, params: dict[str, Any]) -> Response:
        file_id = params.get("file_id")
        if not isinstance(file_id, str) or not file_id:
            return _bad("invalid file_id")
        with self._lock:
            size = len(self._files.get(file_id, b""))
        return _ok(
            {
                "file_id": file_id,
                "file_unique_id": format(zlib.crc32(file_id.encode()), "08x"),
                "file_size": size,
                "file_path": f"files/{file_id}",
            }
        )
