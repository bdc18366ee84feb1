"""The row report of an import: what happened to each row, and why when it was not imported."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from crmlite.domain.tabular import csv_lines


class RowStatus(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    """Already imported (the same row before), or matched with nothing new to add."""
    DUPLICATE = "duplicate"
    """A likely duplicate of an existing contact: not imported unless the run merges."""
    MERGED = "merged"
    ERROR = "error"


COUNTED = tuple(status.value for status in RowStatus)
REPORT_HEADER = ("row", "status", "id", "column", "reason")


@dataclass(frozen=True, slots=True)
class RowReport:
    row: int
    status: RowStatus
    entity_id: int | None = None
    column: str = ""
    reason: str = ""

    def cells(self) -> tuple[object, ...]:
        return (self.row, self.status.value, self.entity_id, self.column, self.reason)

    def line(self) -> str:
        """One human line: ``row 7: error [Phone] not a phone number: 'abc'``."""
        where = f" [{self.column}]" if self.column else ""
        ident = f" #{self.entity_id}" if self.entity_id is not None else ""
        reason = f" {self.reason}" if self.reason else ""
        return f"row {self.row}: {self.status.value}{ident}{where}{reason}"


def report_csv(reports: Iterable[RowReport], *, header: bool = False) -> str:
    """Report rows as CSV (with the header row first when asked)."""
    rows: list[tuple[object, ...]] = [REPORT_HEADER] if header else []
    rows.extend(report.cells() for report in reports)
    return csv_lines(rows)
