"""Custody: the onward releases custodians report, consents withdrawn and the notes on
officers' answers, the consent requests a custodian sent and their answers, incidents as a
workflow, and the outbox and inbox found by item.

Revision ID: 0014
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("outbox_item", "outbox", ["item_id"])
    op.create_index("inbox_item", "inbox", ["item_id"])
    op.create_table(
        "onward_releases",
        sa.Column("package_id", sa.String(64), primary_key=True),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("custodian", sa.String(32), nullable=False),
        sa.Column("to_party", sa.String(32), nullable=False),
        sa.Column("released_by", sa.String(128), nullable=False),
        sa.Column("released_at", sa.String(32), nullable=False),
        sa.Column("received_at", sa.String(32), nullable=False),
    )
    op.create_index("onward_releases_item", "onward_releases", ["item_id"])
    with op.batch_alter_table("consents") as batch:
        batch.add_column(sa.Column("note", sa.Text))
        batch.add_column(sa.Column("withdrawn_by", sa.String(128)))
        batch.add_column(sa.Column("withdrawn_at", sa.String(32)))
    with op.batch_alter_table("consent_requests") as batch:
        batch.add_column(sa.Column("note", sa.Text))
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(
            sa.Column("state", sa.String(24), nullable=False, server_default="reported")
        )
        batch.add_column(sa.Column("reported_from", sa.String(32)))
    op.create_table(
        "incident_steps",
        sa.Column(
            "seq",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("incident_id", sa.String(64), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        sa.Column("by", sa.String(128), nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("note", sa.Text),
    )
    op.create_index("incident_steps_incident", "incident_steps", ["incident_id"])
    op.create_table(
        "consents_asked",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("item_id", sa.String(64), nullable=False),
        sa.Column("originator", sa.String(32), nullable=False),
        sa.Column("to_party", sa.String(32), nullable=False),
        sa.Column("requested_by", sa.String(128), nullable=False),
        sa.Column("requested_at", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("answered_at", sa.String(32)),
        sa.Column("note", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("consents_asked")
    op.drop_index("incident_steps_incident", "incident_steps")
    op.drop_table("incident_steps")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("reported_from")
        batch.drop_column("state")
    with op.batch_alter_table("consent_requests") as batch:
        batch.drop_column("note")
    with op.batch_alter_table("consents") as batch:
        batch.drop_column("withdrawn_at")
        batch.drop_column("withdrawn_by")
        batch.drop_column("note")
    op.drop_index("onward_releases_item", "onward_releases")
    op.drop_table("onward_releases")
    op.drop_index("inbox_item", "inbox")
    op.drop_index("outbox_item", "outbox")
