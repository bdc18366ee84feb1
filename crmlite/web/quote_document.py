"""The printable quote: one HTML page, styled for paper, in the quote's language and formats.

The same page is what the browser prints and what WeasyPrint turns into a PDF. Numbers, amounts
and dates follow the locale through Babel (CLDR): ``1 234,50 ₽`` in Russian, ``¥1,234.50`` in
Chinese, Persian right to left. Every value from the database is escaped; the page runs no
inline script (its print button is wired by /static/js/quote_print.js).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from html import escape

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal, format_percent

from crmlite.db.quote_models import Quote
from crmlite.domain.quote_totals import TaxGroup
from crmlite.domain.quotes import QuoteStatus, is_right_to_left
from crmlite.web.quote_labels import labels

# Families in the order tried: Latin and Cyrillic, then CJK, then Arabic script. Persian puts its
# own first so digits and punctuation match the words around them.
_FONTS = '"DejaVu Sans", "Noto Sans", "Noto Sans CJK SC", "Noto Naskh Arabic", sans-serif'
_FONTS_FA = '"Noto Naskh Arabic", "Noto Sans Arabic", "DejaVu Sans", sans-serif'

_STYLE = """
@page { size: A4; margin: 18mm 16mm; }
* { box-sizing: border-box; }
body { font-family: %(fonts)s; font-size: 10.5pt; color: #111; margin: 0; }
main { max-width: 190mm; margin: 0 auto; padding: 12px; }
header { display: flex; justify-content: space-between; align-items: flex-start;
  border-bottom: 2px solid #222; padding-bottom: 8px; margin-bottom: 12px; }
h1 { font-size: 20pt; margin: 0 0 4px; }
.number { font-size: 12pt; font-weight: bold; }
.status { display: inline-block; border: 1px solid #888; border-radius: 4px; padding: 1px 6px;
  font-size: 9pt; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; }
dl.facts dt { color: #555; }
dl.facts dd { margin: 0; }
table { width: 100%%; border-collapse: collapse; margin-top: 14px; }
th, td { padding: 5px 6px; border-bottom: 1px solid #ccc; text-align: start; vertical-align: top; }
th { background: #f0f0f0; font-size: 9pt; }
td.num, th.num { text-align: end; white-space: nowrap; }
tr { page-break-inside: avoid; }
table.totals { width: auto; margin-inline-start: auto; min-width: 45%%; }
table.totals th { background: none; font-weight: normal; color: #444; }
table.totals tr.grand td, table.totals tr.grand th { font-weight: bold; font-size: 12pt;
  border-top: 2px solid #222; color: #111; }
.notes { margin-top: 16px; white-space: pre-wrap; }
.muted { color: #666; font-size: 9pt; }
.toolbar { margin-bottom: 12px; display: flex; gap: 8px; }
.toolbar a, .toolbar button { font: inherit; padding: 4px 10px; }
@media print { .toolbar { display: none; } main { padding: 0; } }
"""


@dataclass(frozen=True, slots=True)
class PrintedQuote:
    """What the page shows besides the quote itself."""

    quote: Quote
    status: QuoteStatus
    taxes: tuple[TaxGroup, ...]
    deal_title: str
    customer: str | None
    company: str | None
    seller: str | None
    today: dt.date


class QuoteFormats:
    """Babel's formats for one locale."""

    def __init__(self, locale: str) -> None:
        self.locale = locale.replace("-", "_")

    def money(self, amount: Decimal, currency: str) -> str:
        return format_currency(amount, currency, locale=self.locale, numbering_system="default")

    def price(self, amount: Decimal, currency: str) -> str:
        # Unit prices may carry more places than the currency writes (0.1250 per gram).
        exact = amount.normalize()
        places = max(0, -int(exact.as_tuple().exponent))
        pattern_places = "0" * min(places, 4)
        if places <= 2:
            return self.money(amount, currency)
        return format_currency(
            amount,
            currency,
            format=f"¤#,##0.{pattern_places}",
            locale=self.locale,
            currency_digits=False,
            numbering_system="default",
        )

    def number(self, value: Decimal) -> str:
        return format_decimal(value.normalize(), locale=self.locale, numbering_system="default")

    def percent(self, value: Decimal) -> str:
        return format_percent(
            value / 100, locale=self.locale, decimal_quantization=False, numbering_system="default"
        )

    def date(self, value: dt.date) -> str:
        return format_date(value, format="long", locale=self.locale)


def render_quote_html(printed: PrintedQuote, *, pdf_url: str | None = None) -> str:
    """The whole page as HTML text (``pdf_url`` adds the toolbar the browser view shows)."""
    quote = printed.quote
    words = labels(quote.locale)
    formats = QuoteFormats(quote.locale)
    rtl = is_right_to_left(quote.locale)

    def money(amount: Decimal) -> str:
        return escape(formats.money(amount, quote.currency))

    title = f"{words['quote']} {quote.number}"
    version = f" · {words['version']} {quote.version}" if quote.version > 1 else ""
    facts = [
        (words["date"], formats.date((quote.sent_at or quote.created_at).date())),
        (words["valid_until"], formats.date(quote.valid_until) if quote.valid_until else "—"),
        (words["deal"], printed.deal_title),
        (words["customer"], ", ".join(x for x in (printed.customer, printed.company) if x) or "—"),
        (words["seller"], printed.seller or "—"),
    ]
    rows = "".join(
        "<tr>"
        f"<td><bdi>{escape(line.description)}</bdi>"
        + (f'<div class="muted">{escape(line.sku)}</div>' if line.sku else "")
        + "</td>"
        f'<td class="num">{escape(formats.number(line.quantity))} {escape(line.unit)}</td>'
        f'<td class="num">{escape(formats.price(line.unit_price, quote.currency))}</td>'
        f'<td class="num">{_percent(formats, line.discount_percent)}</td>'
        f'<td class="num">{_percent(formats, line.tax_rate)}</td>'
        f'<td class="num">{money(line.total)}</td>'
        "</tr>"
        for line in quote.lines
    )
    totals = [(words["subtotal"], money(quote.subtotal))]
    if quote.discount:
        totals.append((words["discount"], money(-quote.discount)))
    totals.append((words["net"], money(quote.net)))
    for group in printed.taxes:
        rate = formats.number(group.rate)
        totals.append((escape(words["tax_at"].format(rate=rate)), money(group.tax)))
    total_rows = "".join(f'<tr><th>{k}</th><td class="num">{v}</td></tr>' for k, v in totals)
    total_rows += (
        f'<tr class="grand"><th>{escape(words["total"])}</th>'
        f'<td class="num" data-testid="print-total">{money(quote.total)}</td></tr>'
    )
    inclusive = quote.tax_mode == "inclusive"
    tax_note = words["prices_include_tax" if inclusive else "prices_exclude_tax"]
    toolbar = ""
    if pdf_url is not None:
        toolbar = (
            '<div class="toolbar">'
            f'<button type="button" id="print-quote">{escape(words["print"])}</button>'
            f'<a href="{escape(pdf_url)}">{escape(words["download_pdf"])}</a></div>'
            '<script type="module" src="/static/js/quote_print.js"></script>'
        )
    notes = ""
    if quote.notes:
        notes = (
            f'<div class="notes"><strong>{escape(words["notes"])}</strong><br>'
            f'<span dir="auto">{escape(quote.notes)}</span></div>'
        )
    style = _STYLE % {"fonts": _FONTS_FA if rtl else _FONTS}
    return (
        "<!doctype html>"
        f'<html lang="{escape(quote.locale)}" dir="{"rtl" if rtl else "ltr"}">'
        f'<head><meta charset="utf-8"><title>{escape(title)}</title><style>{style}</style></head>'
        f"<body><main>{toolbar}<header><div>"
        f"<h1>{escape(words['quote'])}</h1>"
        f'<div class="number" data-testid="print-number">{escape(quote.number)}{escape(version)}'
        "</div>"
        f'<span class="status">{escape(words["status." + printed.status.value])}</span>'
        '</div><dl class="facts">'
        + "".join(f"<dt>{escape(k)}</dt><dd><bdi>{escape(v)}</bdi></dd>" for k, v in facts)
        + "</dl></header>"
        f"<table><thead><tr><th>{escape(words['item'])}</th>"
        f'<th class="num">{escape(words["quantity"])}</th>'
        f'<th class="num">{escape(words["unit_price"])}</th>'
        f'<th class="num">{escape(words["discount"])}</th>'
        f'<th class="num">{escape(words["tax_rate"])}</th>'
        f'<th class="num">{escape(words["amount"])}</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
        f'<table class="totals">{total_rows}</table>'
        f'<p class="muted">{escape(tax_note)}</p>{notes}'
        "</main></body></html>"
    )


def _percent(formats: QuoteFormats, value: Decimal) -> str:
    if not value:
        return "—"
    return escape(formats.percent(value))
