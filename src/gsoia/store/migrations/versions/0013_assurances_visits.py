"""Personnel security assurances and visits between nations: the assurances issued and
received (personal data encrypted), the requests for visits, the visitors' tokens at the
visiting node and their accounts at the host.

Revision ID: 0013
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assurances",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("sender", sa.String(32), nullable=False),
        sa.Column("receiver", sa.String(32), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("personal", sa.LargeBinary),
        sa.Column("clearance", sa.String(64), nullable=False),
        sa.Column("expires", sa.String(10), nullable=False),
        sa.Column("need_to_know", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("issued_by", sa.String(160), nullable=False),
        sa.Column("issued_at", sa.String(32), nullable=False),
        sa.Column("withdrawn_at", sa.String(32)),
    )
    op.create_table(
        "visits",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("visitor_nation", sa.String(32), nullable=False),
        sa.Column("host", sa.String(32), nullable=False),
        sa.Column("visitors", sa.Text, nullable=False),
        sa.Column("purpose", sa.Text),
        sa.Column("place", sa.Text),
        sa.Column("first_day", sa.String(10), nullable=False),
        sa.Column("last_day", sa.String(10), nullable=False),
        sa.Column("areas", sa.Text, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("amends", sa.String(64)),
        sa.Column("level", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("note", sa.Text),
        sa.Column("approved_level", sa.String(64)),
        sa.Column("requested_by", sa.String(160), nullable=False),
        sa.Column("requested_at", sa.String(32), nullable=False),
        sa.Column("decided_by", sa.String(160)),
        sa.Column("decided_at", sa.String(32)),
    )
    op.create_table(
        "visit_tokens",
        sa.Column("visit_id", sa.String(64), primary_key=True),
        sa.Column("person_id", sa.String(64), primary_key=True),
        sa.Column("sealed", sa.LargeBinary),
        sa.Column("shown_at", sa.String(32)),
    )
    op.create_table(
        "visitor_accounts",
        sa.Column("user_id", sa.String(128), primary_key=True),
        sa.Column("visit_id", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(64), nullable=False),
        sa.Column("assurance_id", sa.String(64), nullable=False),
        sa.Column("valid_from", sa.String(10), nullable=False),
        sa.Column("valid_until", sa.String(10), nullable=False),
    )
    op.create_index("visitor_accounts_visit", "visitor_accounts", ["visit_id"])
    op.create_index("visitor_accounts_assurance", "visitor_accounts", ["assurance_id"])


def downgrade() -> None:
    op.drop_index("visitor_accounts_assurance", "visitor_accounts")
    op.drop_index("visitor_accounts_visit", "visitor_accounts")
    op.drop_table("visitor_accounts")
    op.drop_table("visit_tokens")
    op.drop_table("visits")
    op.drop_table("assurances")
