"""Reading spreadsheet CSV: encodings (BOM, Windows-1251, GB18030), delimiters, Excel's quoting."""

from __future__ import annotations

import codecs
import csv
import io
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmlite.domain.errors import InvalidInput
from crmlite.domain.tabular import csv_lines, decode, read_table, safe_cell, sniff_delimiter

FIXTURES = Path(__file__).parents[1] / "fixtures" / "import"


@pytest.mark.parametrize(
    ("data", "encoding", "text"),
    [
        (codecs.BOM_UTF8 + "Имя;Телефон".encode(), "utf-8-sig", "Имя;Телефон"),
        ("Имя;Телефон".encode(), "utf-8", "Имя;Телефон"),
        (codecs.BOM_UTF16_LE + "姓名\t电话".encode("utf-16-le"), "utf-16", "姓名\t电话"),
        ("name,phone\nAnn,1".encode("ascii"), "utf-8", "name,phone\nAnn,1"),
    ],
)
def test_decode_by_bom_then_utf8(data: bytes, encoding: str, text: str) -> None:
    decoded = decode(data)
    assert (decoded.encoding, decoded.text) == (encoding, text)


@pytest.mark.parametrize(
    ("name", "encoding", "delimiter", "header"),
    [
        ("contacts_ru_cp1251.csv", "cp1251", ";",
         ("ФИО", "Компания", "Телефон", "E-mail", "Примечание")),
        ("contacts_zh_gb18030.tsv", "gb18030", "\t", ("姓名", "公司", "电话", "邮箱")),
        ("contacts_en_utf8_bom.csv", "utf-8-sig", ",",
         ("Name", "Company", "Phone", "Mobile", "Email", "Owner")),
        ("deals_ru_utf8.csv", "utf-8", ";",
         ("Название", "Сумма", "Валюта", "Этап", "Контакт", "Телефон", "Дата создания",
          "Ожидаемая дата закрытия", "Причина отказа")),
    ],
)  # fmt: skip
def test_fixture_files_are_read_in_their_encoding(
    name: str, encoding: str, delimiter: str, header: tuple[str, ...]
) -> None:
    table = read_table((FIXTURES / name).read_bytes())
    assert table.encoding == encoding
    assert table.delimiter == delimiter
    assert table.header == header


def test_excel_quoting_and_line_breaks_inside_cells() -> None:
    table = read_table((FIXTURES / "contacts_ru_cp1251.csv").read_bytes())
    rows = list(table.rows())
    assert rows[0].cells[1] == 'ООО "Ромашка"'
    assert rows[1].cells[1] == "Сбыт; опт"
    assert rows[1].cells[4] == "первая строка\nвторая"
    # The blank line (";;") is skipped; numbering follows the records as a spreadsheet shows them.
    assert [row.number for row in rows] == [2, 3, 5, 6, 7, 8, 9]


def test_rows_are_padded_to_the_header() -> None:
    table = read_table(b"name,phone,email\nAnn\nBob,1,b@x.io,extra\n")
    assert [row.cells for row in table.rows()] == [("Ann", "", ""), ("Bob", "1", "b@x.io")]


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("a,b,c\n1,2,3\n", ","),
        ("a;b;c\n1;2,5;3\n4;5;6\n", ";"),
        ("a\tb\n1\t2\n", "\t"),
        ('name;note\n"x";"1,2,3"\n"y";"4,5"\n', ";"),
        ("a|b\n1|2\n", "|"),
        ("single\nvalue\n", ","),
    ],
)
def test_sniff_delimiter(text: str, delimiter: str) -> None:
    assert sniff_delimiter(text) == delimiter


def test_empty_file_is_refused() -> None:
    with pytest.raises(InvalidInput):
        read_table(b"\n\n")


def test_csv_lines_quote_and_defuse_formulas() -> None:
    text = csv_lines([("a,b", 'say "hi"', None, "=1+1", "+7 495 123", "-x")])
    assert text == '"a,b","say ""hi""",,\'=1+1,+7 495 123,\'-x\r\n'
    assert safe_cell("@SUM(A1)") == "'@SUM(A1)"
    assert safe_cell(5) == 5


def _csv_cell_by_cell(rows: list[list[object]], delimiter: str) -> str:
    """What csv_lines wrote before its fast pass: every cell defused on its own."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerows([[safe_cell(cell) for cell in row] for row in rows])
    return buffer.getvalue()


_CELL_TEXT = st.text(alphabet=st.sampled_from(list('=@+-\t\r\n ",;|(0a7')), max_size=5)
_CELL = st.one_of(st.none(), _CELL_TEXT, st.integers(-20, 20), st.decimals(-5, 5, places=2))


@given(
    rows=st.lists(st.lists(_CELL, min_size=1, max_size=4), min_size=1, max_size=4),
    delimiter=st.sampled_from([",", ";", "\t", "|"]),
)
@settings(max_examples=600, deadline=None)
def test_csv_lines_fast_pass_writes_what_cell_by_cell_does(
    rows: list[list[object]], delimiter: str
) -> None:
    # The fast pass skips the per-cell check when the text shows no risky cell start: it must
    # never miss a formula (e.g. "+x" after an empty cell, "\r=" quoted, "-" alone at a line end).
    assert csv_lines(rows, delimiter=delimiter) == _csv_cell_by_cell(rows, delimiter)


def test_csv_lines_defuses_a_formula_late_in_a_long_batch() -> None:
    rows = [(n, f"name {n}", "+79031234567", None) for n in range(5000)]
    rows.append((5000, "=HYPERLINK(1)", "+7", "-"))
    text = csv_lines(rows)
    assert text.endswith("5000,'=HYPERLINK(1),+7,'-\r\n")
    assert text.count("'") == 2
