"""Rows of an imported table read into records, a large file's in a worker process.

Reading a row (``crmlite.domain.import_rows``: phones through phonenumbers, amounts, dates) is a
third of an import's work and needs nothing of the database, while matching and writing a batch
needs the importer's in-memory state and the transaction. A large file's batches are therefore
read ahead in one worker process while the batches before them are matched and written: the
reading is a pure function of the row, so the records are the ones the loop would read itself.
The worker also reads each contact's name as the duplicate check does (transliterated, folded,
its blocking keys), the costliest part of indexing it, and the loop keeps those readings.
A small file (or a machine that cannot start the worker) is read in the loop.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor
from itertools import islice
from typing import Any, cast

from crmlite.domain.duplicates import NameReading, PlainReading, read_name, remember_reading
from crmlite.domain.import_fields import ImportKind
from crmlite.domain.import_rows import CellError, ContactRecord, read_contact, read_deal
from crmlite.domain.phones import NormalizedPhone, PhoneKind, PhoneRules
from crmlite.domain.tabular import TableRow

# Below this many rows the worker's start (about a second of its own CPU) and the handing over
# of rows cost more than the loop gains.
WORKER_MIN_ROWS = 20_000
# Batches read ahead of the one being written: enough to keep the worker busy, few in memory.
_AHEAD = 2

Cells = tuple[int, tuple[str, ...]]
Read = tuple[TableRow, object]


def reader_of(kind: ImportKind) -> Callable[..., object]:
    return read_contact if kind is ImportKind.CONTACTS else read_deal


# What crosses from the worker: plain tuples and strings, which unpickle several times faster
# than the records' dataclasses (a fifth of a row's cost in the loop otherwise).
PlainRow = tuple[object, ...]
Readings = list[tuple[str, str | None, PlainReading]]


def read_batch(
    kind: ImportKind,
    header: tuple[str, ...],
    mapping: Sequence[str | None],
    rules: PhoneRules,
    rows: Sequence[Cells],
) -> tuple[list[PlainRow], Readings]:
    """Each row as its kind's record or its errors, and how the duplicate check reads each
    contact's name, as plain data (run in the worker)."""
    read = reader_of(kind)
    results = [read(TableRow(number, cells), header, mapping, rules) for number, cells in rows]
    readings = [
        (r.name, r.company, read_name(r.name, r.company).as_plain())
        for r in results
        if isinstance(r, ContactRecord)
    ]
    return [_plain(result) for result in results], readings


def _plain(result: object) -> PlainRow:
    if isinstance(result, ContactRecord):
        phones = tuple((p.raw, p.normalized, p.kind.value) for p in result.phones)
        return ("contact", result.name, result.company, phones, result.emails, result.owner,
                result.key)  # fmt: skip
    if isinstance(result, list):
        return ("errors", *((e.column, e.reason) for e in cast(list[CellError], result)))
    return ("record", result)


def _unplain(plain: PlainRow) -> object:
    if plain[0] == "contact":
        _, name, company, phones, emails, owner, key = plain
        return ContactRecord(
            cast(str, name),
            cast(str | None, company),
            tuple(
                NormalizedPhone(raw, normalized, PhoneKind(kind))
                for raw, normalized, kind in cast(tuple[tuple[str, str, str], ...], phones)
            ),
            cast(tuple[str, ...], emails),
            cast(str | None, owner),
            cast(str, key),
        )
    if plain[0] == "errors":
        return [CellError(column, reason) for column, reason in cast(Any, plain[1:])]
    return plain[1]


def use_worker(rows: int, choice: bool | None) -> bool:
    """Read in a worker when asked, or by default when the file is large and a second CPU exists."""
    if choice is not None:
        return choice
    return rows >= WORKER_MIN_ROWS and (os.cpu_count() or 1) > 1


async def read_batches(
    rows: Iterable[TableRow],
    batch_size: int,
    kind: ImportKind,
    header: tuple[str, ...],
    mapping: Sequence[str | None],
    rules: PhoneRules,
    *,
    worker: bool,
) -> AsyncGenerator[list[Read]]:
    """Batches of (row, record or errors), in the file's order."""
    chunks = _chunks(iter(rows), batch_size)
    if not worker:
        read = reader_of(kind)
        for chunk in chunks:
            yield [(row, read(row, header, mapping, rules)) for row in chunk]
        return
    # "spawn": the loop's process holds threads (the SQLite driver's), which fork would copy
    # mid-flight.
    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    try:
        async for batch in _read_ahead(pool, chunks, kind, header, mapping, rules):
            yield batch
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


async def _read_ahead(
    pool: Executor,
    chunks: Iterator[list[TableRow]],
    kind: ImportKind,
    header: tuple[str, ...],
    mapping: Sequence[str | None],
    rules: PhoneRules,
) -> AsyncIterator[list[Read]]:
    loop = asyncio.get_running_loop()
    ahead: deque[tuple[list[TableRow], asyncio.Future[tuple[list[PlainRow], Readings]]]] = deque()

    def submit() -> bool:
        chunk = next(chunks, None)
        if chunk is None:
            return False
        cells = [(row.number, row.cells) for row in chunk]
        ahead.append(
            (chunk, loop.run_in_executor(pool, read_batch, kind, header, mapping, rules, cells))
        )
        return True

    try:
        while len(ahead) < _AHEAD and submit():
            pass
        while ahead:
            chunk, future = ahead.popleft()
            results, readings = await future
            submit()
            for name, company, reading in readings:
                remember_reading(name, company, NameReading.from_plain(reading))
            yield [(row, _unplain(plain)) for row, plain in zip(chunk, results, strict=True)]
    finally:
        for _, future in ahead:
            future.cancel()


def _chunks(rows: Iterator[TableRow], size: int) -> Iterator[list[TableRow]]:
    while chunk := list(islice(rows, size)):
        yield chunk
