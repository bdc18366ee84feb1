"""campaigns and call tracking (reports)

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmlite.db.models

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Plain indexed columns, no foreign keys: SQLite adds a column in place but would have to rebuild
# contacts/deals/activities (and, with foreign keys on, cascade through them) to add a constraint.
TOUCH_COLUMNS = {
    "contacts": ("first_campaign_id", "latest_campaign_id"),
    "deals": ("first_campaign_id", "latest_campaign_id"),
    "activities": ("campaign_id",),
}


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("channel", sa.String(length=50), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", crmlite.db.models.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("name", name=op.f("uq_campaigns_name")),
    )
    op.create_table(
        "campaign_sources",
        sa.Column("id", ID, nullable=False),
        sa.Column("campaign_id", ID, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("value", sa.String(length=64), nullable=False),
        sa.Column("active_from", crmlite.db.models.UtcDateTime(timezone=True), nullable=True),
        sa.Column("active_until", crmlite.db.models.UtcDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "kind IN ('did', 'caller_prefix', 'web_form')", name=op.f("ck_campaign_sources_kind")
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_sources_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_sources")),
    )
    op.create_index(
        op.f("ix_campaign_sources_campaign_id"), "campaign_sources", ["campaign_id"], unique=False
    )
    op.create_index("ix_campaign_sources_lookup", "campaign_sources", ["kind", "value"])
    op.create_table(
        "campaign_costs",
        sa.Column("id", ID, nullable=False),
        sa.Column("campaign_id", ID, nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.CheckConstraint("amount >= 0", name=op.f("ck_campaign_costs_amount")),
        sa.CheckConstraint("period_end >= period_start", name=op.f("ck_campaign_costs_period")),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["campaigns.id"],
            name=op.f("fk_campaign_costs_campaign_id_campaigns"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign_costs")),
    )
    op.create_index(
        op.f("ix_campaign_costs_campaign_id"), "campaign_costs", ["campaign_id"], unique=False
    )
    for table, columns in TOUCH_COLUMNS.items():
        for column in columns:
            op.add_column(table, sa.Column(column, ID, nullable=True))
            op.create_index(op.f(f"ix_{table}_{column}"), table, [column], unique=False)


def downgrade() -> None:
    for table, columns in TOUCH_COLUMNS.items():
        for column in columns:
            op.drop_index(op.f(f"ix_{table}_{column}"), table_name=table)
            op.drop_column(table, column)
    op.drop_index(op.f("ix_campaign_costs_campaign_id"), table_name="campaign_costs")
    op.drop_table("campaign_costs")
    op.drop_index("ix_campaign_sources_lookup", table_name="campaign_sources")
    op.drop_index(op.f("ix_campaign_sources_campaign_id"), table_name="campaign_sources")
    op.drop_table("campaign_sources")
    op.drop_table("campaigns")
