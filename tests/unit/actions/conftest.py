"""Fixtures of the action tests: the real domain (loaded once) and, for actions that write,
the app database on a SQLite file of the test's own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from tests.support.actions import app_database, load_domain


@pytest.fixture(scope="session")
def domain() -> dict[str, Any]:
    return load_domain()


@pytest.fixture()
def engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Engine]:
    with app_database(monkeypatch, tmp_path) as made:
        yield made
