"""Federation: peers, outbox, inbox, consent requests, releases; provenance of items.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "peers",
        sa.Column("nation", sa.String(32), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("signing_key", sa.LargeBinary, nullable=False),
        sa.Column("sealing_key", sa.LargeBinary, nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("added_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "outbox",
        sa.Column("package_id", sa.String(64), primary_key=True),
        sa.Column("peer", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("item_id", sa.String(64)),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.String(32), nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("delivered_at", sa.String(32)),
    )
    op.create_index("outbox_due", "outbox", ["state", "next_attempt_at"])
    op.create_table(
        "inbox",
        sa.Column("package_id", sa.String(64), primary_key=True),
        sa.Column("sender", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("item_id", sa.String(64)),
        sa.Column("received_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "consent_requests",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("custodian", sa.String(32), nullable=False),
        sa.Column("to_party", sa.String(32), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("requested_at", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("decided_by", sa.String(128)),
        sa.Column("decided_at", sa.String(32)),
        sa.Column("grant", sa.Text),
    )
    op.create_table(
        "releases",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("peer", sa.String(32), nullable=False),
        sa.Column("package_id", sa.String(64), nullable=False),
        sa.Column("released_by", sa.String(128), nullable=False),
        sa.Column("released_at", sa.String(32), nullable=False),
    )
    op.create_index("releases_item", "releases", ["item_id"])
    with op.batch_alter_table("items") as batch:
        batch.add_column(sa.Column("sender", sa.String(32)))
        batch.add_column(sa.Column("package_id", sa.String(64)))
        batch.add_column(sa.Column("custodian_marking", sa.Text))
        batch.add_column(sa.Column("grants", sa.Text))


def downgrade() -> None:
    with op.batch_alter_table("items") as batch:
        for column in ("grants", "custodian_marking", "package_id", "sender"):
            batch.drop_column(column)
    for table in ("releases", "consent_requests", "inbox", "outbox", "peers"):
        op.drop_table(table)
