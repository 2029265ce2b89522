"""booking: venues, workshops, sessions, bookings and booking notices

Each table is created only if missing: databases that ran before this revision existed
got them from ``bot.db.database.migrate``'s stop-gap ``create_all`` (bot/migrations/README.md).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 21:32:25.004493
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    existing = set(sa.inspect(op.get_bind()).get_table_names())
    if "booking_notices" not in existing:
        op.create_table(
            "booking_notices",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("booking_id", sa.Integer(), nullable=False),
            sa.Column("kind", sa.String(length=20), nullable=False),
            sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
            sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("outcome", sa.String(length=20), nullable=True),
            sa.PrimaryKeyConstraint("id"),
        )
        with op.batch_alter_table("booking_notices", schema=None) as batch_op:
            batch_op.create_index(
                batch_op.f("ix_booking_notices_booking_id"), ["booking_id"], unique=False
            )
            batch_op.create_index("ix_booking_notices_due", ["sent_at", "due_at"], unique=False)
    if "venues" not in existing:
        op.create_table(
            "venues",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("code", sa.String(length=40), nullable=False),
            sa.Column("name", sa.String(length=120), nullable=False),
            sa.Column("city", sa.String(length=80), nullable=False),
            sa.Column("country", sa.String(length=2), nullable=False),
            sa.Column("timezone", sa.String(length=64), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("code"),
        )
    if "workshops" not in existing:
        op.create_table(
            "workshops",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("code", sa.String(length=40), nullable=False),
            sa.Column("topic", sa.String(length=20), nullable=False),
            sa.Column("facilitator_role", sa.String(length=40), nullable=False),
            sa.Column("languages", sa.String(length=20), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("code"),
        )
    if "sessions" not in existing:
        op.create_table(
            "sessions",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("code", sa.String(length=60), nullable=False),
            sa.Column("workshop_id", sa.Integer(), nullable=False),
            sa.Column("venue_id", sa.Integer(), nullable=False),
            sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("duration_minutes", sa.Integer(), nullable=False),
            sa.Column("capacity", sa.Integer(), nullable=False),
            sa.Column("booked_count", sa.Integer(), nullable=False),
            sa.Column("language", sa.String(length=8), nullable=False),
            sa.Column("status", sa.String(length=12), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.CheckConstraint("status IN ('scheduled', 'cancelled')", name="ck_sessions_status"),
            sa.CheckConstraint(
                "booked_count >= 0 AND booked_count <= capacity", name="ck_sessions_seats"
            ),
            sa.ForeignKeyConstraint(
                ["venue_id"],
                ["venues.id"],
            ),
            sa.ForeignKeyConstraint(
                ["workshop_id"],
                ["workshops.id"],
            ),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("code"),
        )
        with op.batch_alter_table("sessions", schema=None) as batch_op:
            batch_op.create_index(
                "ix_sessions_status_starts", ["status", "starts_at"], unique=False
            )
    if "bookings" not in existing:
        op.create_table(
            "bookings",
            sa.Column("id", sa.Integer(), nullable=False),
            sa.Column("session_id", sa.Integer(), nullable=False),
            sa.Column("participant", sa.String(length=128), nullable=False),
            sa.Column("status", sa.String(length=12), nullable=False),
            sa.Column("reference", sa.String(length=8), nullable=False),
            sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
            sa.CheckConstraint(
                "status IN ('booked', 'waitlisted', 'cancelled', 'attended', 'no_show')",
                name="ck_bookings_status",
            ),
            sa.ForeignKeyConstraint(
                ["session_id"],
                ["sessions.id"],
            ),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint("reference"),
        )
        with op.batch_alter_table("bookings", schema=None) as batch_op:
            batch_op.create_index(
                "ix_bookings_participant", ["participant", "status"], unique=False
            )
            batch_op.create_index(
                "ix_bookings_session_status", ["session_id", "status", "joined_at"], unique=False
            )
            batch_op.create_index(
                "uq_bookings_active",
                ["session_id", "participant"],
                unique=True,
                sqlite_where=sa.text("status IN ('booked', 'waitlisted')"),
                postgresql_where=sa.text("status IN ('booked', 'waitlisted')"),
            )


def downgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    with op.batch_alter_table("bookings", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_bookings_active",
            sqlite_where=sa.text("status IN ('booked', 'waitlisted')"),
            postgresql_where=sa.text("status IN ('booked', 'waitlisted')"),
        )
        batch_op.drop_index("ix_bookings_session_status")
        batch_op.drop_index("ix_bookings_participant")

    op.drop_table("bookings")
    with op.batch_alter_table("sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sessions_status_starts")

    op.drop_table("sessions")
    op.drop_table("workshops")
    op.drop_table("venues")
    with op.batch_alter_table("booking_notices", schema=None) as batch_op:
        batch_op.drop_index("ix_booking_notices_due")
        batch_op.drop_index(batch_op.f("ix_booking_notices_booking_id"))

    op.drop_table("booking_notices")
    # ### end Alembic commands ###
