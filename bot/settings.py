"""Settings from the environment, with the embedded defaults of the local run.

Documented once in ``.env.example``. Nothing here opens a connection or a file: callers
get a :class:`Settings` and pass it on.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot import PROJECT_ROOT


def load_dotenv(path: Path, environ: dict[str, str] | None = None) -> None:
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
class Settings:
    """Where the local stack listens and keeps its state."""

    rasa_port: int = 5005
    action_port: int = 5055
    host: str = "127.0.0.1"
    var_dir: Path = PROJECT_ROOT / "var"
    model: Path = PROJECT_ROOT / "models" / "current.tar.gz"
    tracker_db: Path = PROJECT_ROOT / "var" / "tracker.db"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
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
