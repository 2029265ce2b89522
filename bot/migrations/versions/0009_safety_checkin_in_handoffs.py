"""safety check-in in handoffs: when a queued user was asked "are you safe right now?"

While she waits for a counsellor, a message the risk model finds possibly dangerous gets the
check-in; ``checkin_at`` remembers it, so that her "2" / "no" / "help", or more risk, within
a while is answered as an emergency. NULL: no check-in open (every existing handoff).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 12:10:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checkin_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.drop_column("checkin_at")
