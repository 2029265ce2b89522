"""One settings module, read once, every setting documented in ``.env.example``."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from bot import PROJECT_ROOT
from bot.settings import Settings, settings_from_env

SETTINGS_MODULE = PROJECT_ROOT / "bot" / "settings.py"
# Reading the environment elsewhere is for these reasons only: the launcher, the serve
# supervisor and the comparison and dashboard benchmarks copy it into the servers'
# environment, training prints less on CI.
ENVIRONMENT_READERS = {
    "bot/settings.py", "bot/launcher.py", "bot/server/supervisor.py",
    "bot/server/bench/targets.py", "bot/training.py", "bot/dashboard/bench.py",
}  # fmt: skip


def _read_names() -> set[str]:
    return set(re.findall(r'env\.get\("([A-Z_]+)"', SETTINGS_MODULE.read_text(encoding="utf-8")))


def test_defaults_are_the_local_run() -> None:
    """An empty environment is `make run`'s: SQLite, no channel secrets, the shipped catalogs."""
    settings = Settings.from_env({})
    assert settings == Settings()
    assert settings.database_url == "" and settings.sqlite_file.name == "app.db"
    assert not settings.channels.sms_ready and not settings.channels.telegram_ready
    assert settings.locales_dir == PROJECT_ROOT / "locales"
    assert settings.booking.reminder_before == timedelta(hours=24)


def test_each_section_reads_its_variables() -> None:
    settings = Settings.from_env({
        "DATABASE_URL": "postgresql://x/y", "RATE_LIMIT_MESSAGES": "3",
        "HANDOFF_GIVE_UP_S": "60", "TELEGRAM_STAFF_CHAT_ID": "-1001",
        "BOOKING_REMINDER_HOURS": "2", "RASA_PORT": "6000", "VAR_DIR": "/srv/var",
    })  # fmt: skip
    assert settings.database_url == "postgresql://x/y"
    assert settings.channels.rate_limit == 3
    assert settings.handoff.give_up_after == timedelta(seconds=60)
    assert settings.handoff.staff_chat_id == -1001
    assert settings.booking.reminder_before == timedelta(hours=2)
    assert settings.stack.rasa_port == 6000
    assert settings.sqlite_file == Path("/srv/var/app.db")


def test_read_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """A change of the environment after the first read changes nothing until the cache is
    cleared (the command line clears it after reading .env)."""
    settings_from_env.cache_clear()
    monkeypatch.setenv("RATE_LIMIT_MESSAGES", "5")
    first = settings_from_env()
    monkeypatch.setenv("RATE_LIMIT_MESSAGES", "6")
    assert settings_from_env() is first and first.channels.rate_limit == 5
    settings_from_env.cache_clear()
    assert settings_from_env().channels.rate_limit == 6
    monkeypatch.undo()
    settings_from_env.cache_clear()


def test_every_setting_is_documented_in_env_example() -> None:
    documented = set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (PROJECT_ROOT / ".env.example").read_text(), re.M)
    )
    assert _read_names() - documented == set()


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = {
        str(path.relative_to(PROJECT_ROOT))
        for package in ("bot", "actions")
        for path in (PROJECT_ROOT / package).rglob("*.py")
        if re.search(r"os\.environ|os\.getenv|getenv\(", path.read_text(encoding="utf-8"))
    }
    assert readers <= ENVIRONMENT_READERS
