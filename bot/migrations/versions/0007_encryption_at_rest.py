"""encryption at rest: contacts found by a keyed hash of their address, which is encrypted

``contacts.address`` becomes Text (a Fernet token of a 64-character address is about 200
characters; the texts were Text already). Its unique constraint with the channel cannot hold
on ciphertext (a new token at every write): ``address_hash``, an HMAC of "channel:address"
under ``PSEUDONYM_KEY``, takes its place.

Existing rows: the migration has no key, so their ``address_hash`` stays NULL and their
address stays as it was (plaintext). Nothing is lost: a contact whose hash is NULL is still
found by her conversation id, which is the pseudonym of her address under the key it was made
with (the current ``PSEUDONYM_KEY`` or one of ``PSEUDONYM_KEYS_PREVIOUS``), and her first
lookup fills the hash (``bot.channels.contacts``); ``python -m bot privacy
rotate-pseudonym-key`` fills them all at once. The background re-encryption
(``bot.privacy.keys.reencrypt``, ``privacy rotate-data-keys``) encrypts the plaintext
addresses and texts once ``DATA_KEYS`` is set.

Downgrade: only for a database whose addresses are plaintext and unique per channel (decrypt
first); encrypted addresses do not fit the old String(64).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 12:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_contacts_channel_address", type_="unique")
        batch_op.alter_column(
            "address", existing_type=sa.String(length=64), type_=sa.Text(),
            existing_nullable=False,
        )  # fmt: skip
        batch_op.add_column(sa.Column("address_hash", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(
            "uq_contacts_channel_address_hash", ["channel", "address_hash"]
        )


def downgrade() -> None:
    with op.batch_alter_table("contacts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_contacts_channel_address_hash", type_="unique")
        batch_op.drop_column("address_hash")
        batch_op.alter_column(
            "address", existing_type=sa.Text(), type_=sa.String(length=64),
            existing_nullable=False,
        )  # fmt: skip
        batch_op.create_unique_constraint("uq_contacts_channel_address", ["channel", "address"])
