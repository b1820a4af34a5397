"""Receipts: the audit entry each release received was stored with (what its receipt
proves), and the receipts this node's partners signed for its releases.

Revision ID: 0011
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("inbox") as batch:
        batch.add_column(sa.Column("audit_seq", sa.BigInteger))
    op.create_table(
        "acknowledgements",
        sa.Column("package_id", sa.String(64), primary_key=True),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("peer", sa.String(32), nullable=False),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("tree_size", sa.BigInteger, nullable=False),
        sa.Column("receipt", sa.Text, nullable=False),
        sa.Column("verified_at", sa.String(32), nullable=False),
    )
    op.create_index("acknowledgements_item", "acknowledgements", ["item_id"])


def downgrade() -> None:
    op.drop_index("acknowledgements_item", "acknowledgements")
    op.drop_table("acknowledgements")
    with op.batch_alter_table("inbox") as batch:
        batch.drop_column("audit_seq")
