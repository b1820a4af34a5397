"""The originator's seal of each item; the keys this node and its peers retired.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    # Nullable only because SQLite cannot add a NOT NULL column without a default: every
    # item stored since this migration has one, and an item without one is never released.
    op.add_column("items", sa.Column("origin_seal", sa.LargeBinary, nullable=True))
    op.create_table(
        "retired_keys",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("nation", sa.String(32), nullable=False),
        sa.Column("signing_key", sa.LargeBinary, nullable=False),
        sa.Column("sealing_key", sa.LargeBinary, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("retired_at", sa.String(32), nullable=False),
        sa.Column("audit_size", sa.BigInteger),
        sa.Column("package_id", sa.String(64)),
    )
    op.create_index("retired_keys_nation", "retired_keys", ["nation", "seq"])


def downgrade() -> None:
    op.drop_index("retired_keys_nation", "retired_keys")
    op.drop_table("retired_keys")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("origin_seal")
