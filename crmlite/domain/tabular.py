"""Tables people save from spreadsheets: bytes in, the encoding, delimiter, header and rows out.

Excel and its cousins write CSV in the machine's ANSI code page (Windows-1251 in Russia, GB18030
in China), in UTF-8 with or without a byte order mark, with ``,`` ``;`` or a tab between cells
depending on the locale, and with cells quoted Excel's way (``"a ""quoted"" word"``, line breaks
inside quotes). This module reads all of that without I/O; what each column means is
``crmlite.domain.import_rows``' business.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from charset_normalizer import from_bytes

from crmlite.domain.errors import InvalidInput

DELIMITERS = (",", ";", "\t", "|")
# How much of the file the delimiter is judged on (whole lines are used).
_SNIFF_CHARS = 64 * 1024
_SNIFF_LINES = 50
# Encodings a spreadsheet in this product's languages is saved in, besides UTF-8 (tried first).
_LEGACY_ENCODINGS = ["cp1251", "gb18030", "koi8_r", "cp1252", "big5", "cp1256"]
# =, @, a tab or CR, or a sign not followed by a number: what spreadsheets evaluate (a phone such
# as +7 495 ... stays as it is).
_FORMULA = re.compile(r"^(?:[=@\t\r]|[+-](?![\d (]))")
_RISKY_FIRST = frozenset("=@\t\r+-")
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


@dataclass(frozen=True, slots=True)
class Decoded:
    text: str
    encoding: str
    """Python's name of the encoding the bytes were read in (``utf-8-sig`` when a BOM led)."""


@dataclass(frozen=True, slots=True)
class TableRow:
    number: int
    """The row's number as a spreadsheet shows it: the header is row 1."""
    cells: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Table:
    encoding: str
    delimiter: str
    header: tuple[str, ...]
    text: str

    def count_rows(self) -> int:
        """How many rows ``rows()`` yields, without building them."""
        reader = csv.reader(io.StringIO(self.text), delimiter=self.delimiter)
        next(reader, None)
        return sum(1 for cells in reader if any(cell.strip() for cell in cells))

    def rows(self) -> Iterator[TableRow]:
        """Every non-blank data row, cells stripped, padded or cut to the header's width."""
        reader = csv.reader(io.StringIO(self.text), delimiter=self.delimiter)
        next(reader, None)
        width = len(self.header)
        for index, cells in enumerate(reader, start=2):
            clean = tuple(cell.strip().replace("\r\n", "\n") for cell in cells)
            if not any(clean):
                continue
            if len(clean) < width:
                clean += ("",) * (width - len(clean))
            yield TableRow(index, clean[:width])


def decode(data: bytes) -> Decoded:
    """Read ``data`` as text: a BOM decides, then strict UTF-8, then charset detection."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return Decoded(data.decode(encoding), encoding)
    try:
        return Decoded(data.decode("utf-8"), "utf-8")
    except UnicodeDecodeError:
        pass
    best = from_bytes(data, cp_isolation=_LEGACY_ENCODINGS).best()
    if best is None:
        raise InvalidInput(
            "the file's encoding could not be recognised",
            fields={"file": "save it as CSV UTF-8, Windows-1251 or GB18030"},
        )
    return Decoded(str(best), best.encoding)


def sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the same, largest number of cells."""
    sample = text[:_SNIFF_CHARS]
    if len(text) > _SNIFF_CHARS and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    best, best_score = ",", (0, 0)
    for delimiter in DELIMITERS:
        widths = [
            len(cells)
            for _, cells in zip(
                range(_SNIFF_LINES),
                csv.reader(io.StringIO(sample), delimiter=delimiter),
                strict=False,
            )
            if any(cell.strip() for cell in cells)
        ]
        if not widths or max(widths) < 2:
            continue
        common = max(set(widths), key=widths.count)
        # Most lines agreeing first, then more columns: a comma inside "1,5" splits only some.
        score = (widths.count(common), common) if common > 1 else (0, 0)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def read_table(data: bytes, *, delimiter: str | None = None) -> Table:
    """Decode ``data`` and split off its header row; an empty file or header is InvalidInput."""
    decoded = decode(data)
    text = decoded.text.lstrip("\ufeff")
    chosen = delimiter or sniff_delimiter(text)
    header = next(csv.reader(io.StringIO(text), delimiter=chosen), None)
    if header is None or not any(cell.strip() for cell in header):
        raise InvalidInput("the file is empty", fields={"file": "needs a header row"})
    return Table(decoded.encoding, chosen, tuple(cell.strip() for cell in header), text)


def csv_lines(rows: Iterable[Sequence[object]], *, delimiter: str = ",") -> str:
    """CSV records quoted Excel's way, each ending in CRLF; formulas are defused."""
    rows = rows if isinstance(rows, Sequence) else list(rows)
    text = _write_csv(rows, delimiter)
    # Exports pass 50,000 rows a second through here: the rows are written as they are, in C,
    # and only when the text shows a cell that may start like a formula is the batch written
    # again cell by cell. Every risky cell starts the text, a line or follows a delimiter
    # (optionally after a quote) with its first two characters unchanged, so the search misses
    # none; a hit inside a quoted cell only costs the slower pass.
    if _risky_cell_start(delimiter).search(text) is None:
        return text
    risky = _RISKY_FIRST
    return _write_csv(
        [
            [safe_cell(c) if c.__class__ is str and c[:1] in risky else c for c in row]
            for row in rows
        ],
        delimiter,
    )


def _write_csv(rows: Iterable[Iterable[object]], delimiter: str) -> str:
    buffer = io.StringIO()
    # The writer writes None as an empty cell, as safe_cell does.
    csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue()


@lru_cache(maxsize=8)
def _risky_cell_start(delimiter: str) -> re.Pattern[str]:
    """Where a cell of a written CSV text may start as ``_FORMULA`` reads a formula."""
    # A cell starting with CR is always quoted; an unquoted CR ends a line.
    start = f"(?:^|{re.escape(delimiter)})"
    return re.compile(start + '(?:"?(?:[=@\\t]|[+-](?![\\d (]))|"\\r)', re.M)


def safe_cell(value: object) -> object:
    """A cell a spreadsheet will not run: text that reads as a formula gets a leading quote."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in _RISKY_FIRST and _FORMULA.match(value):
        return "'" + value
    return value
