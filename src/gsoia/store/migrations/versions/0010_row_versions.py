"""Row versions: items, users and peers carry a version the audit log records at every
change; users and peers a node signature over their security fields and it.

Existing rows get version 1 and no signature: the node signs them, and records their
version in its log, once, as it first opens the database (``node.adoption``).

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
    for table in ("users", "peers"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("version", sa.Integer, nullable=False, server_default="1"))
            batch.add_column(sa.Column("signature", sa.LargeBinary))
    held = op.get_bind().execute(
        sa.text(
            "SELECT 1 FROM items UNION ALL SELECT 1 FROM users UNION ALL SELECT 1 FROM peers"
            " LIMIT 1"
        )
    )
    if held.first() is not None:  # rows to adopt (``node.adoption``): the node signs them
        op.execute("INSERT INTO meta (name, value) VALUES ('rows_unversioned', '1')")


def downgrade() -> None:
    op.execute("DELETE FROM meta WHERE name = 'rows_unversioned'")
    for table in ("peers", "users"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("signature")
            batch.drop_column("version")
    with op.batch_alter_table("items") as batch:
        batch.drop_column("version")
