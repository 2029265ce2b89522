"""The strict wrapper around `rasa data validate` accepts our project and nothing sloppier."""

import shutil
from pathlib import Path

from bot import PROJECT_ROOT
from bot.validate import validate


def _copy_project(tmp_path: Path) -> Path:
    for name in ("config.yml", "domain", "data", "actions", "bot"):
        source = PROJECT_ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    return tmp_path


def test_project_is_clean() -> None:
    assert validate() == []


def test_a_response_nobody_sends_is_reported(tmp_path: Path) -> None:
    root = _copy_project(tmp_path)
    (root / "domain" / "extra.yml").write_text(
        'version: "3.1"\nresponses:\n  utter_orphan:\n    - text: orphan\n', encoding="utf-8"
    )
    problems = validate(root)
    assert any("utter_orphan" in p for p in problems), problems
