"""quotes: the product catalogue, quotes with versions and lines, per-year quote numbers

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import crmlite.db.models

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UTC = crmlite.db.models.UtcDateTime(timezone=True)
MONEY = sa.Numeric(precision=14, scale=2)
PRICE = sa.Numeric(precision=18, scale=4)
PERCENT = sa.Numeric(precision=5, scale=2)


def _money(*names: str) -> list[sa.Column[object]]:
    return [sa.Column(name, MONEY, nullable=False) for name in names]


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("unit_price", PRICE, nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("tax_rate", PERCENT, nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.CheckConstraint("unit_price >= 0", name=op.f("ck_products_unit_price")),
        sa.CheckConstraint("tax_rate >= 0 AND tax_rate <= 100", name=op.f("ck_products_tax_rate")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_products")),
        sa.UniqueConstraint("sku", name=op.f("uq_products_sku")),
    )
    op.create_table(
        "quote_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_quote_counters")),
    )
    op.create_table(
        "quotes",
        sa.Column("id", ID, nullable=False),
        sa.Column("deal_id", ID, nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("previous_id", ID, nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("tax_mode", sa.String(length=10), nullable=False),
        sa.Column("tax_rounding", sa.String(length=10), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        *_money("subtotal", "discount", "net", "tax", "total"),
        sa.Column("created_by_id", ID, nullable=True),
        sa.Column("created_at", UTC, nullable=False),
        sa.Column("updated_at", UTC, nullable=False),
        sa.Column("sent_at", UTC, nullable=True),
        sa.Column("decided_at", UTC, nullable=True),
        sa.CheckConstraint(
            "status IN ('draft', 'sent', 'accepted', 'rejected', 'expired', 'superseded')",
            name=op.f("ck_quotes_status"),
        ),
        sa.CheckConstraint(
            "tax_mode IN ('exclusive', 'inclusive')", name=op.f("ck_quotes_tax_mode")
        ),
        sa.CheckConstraint(
            "tax_rounding IN ('per_line', 'per_total')", name=op.f("ck_quotes_tax_rounding")
        ),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name=op.f("fk_quotes_deal_id_deals"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["previous_id"],
            ["quotes.id"],
            name=op.f("fk_quotes_previous_id_quotes"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_quotes_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quotes")),
        sa.UniqueConstraint("number", "version", name=op.f("uq_quotes_number_version")),
    )
    op.create_index(op.f("ix_quotes_deal_id"), "quotes", ["deal_id"], unique=False)
    op.create_table(
        "quote_lines",
        sa.Column("id", ID, nullable=False),
        sa.Column("quote_id", ID, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("product_id", ID, nullable=True),
        sa.Column("sku", sa.String(length=64), nullable=True),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("quantity", sa.Numeric(precision=12, scale=3), nullable=False),
        sa.Column("unit_price", PRICE, nullable=False),
        sa.Column("discount_percent", PERCENT, nullable=False),
        sa.Column("tax_rate", PERCENT, nullable=False),
        *_money("gross", "discount", "net", "tax", "total"),
        sa.ForeignKeyConstraint(
            ["quote_id"],
            ["quotes.id"],
            name=op.f("fk_quote_lines_quote_id_quotes"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_quote_lines_product_id_products"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quote_lines")),
        sa.UniqueConstraint("quote_id", "position", name=op.f("uq_quote_lines_quote_id_position")),
    )
    op.create_table(
        "quote_pipeline_settings",
        sa.Column("pipeline_id", ID, autoincrement=False, nullable=False),
        sa.Column("accept_stage_id", ID, nullable=True),
        sa.Column("set_deal_amount", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["pipeline_id"],
            ["pipelines.id"],
            name=op.f("fk_quote_pipeline_settings_pipeline_id_pipelines"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["accept_stage_id"],
            ["stages.id"],
            name=op.f("fk_quote_pipeline_settings_accept_stage_id_stages"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("pipeline_id", name=op.f("pk_quote_pipeline_settings")),
    )


def downgrade() -> None:
    op.drop_table("quote_pipeline_settings")
    op.drop_table("quote_lines")
    op.drop_index(op.f("ix_quotes_deal_id"), table_name="quotes")
    op.drop_table("quotes")
    op.drop_table("quote_counters")
    op.drop_table("products")
