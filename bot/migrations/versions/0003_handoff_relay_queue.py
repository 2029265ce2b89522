"""handoff relay queue: her messages waiting for the counsellor's console, and the lease of
the one sender who relays them

Existing messages get ``to_relay`` false: they were relayed, or their failure was told to her
when it happened (the behaviour before this revision).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 23:21:37.860078
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("handoff_messages", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("to_relay", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.create_index(
            "ix_handoff_messages_to_relay", ["to_relay", "handoff_id"], unique=False
        )
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("relay_holder", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("relay_lease_until", sa.DateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.drop_column("relay_lease_until")
        batch_op.drop_column("relay_holder")
    with op.batch_alter_table("handoff_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_handoff_messages_to_relay")
        batch_op.drop_column("to_relay")
