"""TAXII 2.1: the STIX metadata of items that are STIX objects, deletions, status resources.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SEQ = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "stix_objects",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("item_id", sa.String(64), sa.ForeignKey("items.id"), nullable=False, unique=True),
        sa.Column("item_seq", sa.BigInteger, nullable=False),
        sa.Column("collection", sa.String(64), nullable=False),
        sa.Column("stix_id", sa.String(300), nullable=False),
        sa.Column("type", sa.String(250), nullable=False),
        sa.Column("spec_version", sa.String(16), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("version_us", sa.BigInteger, nullable=False),
        sa.Column("date_added", sa.String(32), nullable=False),
        sa.Column("added_us", sa.BigInteger, nullable=False),
    )
    op.create_index(
        "stix_objects_version",
        "stix_objects",
        ["collection", "stix_id", "version"],
        unique=True,
    )
    op.create_index("stix_objects_added", "stix_objects", ["collection", "added_us", "seq"])
    op.create_index("stix_objects_type", "stix_objects", ["collection", "type"])
    op.create_table(
        "stix_deletions",
        sa.Column("seq", SEQ, primary_key=True, autoincrement=True),
        sa.Column("object_seq", sa.BigInteger, nullable=False),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("deleted_by", sa.String(128), nullable=False),
        sa.Column("deleted_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "taxii_status",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("collection", sa.String(64), nullable=False),
        sa.Column("request_timestamp", sa.String(32), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("taxii_status", "stix_deletions", "stix_objects"):
        op.drop_table(table)
