"""Quote totals, statuses and numbers: the pure core, table-driven."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from crmlite.domain.errors import InvalidInput
from crmlite.domain.products import map_header, product_from_row, spreadsheet_number
from crmlite.domain.quote_totals import (
    LineInput,
    TaxMode,
    TaxRounding,
    compute_totals,
    parse_line,
)
from crmlite.domain.quotes import (
    QuoteAction,
    QuoteStateConflict,
    QuoteStatus,
    check_action,
    effective_status,
    parse_quote_number,
    pick_locale,
    quote_number,
)

D = Decimal


def line(qty: str, price: str, discount: str = "0", rate: str = "0") -> LineInput:
    return LineInput(D(qty), D(price), D(discount), D(rate))


# (lines, currency, mode, rounding) -> (discount, net, tax, total)
TOTALS = [
    # One half cent: 0.125 rounds half up to 0.13, never to even (0.12).
    (
        [line("1", "0.125")],
        "EUR",
        TaxMode.EXCLUSIVE,
        TaxRounding.PER_LINE,
        ("0", "0.13", "0", "0.13"),
    ),
    # Per line: 3 x round(0.005) = 0.03; per total: round(0.015) = 0.02.
    (
        [line("1", "0.05", rate="10")] * 3,
        "EUR",
        TaxMode.EXCLUSIVE,
        TaxRounding.PER_LINE,
        ("0", "0.15", "0.03", "0.18"),
    ),
    (
        [line("1", "0.05", rate="10")] * 3,
        "EUR",
        TaxMode.EXCLUSIVE,
        TaxRounding.PER_TOTAL,
        ("0", "0.15", "0.02", "0.17"),
    ),
    # Inclusive: 100.00 at 20 % holds 16.67 of tax.
    (
        [line("1", "100", rate="20")],
        "RUB",
        TaxMode.INCLUSIVE,
        TaxRounding.PER_LINE,
        ("0", "83.33", "16.67", "100.00"),
    ),
    # Inclusive, 3 x 0.10 at 20 %: per line 3 x round(0.0167) = 0.06; per total round(0.05) = 0.05.
    (
        [line("1", "0.10", rate="20")] * 3,
        "RUB",
        TaxMode.INCLUSIVE,
        TaxRounding.PER_TOTAL,
        ("0", "0.25", "0.05", "0.30"),
    ),
    (
        [line("1", "0.10", rate="20")] * 3,
        "RUB",
        TaxMode.INCLUSIVE,
        TaxRounding.PER_LINE,
        ("0", "0.24", "0.06", "0.30"),
    ),
    # Discount rounded on its own: 3 x 33.33 = 99.99, 15 % = 14.9985 -> 15.00.
    (
        [line("3", "33.33", discount="15")],
        "USD",
        TaxMode.EXCLUSIVE,
        TaxRounding.PER_LINE,
        ("15.00", "84.99", "0", "84.99"),
    ),
    # Yen has no cents: 0.5 yen rounds up.
    (
        [line("1", "100.5")],
        "JPY",
        TaxMode.EXCLUSIVE,
        TaxRounding.PER_LINE,
        ("0", "101", "0", "101"),
    ),
    # Rials: 9 % of 1,234,567 is 111,111.03 -> 111,111.
    (
        [line("1", "1234567", rate="9")],
        "IRR",
        TaxMode.EXCLUSIVE,
        TaxRounding.PER_LINE,
        ("0", "1234567", "111111", "1345678"),
    ),
    # Fractional quantity and a four-place price: 2.5 kg x 0.1235 = 0.30875 -> 0.31.
    (
        [line("2.5", "0.1235")],
        "CNY",
        TaxMode.EXCLUSIVE,
        TaxRounding.PER_LINE,
        ("0", "0.31", "0", "0.31"),
    ),
    ([], "RUB", TaxMode.EXCLUSIVE, TaxRounding.PER_LINE, ("0", "0", "0", "0")),
]


@pytest.mark.parametrize(("lines", "currency", "mode", "rounding", "expected"), TOTALS)
def test_totals_round_as_printed(
    lines: list[LineInput],
    currency: str,
    mode: TaxMode,
    rounding: TaxRounding,
    expected: tuple[str, str, str, str],
) -> None:
    totals = compute_totals(lines, currency, tax_mode=mode, rounding=rounding)
    assert (totals.discount, totals.net, totals.tax, totals.total) == tuple(D(x) for x in expected)
    # What is printed adds up: lines to the totals, tax groups to the tax.
    assert totals.subtotal - totals.discount == sum(
        (x.gross - x.discount for x in totals.lines), D(0)
    )
    assert sum((g.tax for g in totals.taxes), D(0)) == totals.tax
    if rounding is TaxRounding.PER_LINE:
        assert sum((x.total for x in totals.lines), D(0)) == totals.total


def test_tax_groups_are_per_rate_highest_first() -> None:
    totals = compute_totals(
        [line("1", "100", rate="10"), line("2", "50", rate="20"), line("1", "5", rate="10")], "EUR"
    )
    assert [(g.rate, g.base, g.tax) for g in totals.taxes] == [
        (D(20), D("100.00"), D("20.00")),
        (D(10), D("105.00"), D("10.50")),
    ]


@pytest.mark.parametrize(
    ("values", "field"),
    [
        (("0", "1", "0", "0"), "quantity"),
        (("1", "-1", "0", "0"), "unit_price"),
        (("1", "1", "100.5", "0"), "discount_percent"),
        (("1", "1", "0", "1.234"), "tax_rate"),
        ((1.5, "1", "0", "0"), "quantity"),
        (("1", "1.12345", "0", "0"), "unit_price"),
        (("NaN", "1", "0", "0"), "quantity"),
    ],
)
def test_bad_line_numbers_name_their_field(values: tuple[object, ...], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_line(*values, prefix="lines.0.")
    assert f"lines.0.{field}" in caught.value.fields


def test_three_place_currencies_are_refused() -> None:
    with pytest.raises(InvalidInput):
        compute_totals([line("1", "1")], "KWD")


TODAY = dt.date(2026, 5, 10)


@pytest.mark.parametrize(
    ("stored", "valid_until", "seen"),
    [
        ("sent", dt.date(2026, 5, 10), QuoteStatus.SENT),  # valid through its last day
        ("sent", dt.date(2026, 5, 9), QuoteStatus.EXPIRED),
        ("sent", None, QuoteStatus.SENT),
        ("draft", dt.date(2026, 5, 1), QuoteStatus.DRAFT),
        ("accepted", dt.date(2026, 5, 1), QuoteStatus.ACCEPTED),
    ],
)
def test_a_sent_quote_expires_after_its_last_day(
    stored: str, valid_until: dt.date | None, seen: QuoteStatus
) -> None:
    assert effective_status(stored, valid_until, TODAY) is seen


@pytest.mark.parametrize(
    ("status", "action", "allowed"),
    [
        (QuoteStatus.DRAFT, QuoteAction.EDIT, True),
        (QuoteStatus.DRAFT, QuoteAction.ACCEPT, False),
        (QuoteStatus.SENT, QuoteAction.EDIT, False),
        (QuoteStatus.SENT, QuoteAction.ACCEPT, True),
        (QuoteStatus.SENT, QuoteAction.REVISE, True),
        (QuoteStatus.EXPIRED, QuoteAction.ACCEPT, False),
        (QuoteStatus.EXPIRED, QuoteAction.REVISE, True),
        (QuoteStatus.REJECTED, QuoteAction.REVISE, True),
        (QuoteStatus.ACCEPTED, QuoteAction.REVISE, False),
        (QuoteStatus.SUPERSEDED, QuoteAction.EDIT, False),
    ],
)
def test_what_each_status_allows(status: QuoteStatus, action: QuoteAction, allowed: bool) -> None:
    if allowed:
        check_action(1, status, action)
    else:
        with pytest.raises(QuoteStateConflict):
            check_action(1, status, action)


def test_numbers_and_locales() -> None:
    assert quote_number(2026, 1) == "Q-2026-0001"
    assert quote_number(2026, 12345) == "Q-2026-12345"
    assert parse_quote_number("Q-2026-0042") == (2026, 42)
    assert parse_quote_number("Q-26-1") is None
    assert [pick_locale(x) for x in ("zh", "fa-IR", "RU", "de", None)] == [
        "zh-CN",
        "fa",
        "ru",
        "en",
        "en",
    ]


@pytest.mark.parametrize(
    ("text", "number"),
    [("1 234,50", "1234.50"), ("1,234.50", "1234.50"), ("1.234,5", "1234.5"), ("7450", "7450")],
)
def test_spreadsheet_numbers(text: str, number: str) -> None:
    assert spreadsheet_number(text) == number


def test_a_price_list_row_in_chinese() -> None:
    columns = map_header(["名称", "货号", "单位", "单价", "币种", "税率"])
    product = product_from_row(["轮胎", "T-1", "个", "1,299.00", "CNY", "13%"], columns,
                               default_currency="RUB")  # fmt: skip
    assert (product.name, product.sku, product.unit_price, product.tax_rate) == (
        "轮胎",
        "T-1",
        D("1299.00"),
        D(13),
    )
    with pytest.raises(InvalidInput) as caught:
        map_header(["name", "unit"])
    assert "sku" in caught.value.fields["file"]
