"""Files that hold her data are readable by the service's own user only.

Every process of the project starts from ``python -m bot`` (the local stack, ``serve``, the
command line), which sets the umask to 077 first: SQLite databases and their journals, logs,
keys, exports and the model are created 0600 (folders 0700), and the Rasa and action server
processes it starts inherit it. Files made before that (an older checkout) are narrowed by
:func:`restrict` at start.
"""

from __future__ import annotations

import os
from pathlib import Path

UMASK = 0o077
PRIVATE = ("*.db", "*.db-wal", "*.db-shm", "*.db-journal", "*.log", "*.key", "exports/*")


def private_by_default() -> None:
    """From now on, this process and its children create files only their owner reads."""
    os.umask(UMASK)


def restrict(var_dir: Path) -> int:
    """Narrow the existing data files of ``var_dir`` to 0600; how many were changed."""
    changed = 0
    if not var_dir.is_dir():
        return 0
    for pattern in PRIVATE:
        for path in var_dir.rglob(pattern):
            if path.is_file() and path.stat().st_mode & 0o077:
                path.chmod(0o600)
                changed += 1
    return changed
