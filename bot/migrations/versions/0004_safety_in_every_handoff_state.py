"""safety in every handoff state: supervisors, the counsellor's silence clock, relays in
both directions with attempts, the relay budget, a country asked during a handoff, and the
staff moves that the server announces (timer details)

Existing counsellors become ``counsellor`` (not supervisors); existing messages have made no
failed attempt.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 19:36:54.781474
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("counsellors", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("role", sa.String(length=12), server_default="counsellor", nullable=False)
        )
        batch_op.add_column(sa.Column("stop_asked_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("handoff_messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("handoff_timers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("detail", sa.String(length=60), nullable=True))

    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("user_waiting_since", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column("relay_tokens_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("relay_tokens", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("slow_notice_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("country_question", sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column("country_asks", sa.Integer(), server_default="0", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.drop_column("country_asks")
        batch_op.drop_column("country_question")
        batch_op.drop_column("slow_notice_at")
        batch_op.drop_column("relay_tokens")
        batch_op.drop_column("relay_tokens_at")
        batch_op.drop_column("user_waiting_since")

    with op.batch_alter_table("handoff_timers", schema=None) as batch_op:
        batch_op.drop_column("detail")

    with op.batch_alter_table("handoff_messages", schema=None) as batch_op:
        batch_op.drop_column("failed_at")
        batch_op.drop_column("attempts")

    with op.batch_alter_table("counsellors", schema=None) as batch_op:
        batch_op.drop_column("stop_asked_at")
        batch_op.drop_column("role")
