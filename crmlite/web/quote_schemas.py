"""Decimal shapes of the quote and product APIs: exact numbers travel as strings, never floats."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field, PlainSerializer


def decimal_text(value: Decimal) -> str:
    """A stored decimal as text without trailing zeros past the cents: 1.5000 -> "1.50"."""
    text = f"{value.normalize():f}"
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}" if len(fraction) <= 2 else text


def number_text(value: Decimal) -> str:
    """A quantity or percent as text without trailing zeros: 2.000 -> "2", 12.50 -> "12.5"."""
    return f"{value.normalize():f}"


PriceOut = Annotated[
    Decimal,
    PlainSerializer(decimal_text, return_type=str, when_used="json"),
    Field(description='exact decimal as a string, at least two places: "1500.00"'),
]
NumberOut = Annotated[
    Decimal,
    PlainSerializer(number_text, return_type=str, when_used="json"),
    Field(description='exact decimal as a string: "2", "12.5"'),
]
PriceIn = Annotated[
    str,
    Field(
        pattern=r"^\d{1,9}(\.\d{1,4})?$",
        description="exact decimal as a string, at most four places",
        examples=["1500.00"],
    ),
]
QuantityIn = Annotated[
    str,
    Field(
        pattern=r"^\d{1,7}(\.\d{1,3})?$",
        description="exact decimal as a string, more than 0, at most three places",
        examples=["2"],
    ),
]
PercentIn = Annotated[
    str,
    Field(
        pattern=r"^\d{1,3}(\.\d{1,2})?$",
        description="percent from 0 to 100 as a string, at most two places",
        examples=["20"],
    ),
]
