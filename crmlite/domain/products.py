"""Catalogue products: the checked fields of one product, and a CSV row read into them.

A price list comes from a spreadsheet as often as from a form, so the header may be in any of the
product's languages (``Артикул``, ``单价``, ``نرخ مالیات``) and numbers may use a decimal comma
(``1 234,50``). The SKU is the key an import matches existing products on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from crmlite.domain.errors import InvalidInput
from crmlite.domain.money import parse_currency
from crmlite.domain.quote_totals import MAX_UNIT_PRICE, minor_unit, parse_decimal, parse_tax_rate

_SKU = re.compile(r"^[\w.\-/]{1,64}$")
_SPACES = re.compile(r"[\s\u00a0\u202f']")

# Normalized header text -> field. Several spellings per language: what people actually type.
HEADER_ALIASES: Mapping[str, str] = {
    **dict.fromkeys(["name", "product", "title", "название", "наименование", "товар"], "name"),
    **dict.fromkeys(["名称", "产品", "产品名称", "نام", "نام کالا", "محصول"], "name"),
    **dict.fromkeys(["sku", "code", "article", "артикул", "код", "货号", "编码"], "sku"),
    **dict.fromkeys(["sku code", "product code", "کد", "کد کالا"], "sku"),
    **dict.fromkeys(["unit", "uom", "единица", "ед.", "ед. изм.", "单位", "واحد"], "unit"),
    **dict.fromkeys(
        ["unit price", "price", "цена", "单价", "价格", "قیمت", "قیمت واحد"], "unit_price"
    ),
    **dict.fromkeys(["currency", "валюта", "货币", "币种", "ارز"], "currency"),
    **dict.fromkeys(["tax rate", "tax", "vat", "ндс", "ставка ндс", "税率"], "tax_rate"),
    **dict.fromkeys(["مالیات", "نرخ مالیات"], "tax_rate"),
    **dict.fromkeys(["active", "активен", "启用", "فعال"], "active"),
}
REQUIRED = ("name", "sku", "unit_price")
_TRUE = frozenset({"1", "true", "yes", "y", "да", "是", "بله", "+"})
_FALSE = frozenset({"0", "false", "no", "n", "нет", "否", "خیر", "-"})


@dataclass(frozen=True, slots=True)
class ProductFields:
    name: str
    sku: str
    unit: str
    unit_price: Decimal
    currency: str
    tax_rate: Decimal
    active: bool


def check_product(
    *,
    name: str,
    sku: str,
    unit: str,
    unit_price: object,
    currency: str,
    tax_rate: object,
    active: bool,
) -> ProductFields:
    """The product's fields, checked; every problem found is named in one InvalidInput."""
    errors: dict[str, str] = {}
    fields: dict[str, object] = {"active": active}
    clean_name = name.strip()
    if not clean_name or len(clean_name) > 200:
        errors["name"] = "1 to 200 characters"
    fields["name"] = clean_name
    clean_sku = sku.strip()
    if not _SKU.fullmatch(clean_sku):
        errors["sku"] = "1 to 64 letters, digits, '.', '-', '/' or '_'"
    fields["sku"] = clean_sku
    clean_unit = unit.strip() or "pcs"
    if len(clean_unit) > 32:
        errors["unit"] = "at most 32 characters"
    fields["unit"] = clean_unit
    for key, parse in (
        ("currency", lambda: parse_currency(currency)),
        ("tax_rate", lambda: parse_tax_rate(tax_rate)),
    ):
        try:
            fields[key] = parse()
        except InvalidInput as err:
            errors.update(err.fields or {key: err.message})
    try:
        places = 4
        price = parse_decimal(
            unit_price, field="unit_price", places=places, low=Decimal(0), high=MAX_UNIT_PRICE
        )
        if "currency" in fields:
            minor_unit(str(fields["currency"]))
        fields["unit_price"] = price
    except InvalidInput as err:
        errors.update(err.fields or {"unit_price": err.message})
    if errors:
        raise InvalidInput("the product is not valid", fields=errors)
    return ProductFields(**fields)  # type: ignore[arg-type]


def map_header(header: Sequence[str]) -> dict[str, int]:
    """Field -> column index; an unknown column is ignored, a missing required one refused."""
    found: dict[str, int] = {}
    for index, title in enumerate(header):
        key = HEADER_ALIASES.get(" ".join(title.strip().lower().replace("_", " ").split()))
        if key is not None and key not in found:
            found[key] = index
    missing = [name for name in REQUIRED if name not in found]
    if missing:
        raise InvalidInput(
            "the file lacks required columns",
            fields={"file": f"needs columns: {', '.join(missing)}"},
            details={"missing": missing, "header": list(header)},
        )
    return found


def product_from_row(
    cells: Sequence[str], columns: Mapping[str, int], *, default_currency: str
) -> ProductFields:
    """One CSV row as a product; InvalidInput names the columns that are wrong."""

    def cell(name: str, default: str = "") -> str:
        index = columns.get(name)
        return cells[index].strip() if index is not None and index < len(cells) else default

    active_text = cell("active", "1").lower()
    if active_text not in _TRUE | _FALSE:
        raise InvalidInput("not a yes/no value", fields={"active": "yes/no, 1/0 or true/false"})
    return check_product(
        name=cell("name"),
        sku=cell("sku"),
        unit=cell("unit"),
        unit_price=spreadsheet_number(cell("unit_price")),
        currency=cell("currency") or default_currency,
        tax_rate=spreadsheet_number(cell("tax_rate", "0").rstrip("%")) or "0",
        active=active_text in _TRUE,
    )


def spreadsheet_number(text: str) -> str:
    """``1 234,50`` and ``1,234.50`` as ``1234.50``: a spreadsheet's number in any locale."""
    compact = _SPACES.sub("", text)
    if "," in compact and "." in compact:
        # Whichever comes last is the decimal mark; the other groups thousands.
        if compact.rindex(",") > compact.rindex("."):
            return compact.replace(".", "").replace(",", ".")
        return compact.replace(",", "")
    if compact.count(",") == 1:
        return compact.replace(",", ".")
    return compact
