"""Train the model only when it is missing or what it is made of has changed.

The fingerprint covers the config, the domain, the training data and our NLU code; it is
written beside the model, so ``make run`` after a ``git pull`` retrains exactly when needed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
from pathlib import Path

from bot import PROJECT_ROOT

logger = logging.getLogger(__name__)

INPUTS = (
    "config.yml", "domain", "data", "bot/nlu", "bot/safety/risk.py", "requirements/constraints.txt",
)


def fingerprint(root: Path = PROJECT_ROOT) -> str:
    """A hash of every file the model is built from, by relative path and content."""
    digest = hashlib.sha256()
    for name in INPUTS:
        path = root / name
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.suffix in {".pyc"} or "__pycache__" in file.parts:
                continue
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    return digest.hexdigest()


def _stamp(model: Path) -> Path:
    return model.with_suffix("").with_suffix(".fingerprint")


def is_fresh(model: Path, root: Path = PROJECT_ROOT) -> bool:
    """Whether ``model`` exists and was trained on what is in ``root`` now."""
    stamp = _stamp(model)
    return model.is_file() and stamp.is_file() and stamp.read_text().strip() == fingerprint(root)


def ensure_model(model: Path, root: Path = PROJECT_ROOT, force: bool = False) -> bool:
    """Train into ``model`` if it is missing or stale. Returns whether it trained.

    Training runs as a separate ``rasa train`` process so that TensorFlow's memory is
    given back before the servers start.
    """
    if not force and is_fresh(model, root):
        print(f"Model {model.name} is up to date.")
        return False
    print("Training the model (about ten minutes on two cores)...", flush=True)
    model.parent.mkdir(parents=True, exist_ok=True)
    current = fingerprint(root)
    command = [
        str(Path(sys.executable).with_name("rasa")),
        "train",
        "--domain", "domain",
        "--data", "data",
        "--config", "config.yml",
        "--out", str(model.parent),
        "--fixed-model-name", model.name.removesuffix(".tar.gz"),
        "--force",
    ]
    if os.environ.get("CI"):
        command.append("--quiet")  # no progress bars in CI logs
    subprocess.run(command, cwd=root, check=True)
    _stamp(model).write_text(current + "\n")
    return True
