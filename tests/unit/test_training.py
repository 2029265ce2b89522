"""The model is retrained exactly when what it is built from changes."""

import shutil
from pathlib import Path

from bot import PROJECT_ROOT
from bot.training import INPUTS, fingerprint, is_fresh


def _copy_inputs(tmp_path: Path) -> Path:
    for name in INPUTS:
        source = PROJECT_ROOT / name
        target = tmp_path / name
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    return tmp_path


def test_fingerprint_follows_data_config_and_nlu_code(tmp_path: Path) -> None:
    root = _copy_inputs(tmp_path)
    before = fingerprint(root)
    assert fingerprint(root) == before
    for changed in ("data/nlu/fr/basics.yml", "config.yml", "bot/nlu/normalise.py"):
        path = root / changed
        original = path.read_text(encoding="utf-8")
        path.write_text(original + "\n# changed\n", encoding="utf-8")
        assert fingerprint(root) != before, changed
        path.write_text(original, encoding="utf-8")
    assert fingerprint(root) == before


def test_missing_or_stale_model_is_not_fresh(tmp_path: Path) -> None:
    root = _copy_inputs(tmp_path)
    model = tmp_path / "models" / "current.tar.gz"
    assert not is_fresh(model, root)
    model.parent.mkdir()
    model.write_bytes(b"model")
    (model.parent / "current.fingerprint").write_text(fingerprint(root))
    assert is_fresh(model, root)
    (root / "data" / "rules" / "basics.yml").write_text("version: '3.1'\n")
    assert not is_fresh(model, root)
