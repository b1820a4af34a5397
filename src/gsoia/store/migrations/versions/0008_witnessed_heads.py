"""The heads each partner showed of its audit log, and the alarms of two histories.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "witnessed_heads",
        sa.Column("nation", sa.String(32), primary_key=True),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("seen_at", sa.String(32), nullable=False),
        sa.Column("pending", sa.Text),
    )
    op.create_table(
        "witness_alarms",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("nation", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("held", sa.Text, nullable=False),
        sa.Column("shown", sa.Text, nullable=False),
        sa.Column("raised_at", sa.String(32), nullable=False),
        sa.Column("acknowledged_by", sa.String(128)),
        sa.Column("acknowledged_at", sa.String(32)),
        sa.Column("note", sa.Text),
    )
    op.create_index("witness_alarms_open", "witness_alarms", ["nation", "acknowledged_at"])


def downgrade() -> None:
    op.drop_index("witness_alarms_open", table_name="witness_alarms")
    op.drop_table("witness_alarms")
    op.drop_table("witnessed_heads")
