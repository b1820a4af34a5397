"""The state of an onward release as its custodian tells it (delivered, received, refused,
cancelled) and the indexes the audit page's filters by user, kind and day use.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("onward_releases") as batch:
        batch.add_column(
            sa.Column("state", sa.String(16), nullable=False, server_default="reported")
        )
        batch.add_column(sa.Column("reason", sa.Text))
        batch.add_column(sa.Column("state_at", sa.String(32)))
    op.create_index("audit_entries_actor", "audit_entries", ["actor", "seq"])
    op.create_index("audit_entries_kind", "audit_entries", ["kind", "seq"])
    op.create_index("audit_entries_at", "audit_entries", ["at"])


def downgrade() -> None:
    op.drop_index("audit_entries_at", "audit_entries")
    op.drop_index("audit_entries_kind", "audit_entries")
    op.drop_index("audit_entries_actor", "audit_entries")
    with op.batch_alter_table("onward_releases") as batch:
        batch.drop_column("state_at")
        batch.drop_column("reason")
        batch.drop_column("state")
