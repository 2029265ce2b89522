"""Every setting of the project, read from the environment once per process.

Documented once in ``.env.example``. :func:`settings_from_env` reads the environment (and
nothing else: no connection, no file) the first time it is called and keeps the result;
the composition root (:mod:`bot.runtime`) and the command line pass each part its section
(:class:`ChannelSettings`, :class:`HandoffSettings`...). Every section's defaults are the
embedded local run's, so ``make run`` needs no setting at all.

Secrets (Twilio auth token, Telegram bot token and webhook secret, the pseudonym key) come
only from the environment. A channel whose secrets are missing stays registered but answers
503 and processes nothing, so the local run needs no outside account.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from bot import PROJECT_ROOT

# Twilio's default address; the stand-in's address replaces it in tests and local runs.
TWILIO_DEFAULT_API = "https://api.twilio.com"
TELEGRAM_DEFAULT_API = "https://api.telegram.org"
_TRUE = {"1", "true", "yes"}


def load_dotenv(path: Path, environ: MutableMapping[str, str] | None = None) -> None:
    """Put ``KEY=VALUE`` lines of ``path`` into the environment, never overriding it."""
    environ = os.environ if environ is None else environ
    if not path.is_file():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        environ.setdefault(key.strip(), value.strip().strip('"').strip("'"))


@dataclass(frozen=True)
class StackSettings:
    """Where the local stack (``make run``, the tests) listens and keeps its state."""

    rasa_port: int = 5005
    action_port: int = 5055
    host: str = "127.0.0.1"
    var_dir: Path = PROJECT_ROOT / "var"
    model: Path = PROJECT_ROOT / "models" / "current.tar.gz"
    tracker_db: Path = PROJECT_ROOT / "var" / "tracker.db"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StackSettings:
        """Read ``RASA_PORT``, ``ACTION_PORT``, ``VAR_DIR``, ``MODEL_PATH``, ``TRACKER_DB``."""
        env = os.environ if environ is None else environ
        var_dir = Path(env.get("VAR_DIR", cls.var_dir))
        return cls(
            rasa_port=int(env.get("RASA_PORT", cls.rasa_port)),
            action_port=int(env.get("ACTION_PORT", cls.action_port)),
            var_dir=var_dir,
            model=Path(env.get("MODEL_PATH", cls.model)),
            tracker_db=Path(env.get("TRACKER_DB", var_dir / "tracker.db")),
        )

    @property
    def rasa_url(self) -> str:
        return f"http://{self.host}:{self.rasa_port}"

    @property
    def action_url(self) -> str:
        return f"http://{self.host}:{self.action_port}/webhook"


@dataclass(frozen=True)
class ChannelSettings:
    """The SMS, Telegram and local channels and their outbox."""

    pseudonym_key: bytes = b""
    public_url: str = ""  # the address Twilio calls, e.g. https://sante.example.org
    trust_proxy: bool = False  # rebuild the public URL from X-Forwarded-* headers
    twilio_account_sid: str = ""
    twilio_auth_token: str = ""
    twilio_from: str = ""  # a number, or empty when a messaging service sends
    twilio_messaging_service_sid: str = ""
    twilio_api_base_url: str = TWILIO_DEFAULT_API
    telegram_token: str = ""
    telegram_secret: str = ""
    telegram_api_base_url: str = TELEGRAM_DEFAULT_API
    rate_limit: int = 20  # messages a sender may send per window before we stop answering
    rate_window: timedelta = timedelta(minutes=10)
    max_body_bytes: int = 64 * 1024  # a webhook body larger than this is refused (413)
    turn_concurrency: int = 8  # turns running at once in one process: keeps webhooks fast
    local_channel: bool = False  # the terminal chat and local console of `make run` (loopback)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ChannelSettings:
        env = os.environ if environ is None else environ
        return cls(
            pseudonym_key=env.get("PSEUDONYM_KEY", "").encode(),
            public_url=env.get("PUBLIC_URL", "").rstrip("/"),
            trust_proxy=env.get("TRUST_PROXY", "").lower() in _TRUE,
            twilio_account_sid=env.get("TWILIO_ACCOUNT_SID", ""),
            twilio_auth_token=env.get("TWILIO_AUTH_TOKEN", ""),
            twilio_from=env.get("TWILIO_FROM_NUMBER", ""),
            twilio_messaging_service_sid=env.get("TWILIO_MESSAGING_SERVICE_SID", ""),
            twilio_api_base_url=env.get("TWILIO_API_BASE_URL") or TWILIO_DEFAULT_API,
            telegram_token=env.get("TELEGRAM_BOT_TOKEN", ""),
            telegram_secret=env.get("TELEGRAM_WEBHOOK_SECRET", ""),
            telegram_api_base_url=env.get("TELEGRAM_API_BASE_URL") or TELEGRAM_DEFAULT_API,
            rate_limit=int(env.get("RATE_LIMIT_MESSAGES", cls.rate_limit)),
            rate_window=timedelta(
                seconds=int(env.get("RATE_LIMIT_WINDOW_S", cls.rate_window.total_seconds()))
            ),
            turn_concurrency=int(env.get("TURN_CONCURRENCY", cls.turn_concurrency)),
            local_channel=env.get("LOCAL_CHANNEL", "").lower() in _TRUE,
        )

    @property
    def sms_ready(self) -> bool:
        """Every secret SMS needs is set (a sender number or a messaging service too)."""
        return bool(
            self.pseudonym_key
            and self.twilio_account_sid
            and self.twilio_auth_token
            and (self.twilio_from or self.twilio_messaging_service_sid)
        )

    @property
    def local_ready(self) -> bool:
        return bool(self.pseudonym_key and self.local_channel)

    @property
    def telegram_ready(self) -> bool:
        return bool(self.pseudonym_key and self.telegram_token and self.telegram_secret)


@dataclass(frozen=True)
class HandoffSettings:
    """The counsellor handoff's deadlines and staff group."""

    renotify_after: timedelta = timedelta(minutes=5)  # unclaimed: notify the counsellors again
    give_up_after: timedelta = timedelta(minutes=20)  # unclaimed: tell the user, back to the bot
    idle_after: timedelta = timedelta(minutes=30)  # claimed, nobody wrote: close ("timeout")
    # She writes, her counsellor does not answer: back to the queue, first in line.
    counsellor_silent: timedelta = timedelta(minutes=10)
    waiting_notice_every: timedelta = timedelta(minutes=5)  # "you are number N", at most
    staff_chat_id: int | None = None  # the counsellors' Telegram supergroup (forum topics)
    staff_language: str = "fr"  # the language of the staff group's notices
    staff_per_minute: float = 20.0  # Telegram's limit for one group
    counsellors_file: str = ""  # the registry's data file, imported at server start

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HandoffSettings:
        env = os.environ if environ is None else environ

        def seconds(name: str, default: timedelta) -> timedelta:
            return timedelta(seconds=float(env.get(name) or default.total_seconds()))

        staff = env.get("TELEGRAM_STAFF_CHAT_ID", "").strip()
        return cls(
            renotify_after=seconds("HANDOFF_RENOTIFY_S", cls.renotify_after),
            give_up_after=seconds("HANDOFF_GIVE_UP_S", cls.give_up_after),
            idle_after=seconds("HANDOFF_IDLE_S", cls.idle_after),
            counsellor_silent=seconds("HANDOFF_COUNSELLOR_SILENT_S", cls.counsellor_silent),
            waiting_notice_every=seconds("HANDOFF_WAITING_NOTICE_S", cls.waiting_notice_every),
            staff_chat_id=int(staff) if staff.lstrip("-").isdigit() else None,
            staff_language=env.get("TELEGRAM_STAFF_LANGUAGE") or cls.staff_language,
            staff_per_minute=float(env.get("TELEGRAM_STAFF_PER_MINUTE") or cls.staff_per_minute),
            counsellors_file=env.get("COUNSELLORS_FILE", ""),
        )


@dataclass(frozen=True)
class BookingSettings:
    """Workshop booking: when the reminder goes out."""

    reminder_before: timedelta = timedelta(hours=24)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BookingSettings:
        """``BOOKING_REMINDER_HOURS`` (default 24)."""
        env = os.environ if environ is None else environ
        return cls(reminder_before=timedelta(hours=float(env.get("BOOKING_REMINDER_HOURS") or 24)))


@dataclass(frozen=True)
class ServeSettings:
    """Production mode (``python -m bot serve``) and running several instances."""

    host: str = "127.0.0.1"  # where the Rasa servers listen: behind a reverse proxy
    api_token: str = ""  # the Rasa HTTP API in serve mode: off when empty
    tracker_store_url: str = ""  # empty: the SQLite file TRACKER_DB
    lock_store_url: str = ""  # empty: in memory (one instance only); redis://... to scale out
    instances: int = 1  # Rasa server processes `python -m bot serve` starts on this host
    instance_id: str = ""  # empty: this host's name and the instance number
    lease: timedelta = timedelta(seconds=30)  # a conversation an instance holds, renewed

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServeSettings:
        env = os.environ if environ is None else environ
        return cls(
            host=env.get("HOST") or cls.host,
            api_token=env.get("RASA_API_TOKEN", ""),
            tracker_store_url=env.get("TRACKER_STORE_URL", ""),
            lock_store_url=env.get("LOCK_STORE_URL", ""),
            instances=int(env.get("INSTANCES") or cls.instances),
            instance_id=env.get("INSTANCE_ID", ""),
            lease=timedelta(seconds=float(env.get("CONVERSATION_LEASE_S") or 30)),
        )


def _keys(value: str) -> tuple[bytes, ...]:
    """A comma-separated list of keys, newest first (empty entries dropped)."""
    return tuple(k.strip().encode() for k in value.split(",") if k.strip())


@dataclass(frozen=True)
class PrivacySettings:
    """What is kept, for how long, and the keys that protect it at rest."""

    retention_days: int = 90  # message texts older than this are erased everywhere
    purge_every: timedelta = timedelta(hours=1)  # how often an instance looks (under a lease)
    # Fernet keys for addresses and texts in our tables, newest first: the first encrypts,
    # all decrypt; rotation re-encrypts with the first in the background.
    data_keys: tuple[bytes, ...] = ()
    # Pseudonym keys replaced by PSEUDONYM_KEY, newest first: a returning user is still
    # found while `privacy rotate-pseudonym-key` re-keys the lookups.
    previous_pseudonym_keys: tuple[bytes, ...] = ()

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> PrivacySettings:
        """``RETENTION_DAYS``, ``PRIVACY_PURGE_EVERY_S``, ``DATA_KEYS``,
        ``PSEUDONYM_KEYS_PREVIOUS``."""
        env = os.environ if environ is None else environ
        return cls(
            retention_days=int(env.get("RETENTION_DAYS") or cls.retention_days),
            purge_every=timedelta(
                seconds=float(env.get("PRIVACY_PURGE_EVERY_S") or cls.purge_every.total_seconds())
            ),
            data_keys=_keys(env.get("DATA_KEYS", "")),
            previous_pseudonym_keys=_keys(env.get("PSEUDONYM_KEYS_PREVIOUS", "")),
        )


@dataclass(frozen=True)
class DashboardSettings:
    """The staff dashboard (``python -m bot dashboard``, ``/staff/`` behind the proxy)."""

    host: str = "127.0.0.1"  # behind the reverse proxy, never on a public address
    port: int = 5090
    secure_cookie: bool = False  # true behind HTTPS: the browser sends the session over TLS only
    session_idle: timedelta = timedelta(minutes=30)  # signed out after this long unused
    session_max: timedelta = timedelta(hours=12)  # and after this long in any case
    lockout_after: int = 5  # wrong passwords in a row before the account is locked
    lockout_for: timedelta = timedelta(minutes=15)
    refresh_every: timedelta = timedelta(minutes=10)  # the weekly figures are recomputed

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DashboardSettings:
        """``DASHBOARD_HOST``, ``DASHBOARD_PORT``, ``DASHBOARD_SECURE_COOKIE``,
        ``DASHBOARD_SESSION_IDLE_MIN``, ``DASHBOARD_SESSION_MAX_H``, ``DASHBOARD_LOCKOUT_AFTER``,
        ``DASHBOARD_LOCKOUT_MIN``, ``DASHBOARD_REFRESH_MIN``."""
        env = os.environ if environ is None else environ

        def minutes(name: str, default: timedelta) -> timedelta:
            return timedelta(minutes=float(env.get(name) or default.total_seconds() / 60))

        return cls(
            host=env.get("DASHBOARD_HOST") or cls.host,
            port=int(env.get("DASHBOARD_PORT") or cls.port),
            secure_cookie=env.get("DASHBOARD_SECURE_COOKIE", "").strip().lower() in _TRUE,
            session_idle=minutes("DASHBOARD_SESSION_IDLE_MIN", cls.session_idle),
            session_max=timedelta(hours=float(
                env.get("DASHBOARD_SESSION_MAX_H") or cls.session_max.total_seconds() / 3600)),
            lockout_after=int(env.get("DASHBOARD_LOCKOUT_AFTER") or cls.lockout_after),
            lockout_for=minutes("DASHBOARD_LOCKOUT_MIN", cls.lockout_for),
            refresh_every=minutes("DASHBOARD_REFRESH_MIN", cls.refresh_every),
        )


@dataclass(frozen=True)
class Settings:
    """All of them: what :func:`settings_from_env` returns."""

    database_url: str = ""  # empty: the SQLite file var_dir/app.db
    locales_dir: Path = PROJECT_ROOT / "locales"
    stack: StackSettings = field(default_factory=StackSettings)
    channels: ChannelSettings = field(default_factory=ChannelSettings)
    handoff: HandoffSettings = field(default_factory=HandoffSettings)
    booking: BookingSettings = field(default_factory=BookingSettings)
    serve: ServeSettings = field(default_factory=ServeSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    dashboard: DashboardSettings = field(default_factory=DashboardSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            database_url=env.get("DATABASE_URL", ""),
            locales_dir=Path(env.get("LOCALES_DIR") or cls.locales_dir),
            stack=StackSettings.from_env(env),
            channels=ChannelSettings.from_env(env),
            handoff=HandoffSettings.from_env(env),
            booking=BookingSettings.from_env(env),
            serve=ServeSettings.from_env(env),
            privacy=PrivacySettings.from_env(env),
            dashboard=DashboardSettings.from_env(env),
        )

    @property
    def sqlite_file(self) -> Path:
        """The embedded database, when ``DATABASE_URL`` is not set."""
        return self.stack.var_dir / "app.db"

    @property
    def tracker_store_url(self) -> str:
        """Rasa's tracker store: ``TRACKER_STORE_URL``, else the SQLite file ``TRACKER_DB``."""
        return self.serve.tracker_store_url or f"sqlite:///{self.stack.tracker_db.resolve()}"


@functools.cache
def settings_from_env() -> Settings:
    """The process's settings, read from the environment on the first call. A test that
    changes the environment calls ``settings_from_env.cache_clear()`` afterwards."""
    return Settings.from_env()
