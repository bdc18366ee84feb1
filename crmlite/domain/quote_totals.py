"""Quote totals: line items in, exact amounts out, rounded the way the currency is written.

Each line is ``quantity x unit price``, less a discount percent, with a tax rate. A quote is either
tax-exclusive (prices are net, tax is added) or tax-inclusive (prices already hold the tax, which
is carved out of them). Amounts are rounded half up (commercial rounding) to the currency's minor
unit: no cents for yen, rials or won. Tax is rounded either on every line and then added up
(``per_line``, what most invoicing does) or once per tax rate on the quote's sum (``per_total``,
what some tax offices ask for); the two can differ by a minor unit per line, which is why the
quote records which one it uses. Every rounding step here is one a printed quote shows, so the
printed lines always add up to the printed total.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from crmlite.domain.errors import InvalidInput

# ISO 4217 currencies written without a minor unit (CLDR's digits); every other one has two.
# Currencies with three (KWD, BHD, ...) are refused: deal amounts hold two decimal places.
_NO_MINOR_UNIT = frozenset({"JPY", "KRW", "VND", "CLP", "ISK", "IRR", "IQD", "PYG", "UGX", "XAF"})
_THREE_PLACES = frozenset({"BHD", "JOD", "KWD", "LYD", "OMR", "TND"})
HUNDRED = Decimal(100)
MAX_QUANTITY = Decimal("1000000")
MAX_UNIT_PRICE = Decimal("999999999.9999")
MAX_LINES = 200


class TaxMode(enum.StrEnum):
    EXCLUSIVE = "exclusive"
    INCLUSIVE = "inclusive"


class TaxRounding(enum.StrEnum):
    PER_LINE = "per_line"
    PER_TOTAL = "per_total"


@dataclass(frozen=True, slots=True)
class LineInput:
    quantity: Decimal
    unit_price: Decimal
    discount_percent: Decimal = Decimal(0)
    tax_rate: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class LineTotals:
    gross: Decimal
    """Quantity x unit price, rounded: before the discount (tax included on inclusive quotes)."""
    discount: Decimal
    net: Decimal
    """The line without tax."""
    tax: Decimal
    """The line's tax; on ``per_total`` quotes its share, which the rate groups may round apart."""
    total: Decimal
    """Net plus tax: what the line costs."""


@dataclass(frozen=True, slots=True)
class TaxGroup:
    rate: Decimal
    base: Decimal
    tax: Decimal


@dataclass(frozen=True, slots=True)
class QuoteTotals:
    lines: tuple[LineTotals, ...]
    subtotal: Decimal
    """Sum of the lines' gross amounts, before discounts."""
    discount: Decimal
    net: Decimal
    tax: Decimal
    total: Decimal
    taxes: tuple[TaxGroup, ...]
    """Tax per rate, highest rate first: the breakdown a printed quote shows."""


def minor_unit(currency: str) -> Decimal:
    """The smallest written amount of ``currency``: 0.01, or 1 for currencies without cents."""
    if currency in _THREE_PLACES:
        raise InvalidInput(
            "currencies with three decimal places are not supported",
            fields={"currency": "deal amounts hold two decimal places"},
        )
    return Decimal(1) if currency in _NO_MINOR_UNIT else Decimal("0.01")


def round_money(amount: Decimal, currency: str) -> Decimal:
    """Round half up to the currency's minor unit."""
    return amount.quantize(minor_unit(currency), rounding=ROUND_HALF_UP)


def compute_totals(
    lines: Sequence[LineInput],
    currency: str,
    *,
    tax_mode: TaxMode = TaxMode.EXCLUSIVE,
    rounding: TaxRounding = TaxRounding.PER_LINE,
) -> QuoteTotals:
    """Every line's amounts and the quote's totals, exactly as they are printed."""
    unit = minor_unit(currency)

    def money(value: Decimal) -> Decimal:
        return value.quantize(unit, rounding=ROUND_HALF_UP)

    computed: list[LineTotals] = []
    # rate -> (sum of taxable amounts, sum of line taxes): amounts are net on exclusive quotes
    # and tax-inclusive on inclusive ones, as the per-total rounding needs them.
    groups: dict[Decimal, tuple[Decimal, Decimal]] = {}
    for line in lines:
        gross = money(line.quantity * line.unit_price)
        discount = money(gross * line.discount_percent / HUNDRED)
        after_discount = gross - discount
        rate = line.tax_rate
        if tax_mode is TaxMode.EXCLUSIVE:
            tax = money(after_discount * rate / HUNDRED)
            net, total = after_discount, after_discount + tax
        else:
            tax = money(after_discount * rate / (HUNDRED + rate))
            net, total = after_discount - tax, after_discount
        computed.append(LineTotals(gross, discount, net, tax, total))
        base, line_taxes = groups.get(rate, (Decimal(0), Decimal(0)))
        groups[rate] = (base + after_discount, line_taxes + tax)

    taxes: list[TaxGroup] = []
    for rate in sorted(groups, reverse=True):
        amount, line_taxes = groups[rate]
        if rounding is TaxRounding.PER_LINE:
            tax = line_taxes
        elif tax_mode is TaxMode.EXCLUSIVE:
            tax = money(amount * rate / HUNDRED)
        else:
            tax = money(amount * rate / (HUNDRED + rate))
        base = amount if tax_mode is TaxMode.EXCLUSIVE else amount - tax
        taxes.append(TaxGroup(rate, base, tax))

    zero = money(Decimal(0))
    subtotal = sum((line.gross for line in computed), zero)
    discount = sum((line.discount for line in computed), zero)
    after = subtotal - discount
    tax_total = sum((group.tax for group in taxes), zero)
    if tax_mode is TaxMode.EXCLUSIVE:
        net, total = after, after + tax_total
    else:
        net, total = after - tax_total, after
    return QuoteTotals(tuple(computed), subtotal, discount, net, tax_total, total, tuple(taxes))


def parse_decimal(
    value: object,
    *,
    field: str,
    places: int,
    low: Decimal,
    high: Decimal,
    allow_low: bool = True,
) -> Decimal:
    """An exact Decimal from a string or an int, within bounds and decimal places; never float."""
    if isinstance(value, bool | float):
        raise InvalidInput(
            'numbers are exact: send a string such as "1.5"',
            fields={field: "a decimal string or an integer, not a float"},
        )
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation as err:
        raise InvalidInput("not a number", fields={field: "not a decimal number"}) from err
    if not number.is_finite():
        raise InvalidInput("not a number", fields={field: "must be finite"})
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -places:
        raise InvalidInput(
            "too many decimal places", fields={field: f"at most {places} decimal places"}
        )
    too_low = number < low or (number == low and not allow_low)
    if too_low or number > high:
        bound = f">= {low}" if allow_low else f"> {low}"
        raise InvalidInput("out of range", fields={field: f"must be {bound} and <= {high}"})
    return number


def parse_line(
    quantity: object,
    unit_price: object,
    discount_percent: object,
    tax_rate: object,
    *,
    prefix: str = "",
) -> LineInput:
    """A line's numbers checked: quantity > 0, price >= 0, discount and tax 0..100 percent."""
    return LineInput(
        quantity=parse_decimal(
            quantity,
            field=f"{prefix}quantity",
            places=3,
            low=Decimal(0),
            high=MAX_QUANTITY,
            allow_low=False,
        ),
        unit_price=parse_decimal(
            unit_price,
            field=f"{prefix}unit_price",
            places=4,
            low=Decimal(0),
            high=MAX_UNIT_PRICE,
        ),
        discount_percent=parse_decimal(
            discount_percent,
            field=f"{prefix}discount_percent",
            places=2,
            low=Decimal(0),
            high=HUNDRED,
        ),
        tax_rate=parse_tax_rate(tax_rate, field=f"{prefix}tax_rate"),
    )


def parse_tax_rate(value: object, *, field: str = "tax_rate") -> Decimal:
    """A tax rate in percent, 0..100 with at most two places."""
    return parse_decimal(value, field=field, places=2, low=Decimal(0), high=HUNDRED)
