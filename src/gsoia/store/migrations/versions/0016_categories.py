"""The security categories a user holds and an item's label carries (docs/decision.md,
"Categories"): a JSON object of tag name -> category names, NULL for none.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("categories", sa.Text))
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("categories", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.drop_column("categories")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("categories")
