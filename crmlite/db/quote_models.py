"""The tables of quotes: the product catalogue, quotes with their lines, and per-year numbering.

Kept apart from ``models`` (which imports this module at its end, so ``Base.metadata`` holds
these tables wherever the models are loaded). Amounts a quote shows are stored as computed by
``crmlite.domain.quote_totals`` when the quote was saved, so a sent quote reads back exactly as
it was printed even if the rounding rules of a later release differ.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crmlite.db.models import MONEY, PK, Base, UtcDateTime

PRICE = Numeric(18, 4)
PERCENT = Numeric(5, 2)
QUANTITY = Numeric(12, 3)


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("unit_price >= 0", name="unit_price"),
        CheckConstraint("tax_rate >= 0 AND tax_rate <= 100", name="tax_rate"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    unit: Mapped[str] = mapped_column(String(32), default="pcs")
    unit_price: Mapped[Decimal] = mapped_column(PRICE)
    currency: Mapped[str] = mapped_column(String(3))
    tax_rate: Mapped[Decimal] = mapped_column(PERCENT, default=Decimal(0))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)


class QuoteCounter(Base):
    """The last quote number given out in a year: one row per year, bumped in place."""

    __tablename__ = "quote_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer)


class Quote(Base):
    """One version of a quote; a revision is a new row with the same number, version + 1."""

    __tablename__ = "quotes"
    __table_args__ = (
        UniqueConstraint("number", "version"),
        CheckConstraint(
            "status IN ('draft', 'sent', 'accepted', 'rejected', 'expired', 'superseded')",
            name="status",
        ),
        CheckConstraint("tax_mode IN ('exclusive', 'inclusive')", name="tax_mode"),
        CheckConstraint("tax_rounding IN ('per_line', 'per_total')", name="tax_rounding"),
    )

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    deal_id: Mapped[int] = mapped_column(ForeignKey("deals.id", ondelete="CASCADE"), index=True)
    number: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer, default=1)
    previous_id: Mapped[int | None] = mapped_column(ForeignKey("quotes.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(12), default="draft")
    currency: Mapped[str] = mapped_column(String(3))
    tax_mode: Mapped[str] = mapped_column(String(10), default="exclusive")
    tax_rounding: Mapped[str] = mapped_column(String(10), default="per_line")
    locale: Mapped[str] = mapped_column(String(8), default="en")
    valid_until: Mapped[dt.date | None] = mapped_column(Date)
    notes: Mapped[str] = mapped_column(Text, default="")
    subtotal: Mapped[Decimal] = mapped_column(MONEY)
    discount: Mapped[Decimal] = mapped_column(MONEY)
    net: Mapped[Decimal] = mapped_column(MONEY)
    tax: Mapped[Decimal] = mapped_column(MONEY)
    total: Mapped[Decimal] = mapped_column(MONEY)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)

    lines: Mapped[list[QuoteLine]] = relationship(
        lazy="raise", order_by="QuoteLine.position", cascade="all, delete-orphan"
    )


class QuoteLine(Base):
    __tablename__ = "quote_lines"
    __table_args__ = (UniqueConstraint("quote_id", "position"),)

    id: Mapped[int] = mapped_column(PK, primary_key=True)
    quote_id: Mapped[int] = mapped_column(ForeignKey("quotes.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"))
    sku: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(500))
    unit: Mapped[str] = mapped_column(String(32))
    quantity: Mapped[Decimal] = mapped_column(QUANTITY)
    unit_price: Mapped[Decimal] = mapped_column(PRICE)
    discount_percent: Mapped[Decimal] = mapped_column(PERCENT)
    tax_rate: Mapped[Decimal] = mapped_column(PERCENT)
    gross: Mapped[Decimal] = mapped_column(MONEY)
    discount: Mapped[Decimal] = mapped_column(MONEY)
    net: Mapped[Decimal] = mapped_column(MONEY)
    tax: Mapped[Decimal] = mapped_column(MONEY)
    total: Mapped[Decimal] = mapped_column(MONEY)


class QuotePipelineSettings(Base):
    """What accepting a quote does to its deal, per pipeline: the stage it moves to."""

    __tablename__ = "quote_pipeline_settings"

    pipeline_id: Mapped[int] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    accept_stage_id: Mapped[int | None] = mapped_column(
        ForeignKey("stages.id", ondelete="SET NULL")
    )
    set_deal_amount: Mapped[bool] = mapped_column(Boolean, default=True)
