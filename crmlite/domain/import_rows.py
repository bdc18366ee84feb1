"""What the columns of an imported table mean, and each row read into a typed record or errors.

A header is mapped to fields by name in English, Russian or Chinese (``name``/``ФИО``/``姓名``);
a person may change the mapping before the run. A row becomes a ``ContactRecord`` or a
``DealRecord`` with every value normalized (phones to E.164, emails lower-cased for matching,
amounts exact, dates parsed), or a list of ``CellError`` naming the column and the reason. Each
record carries a key of its content: the same row imported twice has the same key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from crmlite.domain.errors import InvalidInput
from crmlite.domain.money import parse_amount, parse_currency
from crmlite.domain.phones import NormalizedPhone, PhoneRules, normalize_phone
from crmlite.domain.tabular import TableRow

_CELL_SPLIT = re.compile(r"[,;，；、\n\r|]+|\s+/\s+|\s{2,}")
_EMAIL_SPLIT = re.compile(r"[,;，；\s]+")
MAX_TEXT = 200


@dataclass(frozen=True, slots=True)
class CellError:
    column: str
    """The header of the column at fault (empty when the row as a whole is)."""
    reason: str


@dataclass(frozen=True, slots=True)
class ContactRecord:
    name: str
    company: str | None
    phones: tuple[NormalizedPhone, ...]
    emails: tuple[str, ...]
    owner: str | None
    """The owner's login as written, if the file names one."""
    key: str


@dataclass(frozen=True, slots=True)
class ContactRef:
    """How a deal row names its contact: by phone, email or name, as available."""

    phone: str | None = None
    email: str | None = None
    name: str | None = None


@dataclass(frozen=True, slots=True)
class DealRecord:
    title: str
    amount: Decimal
    currency: str | None
    pipeline: str | None
    stage: str | None
    owner: str | None
    contact: ContactRef | None
    expected_close_date: dt.date | None
    created_at: dt.datetime | None
    lost_reason: str | None
    key: str


class _Cells:
    """The cells of one row by field, with the column each came from, collecting errors."""

    def __init__(self, row: TableRow, header: Sequence[str], mapping: Sequence[str | None]):
        self.values: dict[str, list[tuple[str, str]]] = {}
        for column, field, cell in zip(header, mapping, row.cells, strict=False):
            if field is not None and cell:
                self.values.setdefault(field, []).append((column, cell))
        self.columns = {
            field: column
            for column, field in zip(header, mapping, strict=False)
            if field is not None
        }
        self.errors: list[CellError] = []

    def one(self, field: str) -> str | None:
        found = self.values.get(field)
        return found[0][1] if found else None

    def text(self, field: str, limit: int = MAX_TEXT) -> str | None:
        value = self.one(field)
        if value is not None and len(value) > limit:
            self.fail(field, f"at most {limit} characters")
            return None
        return value

    def fail(self, field: str, reason: str) -> None:
        self.errors.append(CellError(self.columns.get(field, ""), reason))


def read_contact(
    row: TableRow, header: Sequence[str], mapping: Sequence[str | None], rules: PhoneRules
) -> ContactRecord | list[CellError]:
    """One row as a contact, or what is wrong with it, column by column."""
    cells = _Cells(row, header, mapping)
    company = cells.text("company")
    name = cells.text("name")
    if name is None:
        parts = [cells.text("first_name"), cells.text("last_name")]
        name = " ".join(p for p in parts if p) or None
    if name is None:
        name = company
    if name is None and not any(cells.one(f) for f in ("name", "first_name", "last_name")):
        cells.fail("name" if "name" in cells.columns else "first_name", "a name is required")
    phones = _phones(cells, rules)
    emails = _emails(cells)
    owner = cells.text("owner", 64)
    if cells.errors or name is None:
        return cells.errors
    key = _key(
        "contact",
        name.casefold(),
        (company or "").casefold(),
        sorted(p.normalized for p in phones),
        sorted(e.lower() for e in emails),
    )
    return ContactRecord(name, company, tuple(phones), tuple(emails), owner, key)


def read_deal(
    row: TableRow, header: Sequence[str], mapping: Sequence[str | None], rules: PhoneRules
) -> DealRecord | list[CellError]:
    """One row as a deal, or what is wrong with it, column by column."""
    cells = _Cells(row, header, mapping)
    title = cells.text("title")
    if title is None:
        cells.fail("title", "a title is required")
    amount = _amount(cells)
    currency = _currency(cells)
    phones = _phones(cells, rules)
    emails = _emails(cells)
    named = cells.text("contact")
    contact = _contact_ref(named, phones, emails, rules)
    close = _date(cells, "expected_close_date")
    created = _datetime(cells, "created_at")
    record = DealRecord(
        title=title or "",
        amount=amount,
        currency=currency,
        pipeline=cells.text("pipeline", 100),
        stage=cells.text("stage", 100),
        owner=cells.text("owner", 64),
        contact=contact,
        expected_close_date=close,
        created_at=created,
        lost_reason=cells.text("lost_reason"),
        key="",
    )
    if cells.errors:
        return cells.errors
    key = _key(
        "deal",
        record.title,
        str(record.amount),
        record.currency,
        record.pipeline,
        record.stage,
        record.owner,
        contact and [contact.phone, contact.email, contact.name],
        close and close.isoformat(),
        created and created.isoformat(),
        record.lost_reason,
    )
    return dataclasses.replace(record, key=key)


def split_phones(cell: str) -> list[str]:
    """The numbers in one cell: split on , ; | line breaks, " / " or a run of spaces."""
    return [part.strip() for part in _CELL_SPLIT.split(cell) if part.strip()]


def _phones(cells: _Cells, rules: PhoneRules) -> list[NormalizedPhone]:
    found: list[NormalizedPhone] = []
    seen: set[str] = set()
    for column, cell in cells.values.get("phone", []):
        for part in split_phones(cell):
            try:
                number = normalize_phone(part, rules)
            except InvalidInput:
                cells.errors.append(CellError(column, f"not a phone number: {part!r}"))
                continue
            if number.normalized not in seen:
                seen.add(number.normalized)
                found.append(number)
    return found


def _emails(cells: _Cells) -> list[str]:
    found: list[str] = []
    for column, cell in cells.values.get("email", []):
        for part in _EMAIL_SPLIT.split(cell):
            if not part:
                continue
            if not is_email(part):
                cells.errors.append(CellError(column, f"not an email address: {part!r}"))
            elif part.lower() not in (f.lower() for f in found):
                found.append(part)
    return found


def is_email(value: str) -> bool:
    """The same check contacts get: something@domain.tld, no spaces, at most 254 characters."""
    local, at, domain = value.rpartition("@")
    return bool(
        at and local and "." in domain.strip(".") and len(value) <= 254 and " " not in value
    )


_MONEY_NOISE = re.compile(r"[\s\u00a0\u202f'’$€₽¥£]|руб\.?|р\.|rub|usd|eur|cny|元", re.IGNORECASE)


def parse_loose_amount(text: str) -> Decimal:
    """An amount as spreadsheets print it: 1 234,50 / 1,234.50 / $1,000 / 1234.5 руб."""
    clean = _MONEY_NOISE.sub("", text)
    if "," in clean and "." in clean:
        decimal_mark = "," if clean.rindex(",") > clean.rindex(".") else "."
        clean = clean.replace("." if decimal_mark == "," else ",", "").replace(",", ".")
    elif clean.count(",") == 1 and not re.search(r",\d{3}$", clean):
        clean = clean.replace(",", ".")
    else:
        clean = clean.replace(",", "")
    return parse_amount(clean)


def _amount(cells: _Cells) -> Decimal:
    value = cells.one("amount")
    if value is None:
        return Decimal("0.00")
    try:
        return parse_loose_amount(value)
    except InvalidInput as err:
        cells.fail("amount", next(iter(err.fields.values()), err.message))
        return Decimal("0.00")


def _currency(cells: _Cells) -> str | None:
    value = cells.one("currency")
    if value is None:
        return None
    symbols = {
        "₽": "RUB",
        "руб": "RUB",
        "р": "RUB",
        "$": "USD",
        "€": "EUR",
        "¥": "CNY",
        "元": "CNY",
    }
    try:
        return parse_currency(symbols.get(value.strip().casefold().rstrip("."), value))
    except InvalidInput:
        cells.fail("currency", "a three-letter code such as RUB, USD, CNY")
        return None


def _contact_ref(
    named: str | None, phones: list[NormalizedPhone], emails: list[str], rules: PhoneRules
) -> ContactRef | None:
    phone = phones[0].normalized if phones else None
    email = emails[0].lower() if emails else None
    name = named
    if named and phone is None and email is None:
        if is_email(named):
            email, name = named.lower(), None
        elif sum(c.isdigit() for c in named) >= 5:
            with contextlib.suppress(InvalidInput):
                phone, name = normalize_phone(named, rules).normalized, None
    if phone is None and email is None and name is None:
        return None
    return ContactRef(phone, email, name)


_DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%Y/%m/%d", "%d.%m.%y", "%Y.%m.%d")
_CHINESE_DATE = re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日?$")
_SLASHED = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def parse_date(text: str) -> dt.date:
    """A date as typed: 2026-03-01, 01.03.2026, 2026/03/01, 2026年3月1日, 1/3/2026 (day first
    unless that cannot be)."""
    value = text.strip()
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(value, fmt).date()  # noqa: DTZ007 (a date, no zone)
        except ValueError:
            continue
    if found := _CHINESE_DATE.match(value):
        return dt.date(int(found[1]), int(found[2]), int(found[3]))
    if found := _SLASHED.match(value):
        first, second, year = int(found[1]), int(found[2]), int(found[3])
        day, month = (second, first) if second > 12 else (first, second)
        return dt.date(year, month, day)
    raise ValueError(value)


def parse_datetime(text: str) -> dt.datetime:
    """A date with an optional time (HH:MM[:SS], ISO 'T' too), read as UTC when it has no zone."""
    value = text.strip()
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        day_part, _, time_part = value.partition(" ")
        day = parse_date(day_part)
        clock = dt.time(0, 0)
        if time_part.strip():
            clock = dt.time.fromisoformat(time_part.strip().zfill(5))
        moment = dt.datetime.combine(day, clock)
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _date(cells: _Cells, field: str) -> dt.date | None:
    value = cells.one(field)
    if value is None:
        return None
    try:
        return parse_date(value)
    except ValueError:
        cells.fail(field, f"not a date: {value!r} (use 2026-03-01 or 01.03.2026)")
        return None


def _datetime(cells: _Cells, field: str) -> dt.datetime | None:
    value = cells.one(field)
    if value is None:
        return None
    try:
        return parse_datetime(value)
    except ValueError:
        cells.fail(field, f"not a date: {value!r} (use 2026-03-01 or 01.03.2026 14:30)")
        return None


def _key(*parts: object) -> str:
    """A stable digest of a row's normalized content."""
    # repr keeps None apart from "None" and a list apart from its items; the unit separator
    # cannot appear in a cell's meaning.
    payload = "\x1f".join(map(repr, parts))
    return hashlib.sha256(payload.encode()).hexdigest()
