"""Money: exact Decimal amounts with two places and ISO 4217 currency codes. Never float."""

from __future__ import annotations

import re
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation

from crmlite.domain.errors import InvalidInput

CENTS = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999999.99")  # Numeric(14, 2)
_CURRENCY = re.compile(r"^[A-Z]{3}$")


def parse_amount(value: object, *, field: str = "amount") -> Decimal:
    """Return ``value`` as an exact, non-negative Decimal with at most two places."""
    if isinstance(value, bool | float):
        raise InvalidInput(
            'amounts are exact: send a string such as "1234.50"',
            fields={field: "must be a decimal string or an integer, not a float"},
        )
    try:
        amount = Decimal(str(value).strip()) if not isinstance(value, Decimal) else value
    except InvalidOperation as err:
        raise InvalidInput("not an amount", fields={field: "not a decimal number"}) from err
    if not amount.is_finite():
        raise InvalidInput("not an amount", fields={field: "must be finite"})
    if amount < 0:
        raise InvalidInput("amounts are not negative", fields={field: "must be >= 0"})
    if amount.as_tuple().exponent < -2:  # type: ignore[operator]
        raise InvalidInput("too many decimal places", fields={field: "at most 2 decimal places"})
    if amount > MAX_AMOUNT:
        raise InvalidInput("amount too large", fields={field: f"at most {MAX_AMOUNT}"})
    return amount.quantize(CENTS)


def parse_currency(value: str, *, field: str = "currency") -> str:
    """Return an upper-case three-letter currency code."""
    code = value.strip().upper()
    if not _CURRENCY.fullmatch(code):
        raise InvalidInput("not a currency code", fields={field: "three letters, e.g. RUB"})
    return code


def format_amount(amount: Decimal) -> str:
    """Render an amount for JSON: a string with two places, never a float."""
    return f"{amount.quantize(CENTS):f}"


def sum_by_currency(amounts: Iterable[tuple[str, Decimal]]) -> dict[str, Decimal]:
    """Add amounts per currency; amounts in different currencies are never added together."""
    totals: dict[str, Decimal] = {}
    for currency, amount in amounts:
        totals[currency] = totals.get(currency, Decimal("0.00")) + amount
    return {currency: total.quantize(CENTS) for currency, total in sorted(totals.items())}
