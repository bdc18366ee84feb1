"""Header aliases, phone cells, and rows read into records or per-column errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from crmlite.domain.errors import InvalidInput
from crmlite.domain.import_fields import ImportKind, check_mapping, propose_mapping
from crmlite.domain.import_rows import (
    CellError,
    ContactRecord,
    ContactRef,
    DealRecord,
    parse_date,
    parse_datetime,
    parse_loose_amount,
    read_contact,
    read_deal,
    split_phones,
)
from crmlite.domain.phones import PhoneRules
from crmlite.domain.tabular import TableRow

RULES = PhoneRules()


@pytest.mark.parametrize(
    ("header", "kind", "mapping"),
    [
        (["Name", "Phone", "E-mail", "Company"], ImportKind.CONTACTS,
         ["name", "phone", "email", "company"]),
        (["ФИО", "Телефон", "Эл. почта", "Компания", "Ответственный"], ImportKind.CONTACTS,
         ["name", "phone", "email", "company", "owner"]),
        (["姓名", "电话", "邮箱", "公司", "负责人"], ImportKind.CONTACTS,
         ["name", "phone", "email", "company", "owner"]),
        (["Фамилия", "Имя", "Телефон 1", "Телефон 2", "Примечание"], ImportKind.CONTACTS,
         ["last_name", "first_name", "phone", "phone", None]),
        (["  FULL_NAME ", "Mobile", "Work phone"], ImportKind.CONTACTS, ["name", "phone", "phone"]),
        (["Name", "Name"], ImportKind.CONTACTS, ["name", None]),
        (["Название", "Сумма", "Этап", "Воронка", "Клиент", "Дата создания"], ImportKind.DEALS,
         ["title", "amount", "stage", "pipeline", "contact", "created_at"]),
        (["商机名称", "金额", "币种", "阶段", "输单原因"], ImportKind.DEALS,
         ["title", "amount", "currency", "stage", "lost_reason"]),
    ],
)  # fmt: skip
def test_propose_mapping_by_header_in_three_languages(
    header: list[str], kind: ImportKind, mapping: list[str | None]
) -> None:
    assert propose_mapping(header, kind) == mapping


@pytest.mark.parametrize(
    ("mapping", "problem"),
    [
        (["name"], "mapping"),
        (["name", "colour"], "mapping.1"),
        (["company", "company"], "mapping.1"),
        (["phone", "email"], "mapping"),
    ],
)
def test_check_mapping_refuses(mapping: list[str | None], problem: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        check_mapping(mapping, ["a", "b"], ImportKind.CONTACTS)
    assert problem in caught.value.fields


@pytest.mark.parametrize(
    ("cell", "parts"),
    [
        ("+7 (495) 123-45-67, 8 916 000-11-22", ["+7 (495) 123-45-67", "8 916 000-11-22"]),
        ("89031234567; 89037654321", ["89031234567", "89037654321"]),
        ("+7 903 111 22 33 / +7 903 111 22 34", ["+7 903 111 22 33", "+7 903 111 22 34"]),
        ("+86 138 0013 8000；+86 139 0013 9000", ["+86 138 0013 8000", "+86 139 0013 9000"]),
        ("8 495 123 45 67\n8 495 765 43 21", ["8 495 123 45 67", "8 495 765 43 21"]),
        ("101", ["101"]),
    ],
)
def test_split_phones(cell: str, parts: list[str]) -> None:
    assert split_phones(cell) == parts


HEADER = ("ФИО", "Компания", "Телефон", "E-mail", "Имя")
MAPPING = ["name", "company", "phone", "email", None]


def _contact(*cells: str) -> ContactRecord | list[CellError]:
    return read_contact(TableRow(2, cells), HEADER, MAPPING, RULES)


def test_contact_row_normalizes_phones_and_emails() -> None:
    record = _contact("Иванов Иван", "Ромашка", "8 (495) 123-45-67, +7 495 123 45 67; 89161234567",
                      "Ivan@Example.RU", "")  # fmt: skip
    assert isinstance(record, ContactRecord)
    assert [p.normalized for p in record.phones] == ["+74951234567", "+79161234567"]
    assert record.emails == ("Ivan@Example.RU",)
    assert record.company == "Ромашка"


def test_same_content_has_the_same_key_in_any_typing() -> None:
    first = _contact("Иванов Иван", "Ромашка", "8 (495) 123-45-67", "ivan@example.ru", "")
    second = _contact("иванов иван", "Ромашка", "+74951234567", "IVAN@example.ru", "")
    other = _contact("Иванов Иван", "Ромашка", "+74951234568", "ivan@example.ru", "")
    assert isinstance(first, ContactRecord)
    assert isinstance(second, ContactRecord)
    assert isinstance(other, ContactRecord)
    assert first.key == second.key != other.key


@pytest.mark.parametrize(
    ("cells", "errors"),
    [
        (("", "", "+7 903 765 43 21", "", ""), [CellError("ФИО", "a name is required")]),
        (("Пётр", "", "телефон не указан", "", ""),
         [CellError("Телефон", "not a phone number: 'телефон не указан'")]),
        (("Мария", "", "89031234567", "не-почта", ""),
         [CellError("E-mail", "not an email address: 'не-почта'")]),
        (("x" * 201, "", "", "", ""), [CellError("ФИО", "at most 200 characters")]),
    ],
)  # fmt: skip
def test_contact_row_errors_name_the_column(
    cells: tuple[str, ...], errors: list[CellError]
) -> None:
    assert _contact(*cells) == errors


def test_company_stands_in_for_a_missing_name() -> None:
    record = _contact("", "ООО Ромашка", "", "", "")
    assert isinstance(record, ContactRecord)
    assert record.name == "ООО Ромашка"


def test_first_and_last_name_columns_join() -> None:
    record = read_contact(
        TableRow(2, ("Ivanov", "Ivan")), ("Last name", "First name"),
        ["last_name", "first_name"], RULES,
    )  # fmt: skip
    assert isinstance(record, ContactRecord)
    assert record.name == "Ivan Ivanov"


DEAL_HEADER = ("Title", "Amount", "Currency", "Contact", "Created", "Close", "Stage")
DEAL_MAPPING = ["title", "amount", "currency", "contact", "created_at", "expected_close_date",
                "stage"]  # fmt: skip


def test_deal_row_reads_amounts_dates_and_contact() -> None:
    record = read_deal(
        TableRow(2, ("Supply", "1 250 000,50", "₽", "+7 903 222 33 44", "01.03.2026 14:30",
                     "2026年4月15日", "Won")),
        DEAL_HEADER, DEAL_MAPPING, RULES,
    )  # fmt: skip
    assert isinstance(record, DealRecord)
    assert record.amount == Decimal("1250000.50")
    assert record.currency == "RUB"
    assert record.contact == ContactRef(phone="+79032223344")
    assert record.created_at == dt.datetime(2026, 3, 1, 14, 30, tzinfo=dt.UTC)
    assert record.expected_close_date == dt.date(2026, 4, 15)
    assert record.stage == "Won"
    assert len(record.key) == 64


def test_deal_row_errors() -> None:
    errors = read_deal(
        TableRow(2, ("", "many", "RUBLES", "", "yesterday", "", "")),
        DEAL_HEADER, DEAL_MAPPING, RULES,
    )  # fmt: skip
    assert isinstance(errors, list)
    assert [e.column for e in errors] == ["Title", "Amount", "Currency", "Created"]


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("1 234,56", "1234.56"),
        ("1,234.56", "1234.56"),
        ("1.234,56", "1234.56"),
        ("$1,000", "1000.00"),
        ("12000", "12000.00"),
        ("1234,5", "1234.50"),
        ("500 руб.", "500.00"),
        ("1\u00a0000\u00a0000", "1000000.00"),
    ],
)
def test_parse_loose_amount(text: str, amount: str) -> None:
    assert parse_loose_amount(text) == Decimal(amount)


@pytest.mark.parametrize(
    ("text", "date"),
    [
        ("2026-03-01", dt.date(2026, 3, 1)),
        ("01.03.2026", dt.date(2026, 3, 1)),
        ("2026/03/01", dt.date(2026, 3, 1)),
        ("2026年3月1日", dt.date(2026, 3, 1)),
        ("13/3/2026", dt.date(2026, 3, 13)),
        ("3/13/2026", dt.date(2026, 3, 13)),
        ("1/3/2026", dt.date(2026, 3, 1)),
    ],
)
def test_parse_date(text: str, date: dt.date) -> None:
    assert parse_date(text) == date


def test_parse_datetime_is_utc_without_a_zone() -> None:
    assert parse_datetime("2026-02-10 09:30") == dt.datetime(2026, 2, 10, 9, 30, tzinfo=dt.UTC)
    assert parse_datetime("2026-02-10T09:30:00+03:00") == dt.datetime(
        2026, 2, 10, 6, 30, tzinfo=dt.UTC
    )
    with pytest.raises(ValueError, match="x"):
        parse_date("x")
