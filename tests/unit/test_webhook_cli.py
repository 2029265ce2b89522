"""``python -m bot telegram set-webhook|delete-webhook|webhook-info`` against the Telegram
stand-in, through python-telegram-bot, as an operator runs them on the server."""

from __future__ import annotations

import argparse
import socket
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest
from telegram import WebhookInfo

from bot.channels.webhook_cli import ALLOWED_UPDATES, add_commands, info_lines, webhook_problems
from bot.settings import ChannelSettings, settings_from_env
from bot.standins.telegram import TelegramStandIn

BOT_TOKEN = "424242:webhook-cli-token"
SECRET = "webhook-cli-secret_42"
PUBLIC_URL = "https://sante.example.org"
HOOK = f"{PUBLIC_URL}/webhooks/telegram/webhook"


@pytest.fixture()
def telegram(monkeypatch: pytest.MonkeyPatch) -> Iterator[TelegramStandIn]:
    """The stand-in, and the settings of a server that uses it (read afresh by each test)."""
    with TelegramStandIn(BOT_TOKEN) as standin:
        for name, value in {
            "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
            "TELEGRAM_API_BASE_URL": standin.base_url,
            "PUBLIC_URL": PUBLIC_URL,
        }.items():
            monkeypatch.setenv(name, value)
        settings_from_env.cache_clear()
        yield standin
    monkeypatch.undo()
    settings_from_env.cache_clear()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """``python -m bot telegram ARGV``: exit status, stdout, stderr."""
    parser = argparse.ArgumentParser(prog="python -m bot")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["telegram", *argv])
    status = args.func(args, settings_from_env().stack)
    out, err = capsys.readouterr()
    assert BOT_TOKEN not in out + err and SECRET not in out + err  # never printed
    return status, out, err


def test_set_webhook_points_telegram_at_the_public_url_with_the_secret(
    telegram: TelegramStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run(capsys, "set-webhook")
    assert (status, err) == (0, "")
    assert telegram.webhook == {
        "url": HOOK,
        "secret_token": SECRET,
        "allowed_updates": ["message", "edited_message", "callback_query"],
        "drop_pending_updates": False,
    }
    assert f"url: {HOOK}" in out.splitlines()


def test_webhook_info_shows_url_and_pending_updates(
    telegram: TelegramStandIn, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run(capsys, "webhook-info")
    assert status == 0 and "url: (none: no webhook set)" in out
    run(capsys, "set-webhook")
    for update_id in (7, 8):
        telegram.queue_update({"update_id": update_id})
    status, out, _ = run(capsys, "webhook-info")
    assert status == 0
    assert out.splitlines()[:3] == [f"url: {HOOK}", "pending updates: 2", "last error: none"]


def test_delete_webhook(telegram: TelegramStandIn, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "set-webhook")
    telegram.queue_update({"update_id": 1})
    status, out, _ = run(capsys, "delete-webhook")
    assert status == 0 and telegram.webhook is None and "deleted" in out
    status, out, _ = run(capsys, "webhook-info")
    assert "pending updates: 1" in out  # kept for getUpdates unless asked
    run(capsys, "delete-webhook", "--drop-pending-updates")
    assert "pending updates: 0" in run(capsys, "webhook-info")[1]


@pytest.mark.parametrize(
    ("env", "problems"),
    [
        ({"PUBLIC_URL": "http://sante.example.org"}, ["PUBLIC_URL must be an https://"]),
        ({"PUBLIC_URL": ""}, ["PUBLIC_URL must be an https://"]),
        ({"PUBLIC_URL": "https://sante.example.org:5005"}, ["PUBLIC_URL's port"]),
        ({"TELEGRAM_WEBHOOK_SECRET": "has spaces"}, ["TELEGRAM_WEBHOOK_SECRET must be"]),
        (
            {"TELEGRAM_BOT_TOKEN": "", "TELEGRAM_WEBHOOK_SECRET": "", "PUBLIC_URL": "x"},
            ["TELEGRAM_BOT_TOKEN is empty", "TELEGRAM_WEBHOOK_SECRET is empty", "PUBLIC_URL"],
        ),
    ],
)
def test_set_webhook_refuses_a_wrong_configuration_before_any_call(
    telegram: TelegramStandIn,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str],
    problems: list[str],
) -> None:
    """Exit 2, one message listing every problem, and Telegram is never called."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings_from_env.cache_clear()
    status, out, err = run(capsys, "set-webhook")
    assert status == 2 and out == ""
    lines = err.splitlines()
    assert lines[0].startswith("telegram set-webhook: not set")
    pairs = zip(lines[1:], problems, strict=True)  # one line per problem
    assert all(line.removeprefix("  - ").startswith(problem) for line, problem in pairs)
    assert telegram.calls == [] and telegram.webhook is None


def test_a_refused_token_is_one_line_without_the_token(
    telegram: TelegramStandIn, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "424242:not-the-token")
    settings_from_env.cache_clear()
    for command in ("set-webhook", "webhook-info", "delete-webhook"):
        status, out, err = run(capsys, command)
        assert status == 1 and out == "" and len(err.splitlines()) == 1
        assert err.startswith(f"telegram {command}: ") and "not-the-token" not in err
    assert telegram.webhook is None


def test_an_unreachable_api_is_reported(
    telegram: TelegramStandIn, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("TELEGRAM_API_BASE_URL", f"http://127.0.0.1:{port}")
    settings_from_env.cache_clear()
    status, _, err = run(capsys, "webhook-info")
    assert status == 1 and err.startswith("telegram webhook-info: NetworkError")


def test_info_lines_show_the_last_error_and_a_foreign_url() -> None:
    info = WebhookInfo(
        url="https://elsewhere.example.org/hook",
        has_custom_certificate=False,
        pending_update_count=12,
        last_error_date=datetime(2026, 12, 6, 10, 30, tzinfo=timezone.utc),
        last_error_message="Wrong response from the webhook: 503 Service Unavailable",
        allowed_updates=list(ALLOWED_UPDATES),
    )
    assert info_lines(info, HOOK) == [
        f"url: https://elsewhere.example.org/hook  (this server's is {HOOK})",
        "pending updates: 12",
        "last error: 2026-12-06 10:30:00 UTC: Wrong response from the webhook: 503 Service "
        "Unavailable",
        "allowed updates: message, edited_message, callback_query",
    ]


def test_the_checks_accept_a_production_configuration() -> None:
    channels = ChannelSettings(
        telegram_token=BOT_TOKEN, telegram_secret=SECRET, public_url=PUBLIC_URL
    )
    assert webhook_problems(channels) == []
    assert webhook_problems(ChannelSettings(
        telegram_token=BOT_TOKEN, telegram_secret=SECRET, public_url=PUBLIC_URL + ":8443"
    )) == []  # fmt: skip
