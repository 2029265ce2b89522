"""Production mode without a running server: what ``make serve`` refuses to start with, what
each mode exposes, the stores' URLs, and logs that never carry a number."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rasa.core.lock_store import InMemoryLockStore
from sanic import Sanic

from bot import PROJECT_ROOT, logs
from bot.server import checks
from bot.server.app import build_app
from bot.server.stores import EnvLockStore, lock_store_for, redis_options, sql_url
from bot.server.supervisor import instance_id
from bot.settings import Settings

MODEL = PROJECT_ROOT / "pyproject.toml"  # any file: the checks only look that it exists
GOOD = {
    "PSEUDONYM_KEY": "k" * 32, "PUBLIC_URL": "https://sante.example.org",
    "DATABASE_URL": "postgresql://sante@127.0.0.1/sante", "MODEL_PATH": str(MODEL),
    "TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "TWILIO_AUTH_TOKEN": "secret",
    "TWILIO_FROM_NUMBER": "+15005550006",
    "DATA_KEYS": "ZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGRkZGQ=",  # a Fernet key (32 bytes)
}  # fmt: skip
SCALED = {**GOOD, "TRACKER_STORE_URL": "postgresql://sante@127.0.0.1/sante",
          "LOCK_STORE_URL": "redis://127.0.0.1:6379/1"}  # fmt: skip


def problems(env: dict[str, str], instances: int = 1) -> list[str]:
    return checks.problems(Settings.from_env(env), instances)


def test_good_production_settings_pass() -> None:
    assert problems(GOOD) == []
    assert problems(SCALED, instances=3) == []
    telegram = {k: v for k, v in GOOD.items() if not k.startswith("TWILIO")}
    telegram.update(TELEGRAM_BOT_TOKEN="1:abc", TELEGRAM_WEBHOOK_SECRET="s" * 24)
    assert problems(telegram) == []


def test_every_missing_or_weak_setting_is_named_at_once() -> None:
    found = problems({"PSEUDONYM_KEY": "short", "PUBLIC_URL": "http://sante.example.org",
                      "MODEL_PATH": "/nowhere.tar.gz", "TWILIO_ACCOUNT_SID": "AC1",
                      "RASA_API_TOKEN": "abc"})  # fmt: skip
    text = "\n".join(found)
    for name in ("PSEUDONYM_KEY is too weak (5 bytes", "PUBLIC_URL must be an https://",
                 "DATABASE_URL is missing", "RASA_API_TOKEN is too weak", "MODEL_PATH",
                 "TWILIO_AUTH_TOKEN is missing (SMS is enabled)",
                 "TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID is missing"):  # fmt: skip
        assert name in text
    assert "short" not in text and "abc" not in text  # names, never values
    assert any("no channel is enabled" in p for p in problems({**GOOD, "TWILIO_ACCOUNT_SID": "",
               "TWILIO_AUTH_TOKEN": "", "TWILIO_FROM_NUMBER": ""}))  # fmt: skip


def test_a_provider_address_must_be_https_unless_a_local_stand_in() -> None:
    assert problems({**GOOD, "TWILIO_API_BASE_URL": "http://127.0.0.1:8080"}) == []
    assert problems({**GOOD, "TWILIO_API_BASE_URL": "http://api.example.org"}) == [
        "TWILIO_API_BASE_URL must be an https:// address (it is http set)"
    ]


def test_several_instances_need_postgresql_and_redis() -> None:
    found = "\n".join(problems({**GOOD, "DATABASE_URL": "sqlite:///var/app.db"}, instances=2))
    assert "DATABASE_URL is a SQLite file" in found
    assert "TRACKER_STORE_URL must be PostgreSQL" in found
    assert "LOCK_STORE_URL must be redis://" in found


def test_data_keys_must_be_fernet_keys_named_never_shown() -> None:
    """Addresses and texts of minors are never stored in plaintext in production."""
    assert problems({**GOOD, "DATA_KEYS": ""})[0].startswith("DATA_KEYS is missing")
    wrong = f"{GOOD['DATA_KEYS']},not-a-fernet-key"
    assert problems({**GOOD, "DATA_KEYS": wrong}) == [
        "DATA_KEYS: key 2 is not a Fernet key (32 url-safe base64-encoded bytes; "
        "`python -m bot privacy new-key` makes one)"
    ]


@pytest.mark.parametrize("missing", ["PSEUDONYM_KEY", "PUBLIC_URL", "DATABASE_URL", "DATA_KEYS"])
def test_serve_with_a_missing_setting_exits_non_zero_naming_it(missing: str) -> None:
    """The real command, as an operator runs it; nothing starts."""
    env = {**os.environ, **GOOD, missing: "", "RASA_TELEMETRY_ENABLED": "false"}
    done = subprocess.run([sys.executable, "-m", "bot", "serve"], env=env, cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2
    assert missing in done.stderr and "Not starting" in done.stderr


@pytest.fixture(autouse=True)
def _apps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sanic refuses two apps of one name in a process, except in its test mode."""
    monkeypatch.setattr(Sanic, "test_mode", True)


def routes(mode: str, env: dict[str, str]) -> set[str]:
    app = build_app(Settings.from_env(env), mode=mode, model=MODEL, port=5005,
                    credentials=PROJECT_ROOT / "credentials.yml",
                    endpoints_file=PROJECT_ROOT / "endpoints.yml")  # fmt: skip
    return {"/" + route.path.lstrip("/") for route in app.router.routes}


def test_serve_mode_opens_the_webhooks_and_health_only_without_a_token() -> None:
    found = routes("serve", GOOD)
    assert {"/webhooks/sms/webhook", "/webhooks/sms/status", "/webhooks/telegram/webhook",
            "/health/live", "/health/ready", "/metrics", "/"} <= found  # fmt: skip
    assert not [r for r in found if r.startswith(("/model", "/conversations", "/status",
                                                  "/webhooks/rest", "/webhooks/local"))]


def test_with_a_token_the_api_is_on_and_rest_and_local_stay_off() -> None:
    found = routes("serve", {**GOOD, "RASA_API_TOKEN": "t" * 40})
    assert {"/model/parse", "/status", "/conversations/<conversation_id:path>/tracker"} <= found
    assert not [r for r in found if r.startswith(("/webhooks/rest", "/webhooks/local"))]


def test_the_local_mode_keeps_what_make_run_needs() -> None:
    found = routes("local", {})
    assert {"/webhooks/rest/webhook", "/webhooks/local/webhook", "/model/parse"} <= found


def test_the_store_urls() -> None:
    assert redis_options("redis://:p%40ss@cache:6380/2") == {
        "host": "cache", "port": 6380, "db": 2, "username": None, "password": "p@ss",
        "use_ssl": False}  # fmt: skip
    assert redis_options("rediss://cache")["db"] == 1 and redis_options("rediss://c")["use_ssl"]
    with pytest.raises(ValueError, match="redis://"):
        redis_options("http://cache")
    assert isinstance(lock_store_for(""), InMemoryLockStore)
    assert sql_url("postgres://a@b/c") == "postgresql://a@b/c"


def test_endpoints_yml_gives_the_local_defaults(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:  # fmt: skip
    """A plain `rasa run` reads endpoints.yml as it is: no ${VAR} to set."""
    text = (PROJECT_ROOT / "endpoints.yml").read_text(encoding="utf-8")
    assert "${" not in text
    from bot.settings import settings_from_env

    monkeypatch.delenv("LOCK_STORE_URL", raising=False)
    settings_from_env.cache_clear()
    assert isinstance(EnvLockStore(endpoint_config=None), InMemoryLockStore)
    settings_from_env.cache_clear()


def test_instance_ids_are_stable_and_unique() -> None:
    one = Settings.from_env({"RASA_PORT": "5005"})
    assert instance_id(one, 0) != instance_id(one, 1)
    assert instance_id(one, 1) == instance_id(Settings.from_env({"RASA_PORT": "5005"}), 1)
    named = Settings.from_env({"INSTANCE_ID": "bamako-a", "INSTANCES": "2"})
    assert [instance_id(named, i) for i in (0, 1)] == ["bamako-a-0", "bamako-a-1"]


def test_logs_never_carry_a_number(caplog: pytest.LogCaptureFixture) -> None:
    """Our lines and library exception texts: numbers and Telegram ids become [number];
    pseudonyms (hexadecimal, letters among the digits) and short numbers stay."""
    assert logs.scrub("could not reach +223 70 12 34 56 (21610)") == (
        "could not reach [number] (21610)")
    assert logs.scrub("chat 5012345678 blocked the bot") == "chat [number] blocked the bot"
    assert logs.scrub("sms-2lf3r2ooxoqjmt7rdrzjlj4e6s turn 12 in 0.35 s") == (
        "sms-2lf3r2ooxoqjmt7rdrzjlj4e6s turn 12 in 0.35 s")
    logger = logging.getLogger("test.scrub")
    handler = caplog.handler
    handler.addFilter(logs.Scrubber())
    try:
        try:
            raise ValueError("To number +51987654321 is not a valid phone number")
        except ValueError:
            logger.exception("Twilio refused %s", "+33612345678")
    finally:
        handler.filters.clear()
    record = caplog.records[-1]
    assert "+33612345678" not in record.getMessage()
    assert "+51987654321" not in (record.exc_text or "")
    assert "[number]" in caplog.text and "987654321" not in caplog.text
