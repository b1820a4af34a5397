"""The node's first schema: meta, users, topics, items, consents, incidents, audit.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "meta",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("nation", sa.String(32), nullable=False),
        sa.Column("clearance", sa.String(64)),
        sa.Column("clearance_expires", sa.Date),
        sa.Column("need_to_know", sa.Text, nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "topics",
        sa.Column("topic", sa.String(64), primary_key=True),
        sa.Column("bit", sa.Integer, nullable=False, unique=True),
    )
    op.create_table(
        "items",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(64), nullable=False, unique=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("originator", sa.String(32), nullable=False),
        sa.Column("classification", sa.String(64), nullable=False),
        sa.Column("area", sa.String(64)),
        sa.Column("releasable_to", sa.Text, nullable=False),
        sa.Column("need_to_know", sa.Text, nullable=False),
        sa.Column("custodian", sa.String(32), nullable=False),
        sa.Column("consented_to", sa.Text, nullable=False),
        sa.Column("ciphertext", sa.LargeBinary, nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary, nullable=False),
        sa.Column("content_digest", sa.LargeBinary, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("label_key", sa.Integer, nullable=False),
        sa.Column("custodian_code", sa.Integer, nullable=False),
        sa.Column("open_bits", sa.LargeBinary, nullable=False),
        sa.Column("need_bits", sa.LargeBinary, nullable=False),
    )
    op.create_index("items_originator", "items", ["originator"])
    op.create_table(
        "consents",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.String(64), sa.ForeignKey("items.id"), nullable=False),
        sa.Column("to_party", sa.String(32), nullable=False),
        sa.Column("granted_by", sa.String(128), nullable=False),
        sa.Column("granted_at", sa.String(32), nullable=False),
    )
    op.create_index("consents_item", "consents", ["item_id"])
    op.create_table(
        "incidents",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("item_id", sa.String(64), sa.ForeignKey("items.id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("reported_by", sa.String(128), nullable=False),
        sa.Column("reported_at", sa.String(32), nullable=False),
        sa.Column("notify_by", sa.String(32), nullable=False),
        sa.Column("notified_at", sa.String(32)),
    )
    op.create_table(
        "audit_entries",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("leaf", sa.LargeBinary, nullable=False),
        sa.Column("root", sa.LargeBinary, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    for table in ("audit_entries", "incidents", "consents", "items", "topics", "users", "meta"):
        op.drop_table(table)
