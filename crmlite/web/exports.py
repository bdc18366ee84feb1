"""Lists answered as files: CSV (UTF-8 with a BOM, so Excel opens it right) or XLSX, streamed.

A list route asks ``export_format(request, query.format)``; when a file is wanted it answers
``await export_response(request, session, export)``. CSV goes out partition by partition as the
cursor yields. XLSX is written by openpyxl's write-only workbook (rows go to its temporary file
as they come, in a worker thread) and then sent in chunks: memory stays flat either way.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import tempfile
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from aiohttp import web
from openpyxl import Workbook
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.domain.tabular import csv_lines, safe_cell
from crmlite.services.exports import Export, stream_rows

ExportFormat = Literal["json", "csv", "xlsx"]
CSV_TYPE = "text/csv"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# What a list route answers as a file (``files=`` of its declaration documents them).
FILE_TYPES = (CSV_TYPE, XLSX_TYPE)
_CHUNK = 256 * 1024


def export_format(
    request: web.Request, asked: ExportFormat | None
) -> Literal["csv", "xlsx"] | None:
    """The file format wanted by ``?format=`` or, failing that, the Accept header."""
    if asked is not None:
        return None if asked == "json" else asked
    accept = request.headers.get("Accept", "")
    if XLSX_TYPE in accept:
        return "xlsx"
    if CSV_TYPE in accept:
        return "csv"
    return None


async def export_response(
    request: web.Request,
    session: AsyncSession,
    export: Export,
    file_format: Literal["csv", "xlsx"],
) -> web.StreamResponse:
    """Stream ``export`` to the client as a file download."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M")
    response = web.StreamResponse(
        headers={
            "Content-Disposition": f'attachment; filename="{export.name}-{stamp}.{file_format}"',
            "Cache-Control": "no-store",
        }
    )
    if file_format == "csv":
        response.content_type = CSV_TYPE
        response.charset = "utf-8"
        await response.prepare(request)
        await response.write(("\ufeff" + csv_lines([export.columns])).encode())
        async for rows in stream_rows(session, export):
            await response.write(csv_lines(rows).encode())
        await response.write_eof()
        return response
    with tempfile.TemporaryDirectory(prefix="cti-export-") as folder:
        path = Path(folder) / "export.xlsx"
        book = Workbook(write_only=True)
        sheet = book.create_sheet(export.name)
        sheet.append(list(export.columns))
        async for rows in stream_rows(session, export):
            await asyncio.to_thread(_append, sheet, rows)
        await asyncio.to_thread(book.save, path)
        response.content_type = XLSX_TYPE
        response.content_length = path.stat().st_size
        await response.prepare(request)
        with path.open("rb") as file:
            while chunk := await asyncio.to_thread(file.read, _CHUNK):
                await response.write(chunk)
    await response.write_eof()
    return response


def _append(sheet: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    for row in rows:
        sheet.append([_xlsx_cell(value) for value in row])


def _xlsx_cell(value: object) -> object:
    """Cells as Excel takes them: naive UTC datetimes, exact amounts as numbers, text defused."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, Decimal):
        return float(value) if abs(value) < Decimal(10**15) else str(value)
    return safe_cell(value)
