"""The shape of the code: no import cycle, imports only point down the layers, lazy imports
only with their reason, modules of a readable size (``python -m tests.support.imports``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.imports import LAYERS, ORDER, Graph, build, layer

MAX_LINES = 600


@pytest.fixture(scope="module")
def graph() -> Graph:
    return build()


def test_no_import_cycle(graph: Graph) -> None:
    """A cycle makes import order matter and hides which part depends on which."""
    assert graph.cycles() == []


def test_imports_point_down_the_layers(graph: Graph) -> None:
    """Features use services and storage; storage never knows a feature; channels get the
    handoff and the keywords from the composition root (bot/runtime.py)."""
    assert [f"{i.importer}:{i.line} -> {i.imported}" for i in graph.upward()] == []


def test_every_module_has_a_layer(graph: Graph) -> None:
    for name in graph.modules:
        assert layer(name) in ORDER


def test_function_level_imports_say_why(graph: Graph) -> None:
    """Only where Rasa forces it (its import costs seconds a command may not need), each
    with a ``# lazy: <reason>`` comment on its line."""
    assert [f"{i.importer}:{i.line}" for i in graph.function_level() if not i.reason] == []


def test_modules_stay_under_600_lines(graph: Graph) -> None:
    assert {n: s for n, s in graph.sizes().items() if s > MAX_LINES} == {}


def test_the_checks_catch_what_they_are_for(tmp_path: Path) -> None:
    """A cycle, an upward import and a lazy import without reason, in a scratch tree."""
    for package in ("bot", "actions"):
        (tmp_path / package).mkdir()
        (tmp_path / package / "__init__.py").write_text("")
    (tmp_path / "bot" / "db").mkdir()
    (tmp_path / "bot" / "db" / "__init__.py").write_text("")
    (tmp_path / "bot" / "db" / "base.py").write_text("from bot.booking import x\n")
    (tmp_path / "bot" / "booking").mkdir()
    (tmp_path / "bot" / "booking" / "__init__.py").write_text(
        "from bot.db.base import y\n\ndef f():\n    import json\n"
    )
    scratch = build(tmp_path)
    assert scratch.cycles() == [["bot.booking", "bot.db.base"]]
    assert [(i.importer, i.imported) for i in scratch.upward()] == [("bot.db.base", "bot.booking")]
    assert [(i.importer, i.reason) for i in scratch.function_level()] == [("bot.booking", "")]
    assert LAYERS[-1][0] == ORDER[0]
