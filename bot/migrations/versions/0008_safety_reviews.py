"""safety reviews: messages counsellors marked as missed by the risk check, or flagged wrongly

A new table, empty at first. Its text is masked before it is written and encrypted at rest
(``EncryptedText`` is Text in the database); a row names her conversation by its pseudonym
and keeps the day, not the time. Rows go with the retention purge and with her erasure.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "safety_reviews",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("conversation_id", sa.String(length=40), nullable=False),
        sa.Column("counsellor_id", sa.String(length=40), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("promoted_to", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("safety_reviews", schema=None) as batch_op:
        batch_op.create_index("ix_safety_reviews_conversation", ["conversation_id"], unique=False)
        batch_op.create_index("ix_safety_reviews_status", ["status", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("safety_reviews", schema=None) as batch_op:
        batch_op.drop_index("ix_safety_reviews_status")
        batch_op.drop_index("ix_safety_reviews_conversation")
    op.drop_table("safety_reviews")
