"""Audit tree heads signed once per transaction: only its last entry carries a signature.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite cannot drop a NOT NULL constraint in place (the table is copied)
    with op.batch_alter_table("audit_entries") as batch:
        batch.alter_column("signature", existing_type=sa.LargeBinary, nullable=True)


def downgrade() -> None:
    unsigned = (
        op.get_bind()
        .execute(sa.text("SELECT count(*) FROM audit_entries WHERE signature IS NULL"))
        .scalar()
    )
    if unsigned:
        # signing them again needs the node's key, which a migration does not hold
        raise RuntimeError(
            f"{unsigned} audit entries have no signature of their own: cannot downgrade"
        )
    with op.batch_alter_table("audit_entries") as batch:
        batch.alter_column("signature", existing_type=sa.LargeBinary, nullable=False)
