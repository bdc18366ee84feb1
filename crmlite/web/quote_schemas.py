"""Shapes of the quote and product APIs: exact numbers travel as strings, never floats."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated

from pydantic import Field, PlainSerializer

from crmlite.domain.quote_totals import TaxMode, TaxRounding
from crmlite.domain.quotes import QuoteStatus
from crmlite.web.crm_schemas import AmountOut, Currency
from crmlite.web.schemas import ApiModel, Id


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


class LineIn(ApiModel):
    product_id: Id | None = Field(None, description="a catalogue product; fills what is omitted")
    description: str | None = Field(None, max_length=500, description="default: product name")
    unit: str | None = Field(None, max_length=32)
    quantity: QuantityIn
    unit_price: PriceIn | None = Field(None, description="default: the product's price")
    discount_percent: PercentIn = "0"
    tax_rate: PercentIn | None = Field(None, description="default: the product's rate, else 0")


class QuoteIn(ApiModel):
    lines: list[LineIn] = Field(default_factory=list, max_length=200)
    currency: Currency | None = Field(None, description="default: the deal's currency")
    tax_mode: TaxMode = TaxMode.EXCLUSIVE
    tax_rounding: TaxRounding = TaxRounding.PER_LINE
    locale: str | None = Field(
        None, pattern=r"^[A-Za-z]{2}(-[A-Za-z]{2,4})?$", description="en, ru, zh-CN or fa"
    )
    valid_until: dt.date | None = None
    notes: str = Field("", max_length=4000)


class PreviewLineIn(ApiModel):
    quantity: QuantityIn
    unit_price: PriceIn
    discount_percent: PercentIn = "0"
    tax_rate: PercentIn = "0"


class PreviewIn(ApiModel):
    lines: list[PreviewLineIn] = Field(max_length=200)
    currency: Currency
    tax_mode: TaxMode = TaxMode.EXCLUSIVE
    tax_rounding: TaxRounding = TaxRounding.PER_LINE


class LineAmountsOut(ApiModel):
    gross: AmountOut
    discount: AmountOut
    net: AmountOut
    tax: AmountOut
    total: AmountOut


class LineOut(LineAmountsOut):
    position: int
    product_id: int | None
    sku: str | None
    description: str
    unit: str
    quantity: NumberOut
    unit_price: PriceOut
    discount_percent: NumberOut
    tax_rate: NumberOut


class TaxGroupOut(ApiModel):
    rate: NumberOut
    base: AmountOut
    tax: AmountOut


class TotalsOut(ApiModel):
    currency: str
    subtotal: AmountOut
    discount: AmountOut
    net: AmountOut
    tax: AmountOut
    total: AmountOut
    taxes: list[TaxGroupOut]
    lines: list[LineAmountsOut]


class QuoteOut(ApiModel):
    id: int
    deal_id: int
    number: str
    version: int
    previous_id: int | None
    status: QuoteStatus = Field(description="a sent quote past valid_until reads as expired")
    actions: list[str] = Field(description="what may be done to it now")
    latest: bool = Field(description="false once a newer version of the quote exists")
    currency: str
    tax_mode: TaxMode
    tax_rounding: TaxRounding
    locale: str
    valid_until: dt.date | None
    notes: str
    subtotal: AmountOut
    discount: AmountOut
    net: AmountOut
    tax: AmountOut
    total: AmountOut
    taxes: list[TaxGroupOut]
    lines: list[LineOut]
    created_by_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    sent_at: dt.datetime | None
    decided_at: dt.datetime | None


class AcceptIn(ApiModel):
    stage_id: Id | None = Field(None, description="default: the pipeline's quote settings")
    set_deal_amount: bool | None = Field(None, description="default: the pipeline's settings")


class AcceptOut(ApiModel):
    quote: QuoteOut
    deal_stage_id: int | None = Field(description="the stage the deal moved to, if it moved")
    deal_amount_set: bool


class QuoteSettingsIn(ApiModel):
    accept_stage_id: Id | None = Field(None, description="null: accepting does not move deals")
    set_deal_amount: bool = True


class QuoteSettingsOut(ApiModel):
    pipeline_id: int
    accept_stage_id: int | None
    set_deal_amount: bool
