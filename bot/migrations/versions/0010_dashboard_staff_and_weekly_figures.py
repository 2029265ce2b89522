"""dashboard staff and weekly figures

The staff dashboard (bot/dashboard): its accounts and sessions, and the weekly figures it
shows (``stats_*``: counts and categories, no pseudonym, kept past the retention purge).
``safety_alerts`` gains the alert's ``level`` (every existing alert was an emergency:
``clear``) and ``numbers_at``, when her numbers went (NULL for the existing ones).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 15:25:02.914861
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "staff_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=12), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("password", sa.String(length=200), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("username"),
    )
    op.create_table(
        "staff_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("csrf", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token_hash"),
    )
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_staff_sessions_account_id"), ["account_id"], unique=False
        )

    op.create_table(
        "stats_cost",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("segments", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("stats_cost", schema=None) as batch_op:
        batch_op.create_index("ix_stats_cost_week", ["week"], unique=False)

    op.create_table(
        "stats_handoffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("priority", sa.Boolean(), nullable=False),
        sa.Column("after_hours", sa.Boolean(), nullable=False),
        sa.Column("counsellor_id", sa.String(length=40), nullable=True),
        sa.Column("wait_seconds", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("stats_handoffs", schema=None) as batch_op:
        batch_op.create_index("ix_stats_handoffs_week", ["week"], unique=False)

    op.create_table(
        "stats_reach",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("new_users", sa.Integer(), nullable=False),
        sa.Column("returning_users", sa.Integer(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("stats_reach", schema=None) as batch_op:
        batch_op.create_index("ix_stats_reach_week", ["week"], unique=False)

    op.create_table(
        "stats_safety",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("level", sa.String(length=12), nullable=False),
        sa.Column("numbers_seconds", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("stats_safety", schema=None) as batch_op:
        batch_op.create_index("ix_stats_safety_week", ["week"], unique=False)

    op.create_table(
        "stats_topics",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("intent", sa.String(length=64), nullable=False),
        sa.Column("subtopic", sa.String(length=64), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("stats_topics", schema=None) as batch_op:
        batch_op.create_index("ix_stats_topics_week", ["week"], unique=False)

    op.create_table(
        "stats_weeks",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("rolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("week"),
    )
    op.create_table(
        "stats_workshops",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("workshop", sa.String(length=40), nullable=False),
        sa.Column("topic", sa.String(length=20), nullable=False),
        sa.Column("venue", sa.String(length=40), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("cancelled", sa.Boolean(), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("booked", sa.Integer(), nullable=False),
        sa.Column("waitlisted", sa.Integer(), nullable=False),
        sa.Column("cancellations", sa.Integer(), nullable=False),
        sa.Column("attended", sa.Integer(), nullable=False),
        sa.Column("no_shows", sa.Integer(), nullable=False),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("stats_workshops", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_stats_workshops_week"), ["week"], unique=False)

    with op.batch_alter_table("safety_alerts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("level", sa.String(length=12), server_default="clear", nullable=False)
        )
        batch_op.add_column(sa.Column("numbers_at", sa.DateTime(timezone=True), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table("safety_alerts", schema=None) as batch_op:
        batch_op.drop_column("numbers_at")
        batch_op.drop_column("level")

    with op.batch_alter_table("stats_workshops", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_stats_workshops_week"))

    op.drop_table("stats_workshops")
    op.drop_table("stats_weeks")
    with op.batch_alter_table("stats_topics", schema=None) as batch_op:
        batch_op.drop_index("ix_stats_topics_week")

    op.drop_table("stats_topics")
    with op.batch_alter_table("stats_safety", schema=None) as batch_op:
        batch_op.drop_index("ix_stats_safety_week")

    op.drop_table("stats_safety")
    with op.batch_alter_table("stats_reach", schema=None) as batch_op:
        batch_op.drop_index("ix_stats_reach_week")

    op.drop_table("stats_reach")
    with op.batch_alter_table("stats_handoffs", schema=None) as batch_op:
        batch_op.drop_index("ix_stats_handoffs_week")

    op.drop_table("stats_handoffs")
    with op.batch_alter_table("stats_cost", schema=None) as batch_op:
        batch_op.drop_index("ix_stats_cost_week")

    op.drop_table("stats_cost")
    with op.batch_alter_table("staff_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_sessions_account_id"))

    op.drop_table("staff_sessions")
    op.drop_table("staff_accounts")
