"""Shared fixtures. The trained model is loaded once per session, in one running stack."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import PROJECT_ROOT
from bot.local import LocalStack
from bot.settings import Settings
from bot.training import ensure_model


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The project's model, trained first if missing or stale (once per test run)."""
    model = PROJECT_ROOT / "models" / "current.tar.gz"
    ensure_model(model)
    return model


@pytest.fixture(scope="session")
def stack(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """Action server + Rasa server (REST channel, HTTP API), SQLite tracker in a temp dir."""
    var = tmp_path_factory.mktemp("var")
    settings = Settings(
        rasa_port=_free_port(),
        action_port=_free_port(),
        var_dir=var,
        model=model_path,
        tracker_db=var / "tracker.db",
    )
    with LocalStack(settings) as running:
        yield running
