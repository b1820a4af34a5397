"""Items signed a batch at a time (docs/performance.md, "TAXII"): the ``item_envelopes``
table, one signature over the digests of a batch's items, and each item's place in it.

Going down drops the batches' signatures: an item stored in a batch is then refused as no
longer matching a signature (an integrity failure), never served unsigned.

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "item_envelopes",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("digests", sa.LargeBinary, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
    )
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("envelope", sa.String(36)))
        batch.add_column(sa.Column("envelope_slot", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("envelope_slot")
        batch.drop_column("envelope")
    op.drop_table("item_envelopes")
