"""A quote's terms and lines from a draft: catalogue products filled in, every amount computed.

What a client sends is quantities, prices, discounts and rates, never sums: the amounts come from
``crmlite.domain.quote_totals`` here. A line naming a product takes the product's name, unit,
price and tax rate for whatever it leaves out, and keeps its own copy of them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.quote_models import Product, Quote, QuoteLine
from crmlite.domain.errors import InvalidInput
from crmlite.domain.quote_totals import (
    MAX_LINES,
    LineInput,
    TaxMode,
    TaxRounding,
    compute_totals,
    minor_unit,
    parse_line,
)
from crmlite.domain.quotes import pick_locale


@dataclass(frozen=True, slots=True)
class LineDraft:
    quantity: object
    product_id: int | None = None
    description: str | None = None
    unit: str | None = None
    unit_price: object = None
    discount_percent: object = "0"
    tax_rate: object = None


@dataclass(frozen=True, slots=True)
class QuoteDraft:
    lines: Sequence[LineDraft]
    currency: str | None = None
    tax_mode: TaxMode = TaxMode.EXCLUSIVE
    tax_rounding: TaxRounding = TaxRounding.PER_LINE
    locale: str | None = None
    valid_until: dt.date | None = None
    notes: str = ""


async def fill_quote(
    session: AsyncSession,
    quote: Quote,
    draft: QuoteDraft,
    currency: str,
    *,
    locale: str,
    today: dt.date,
) -> None:
    """Set the quote's terms and lines from ``draft`` and compute every amount."""
    minor_unit(currency)  # refuses currencies the quote cannot be written in
    if len(draft.lines) > MAX_LINES:
        raise InvalidInput("too many lines", fields={"lines": f"at most {MAX_LINES}"})
    if len(draft.notes) > 4000:
        raise InvalidInput("notes too long", fields={"notes": "at most 4000 characters"})
    if draft.valid_until is not None and draft.valid_until < today:
        raise InvalidInput("that date has passed", fields={"valid_until": "today or later"})
    products = await _products(session, draft.lines)
    inputs: list[LineInput] = []
    lines: list[QuoteLine] = []
    for index, line in enumerate(draft.lines):
        prefix = f"lines.{index}."
        product = products.get(line.product_id) if line.product_id is not None else None
        if line.unit_price is None and product is not None and product.currency != currency:
            raise InvalidInput(
                "the product is priced in another currency",
                fields={f"{prefix}unit_price": f"give a price in {currency}"},
            )
        price = line.unit_price if line.unit_price is not None else product_price(product)
        if price is None:
            raise InvalidInput("a line needs a price", fields={f"{prefix}unit_price": "missing"})
        rate = line.tax_rate if line.tax_rate is not None else product_rate(product)
        numbers = parse_line(line.quantity, price, line.discount_percent, rate, prefix=prefix)
        description = (line.description or (product.name if product else "")).strip()
        if not description or len(description) > 500:
            raise InvalidInput(
                "a line needs a description",
                fields={f"{prefix}description": "1 to 500 characters"},
            )
        unit = (line.unit or (product.unit if product else "") or "pcs").strip()[:32]
        inputs.append(numbers)
        lines.append(
            QuoteLine(
                position=index + 1,
                product_id=product.id if product else None,
                sku=product.sku if product else None,
                description=description,
                unit=unit,
                quantity=numbers.quantity,
                unit_price=numbers.unit_price,
                discount_percent=numbers.discount_percent,
                tax_rate=numbers.tax_rate,
            )
        )
    totals = compute_totals(inputs, currency, tax_mode=draft.tax_mode, rounding=draft.tax_rounding)
    for row, amounts in zip(lines, totals.lines, strict=True):
        row.gross, row.discount, row.net = amounts.gross, amounts.discount, amounts.net
        row.tax, row.total = amounts.tax, amounts.total
    quote.lines.extend(lines)
    quote.currency = currency
    quote.tax_mode = draft.tax_mode.value
    quote.tax_rounding = draft.tax_rounding.value
    quote.locale = pick_locale(locale)
    quote.valid_until = draft.valid_until
    quote.notes = draft.notes.strip()
    quote.subtotal, quote.discount, quote.net = totals.subtotal, totals.discount, totals.net
    quote.tax, quote.total = totals.tax, totals.total


async def _products(session: AsyncSession, lines: Sequence[LineDraft]) -> dict[int, Product]:
    wanted = {line.product_id for line in lines if line.product_id is not None}
    if not wanted:
        return {}
    found = {
        product.id: product
        for product in await session.scalars(select(Product).where(Product.id.in_(wanted)))
    }
    for index, line in enumerate(lines):
        product = found.get(line.product_id) if line.product_id is not None else None
        if line.product_id is not None and (product is None or not product.active):
            raise InvalidInput(
                "no such active product",
                fields={f"lines.{index}.product_id": "no such active product"},
            )
    return found


def product_price(product: Product | None) -> Decimal | None:
    return product.unit_price if product is not None else None


def product_rate(product: Product | None) -> Decimal:
    return product.tax_rate if product is not None else Decimal(0)


def line_inputs(lines: Sequence[QuoteLine]) -> list[LineInput]:
    """The stored lines' numbers, to recompute what depends on them (the tax breakdown)."""
    return [
        LineInput(line.quantity, line.unit_price, line.discount_percent, line.tax_rate)
        for line in lines
    ]


def copy_line(line: QuoteLine) -> QuoteLine:
    return QuoteLine(
        position=line.position,
        product_id=line.product_id,
        sku=line.sku,
        description=line.description,
        unit=line.unit,
        quantity=line.quantity,
        unit_price=line.unit_price,
        discount_percent=line.discount_percent,
        tax_rate=line.tax_rate,
        gross=line.gross,
        discount=line.discount,
        net=line.net,
        tax=line.tax,
        total=line.total,
    )
