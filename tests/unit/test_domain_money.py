"""Money: exact decimals in, two-place strings out, per-currency sums."""

from __future__ import annotations

from decimal import Decimal

import pytest

from crmlite.domain.errors import InvalidInput
from crmlite.domain.money import format_amount, parse_amount, parse_currency, sum_by_currency


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("1234.5", "1234.50"),
        ("0", "0.00"),
        (7, "7.00"),
        (Decimal("0.1"), "0.10"),
        ("999999999999.99", "999999999999.99"),
    ],
)
def test_parse_and_format(value: object, expected: str) -> None:
    assert format_amount(parse_amount(value)) == expected


@pytest.mark.parametrize("value", [0.1, True, "-1", "1.005", "abc", "NaN", "1e15", "Infinity"])
def test_refused(value: object) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_amount(value)
    assert "amount" in caught.value.fields


def test_currency() -> None:
    assert parse_currency(" rub ") == "RUB"
    with pytest.raises(InvalidInput):
        parse_currency("RUBL")


def test_sums_stay_per_currency_and_exact() -> None:
    pairs = [("RUB", Decimal("0.10"))] * 3 + [("USD", Decimal("1.00")), ("RUB", Decimal("0.20"))]
    assert sum_by_currency(pairs) == {"RUB": Decimal("0.50"), "USD": Decimal("1.00")}
