"""privacy: when a contact was told what is kept, and a pending "forget me" confirmation

Existing contacts have been talking already: they get the notice on their next message.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 03:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("privacy_notice_at", sa.DateTime(timezone=True)))
        batch_op.add_column(sa.Column("erase_asked_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_column("erase_asked_at")
        batch_op.drop_column("privacy_notice_at")
