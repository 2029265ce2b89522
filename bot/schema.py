"""The table registry: every table of the project, declared by its feature.

Each feature declares its tables on :data:`bot.db.base.Base` in its own module; importing
them all here gives the full metadata to the tools that compare the models with the
revisions (Alembic's autogenerate, ``tests/db/test_migrations.py``) and to tests that make a
schema of their own. Running code never needs it: a database gets its tables from the
revisions (:func:`bot.db.database.migrate`). This module sits above the features, so storage
never imports them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import MetaData

import bot.booking.models
import bot.booking.notices
import bot.channels.buttons
import bot.channels.contacts
import bot.channels.deliveries
import bot.channels.leases
import bot.channels.messages
import bot.dashboard.models
import bot.handoff.models
import bot.handoff.ownership
import bot.handoff.registry
import bot.safety.models
import bot.safety.review  # noqa: F401 - imported for their tables
from bot import migrations
from bot.db.base import Base

metadata: MetaData = Base.metadata


def revision(message: str, url: str | None = None, **options: Any) -> Path:
    """Write the next Alembic revision by autogenerate from every model
    (``python -c "from bot.schema import revision; revision('what changed')"``)."""
    return migrations.revision(message, url, metadata=metadata, **options)
