"""Import contacts or deals from a table: batches in their own transactions, resumable, reported.

A run reads the file (``crmlite.domain.tabular``), reads each row into a record
(``crmlite.domain.import_rows``) and hands batches to the kind's applier
(``import_contacts``, ``import_deals``). Each batch commits together with the run's
``rows_done``, so a run that stops (a crash, Ctrl-C, a lost connection) is resumed by importing the
same file again (same sha256): it starts after the last committed batch. Rows already applied are
found by their content key in ``imported_rows``, so a second run of a finished file creates
nothing twice. A dry run does everything in one transaction and rolls it back.
"""

from __future__ import annotations

import dataclasses
import gc
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import ImportRun
from crmlite.domain.clock import Clock
from crmlite.domain.errors import NotFound
from crmlite.domain.import_fields import ImportKind, check_mapping, propose_mapping
from crmlite.domain.phones import PhoneRules
from crmlite.domain.principal import Principal
from crmlite.domain.tabular import Table, TableRow, read_table
from crmlite.services.common import utc_now
from crmlite.services.import_reading import read_batches, reader_of, use_worker
from crmlite.services.import_report import COUNTED, RowReport, RowStatus

DEFAULT_BATCH = 500
PREVIEW_ROWS = 10


@dataclass(frozen=True, slots=True)
class ImportOptions:
    kind: ImportKind
    file_name: str
    mapping: Sequence[str | None] | None = None
    """One field (or None) per column; None: the mapping proposed from the header."""
    delimiter: str | None = None
    dry_run: bool = False
    merge: bool = False
    owner_id: int | None = None
    batch_size: int = DEFAULT_BATCH
    read_in_worker: bool | None = None
    """Read rows in a worker process (True), in the loop (False), or by the file's size (None)."""


@dataclass(slots=True)
class ImportProgress:
    run_id: int | None
    rows_total: int
    rows_done: int
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNTED, 0))
    resumed_from: int = 0
    status: str = "running"

    def as_json(self) -> dict[str, object]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "rows_total": self.rows_total,
            "rows_done": self.rows_done,
            "resumed_from": self.resumed_from,
            **self.counts,
        }


@dataclass(frozen=True, slots=True)
class PreviewRow:
    number: int
    cells: tuple[str, ...]
    errors: tuple[tuple[str, str], ...]
    """(column, reason) for each problem; empty when the row would import."""


@dataclass(frozen=True, slots=True)
class Preview:
    encoding: str
    delimiter: str
    header: tuple[str, ...]
    mapping: list[str | None]
    rows_total: int
    rows: list[PreviewRow]


class BatchApplier(Protocol):
    """Applies one kind's rows inside the caller's transaction."""

    async def load(self, session: AsyncSession, columns: dict[str, str]) -> None: ...

    async def apply(
        self, session: AsyncSession, rows: Sequence[tuple[TableRow, object]]
    ) -> list[RowReport]: ...


OnBatch = Callable[[ImportProgress, Sequence[RowReport]], Awaitable[None]]


def file_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _mapping(table: Table, options: ImportOptions) -> list[str | None]:
    mapping = (
        list(options.mapping)
        if options.mapping is not None
        else propose_mapping(table.header, options.kind)
    )
    check_mapping(mapping, table.header, options.kind)
    return mapping


def preview(
    data: bytes,
    kind: ImportKind,
    rules: PhoneRules,
    *,
    mapping: Sequence[str | None] | None = None,
    delimiter: str | None = None,
    rows: int = PREVIEW_ROWS,
) -> Preview:
    """The file as it would be read: encoding, delimiter, the mapping, the first rows checked."""
    table = read_table(data, delimiter=delimiter)
    chosen = list(mapping) if mapping is not None else propose_mapping(table.header, kind)
    read = reader_of(kind)
    shown: list[PreviewRow] = []
    for row in table.rows():
        if len(shown) < rows:
            result = read(row, table.header, chosen, rules)
            errors = tuple((e.column, e.reason) for e in result) if isinstance(result, list) else ()
            shown.append(PreviewRow(row.number, row.cells, errors))
        else:
            break
    total = table.count_rows()
    return Preview(table.encoding, table.delimiter, table.header, chosen, total, shown)


async def run_import(
    sessions: async_sessionmaker[AsyncSession],
    principal: Principal,
    data: bytes,
    options: ImportOptions,
    applier: BatchApplier,
    rules: PhoneRules,
    *,
    on_batch: OnBatch | None = None,
    clock: Clock = utc_now,
    run_id: int | None = None,
) -> ImportProgress:
    """Import every row of ``data``; resumes an unfinished run of the same file."""
    table = read_table(data, delimiter=options.delimiter)
    mapping = _mapping(table, options)
    total = table.count_rows()
    progress = ImportProgress(run_id=None, rows_total=total, rows_done=0)
    if not options.dry_run:
        await _open_run(sessions, principal, data, options, progress, clock, run_id)
    units = _Units(sessions, options.dry_run)
    try:
        async with units.batch() as session:
            columns = {f: c for c, f in zip(table.header, mapping, strict=True) if f}
            await applier.load(session, columns)
        worker = use_worker(total - progress.resumed_from, options.read_in_worker)
        batches = read_batches(
            islice(table.rows(), progress.resumed_from, None),
            options.batch_size,
            options.kind,
            table.header,
            mapping,
            rules,
            worker=worker,
        )
        async with aclosing(batches), _collector_skips_what_is_built():
            async for batch in batches:
                gc.freeze()
                await _commit_batch(units, applier, batch, progress, on_batch)
    except Exception:
        if progress.run_id is not None:
            await fail_run(sessions, progress.run_id, clock)
        raise
    finally:
        await units.close()
    progress.status = "done"
    if progress.run_id is not None:
        async with sessions.begin() as session:
            run = await session.get_one(ImportRun, progress.run_id)
            run.status, run.finished_at = "done", clock()
    return progress


@asynccontextmanager
async def _collector_skips_what_is_built() -> AsyncIterator[None]:
    """Let the cycle collector look only at what the current batch makes.

    The importer's in-memory base (every contact, its numbers, the duplicate index) grows to a
    few hundred thousand objects, and each full collection walked all of them: a third of an
    import's CPU. Before each batch everything alive is frozen (``gc.freeze``), so collections
    see only newer objects; reference counting still frees whatever dies meanwhile, and the
    few cycles that die frozen are collected once the import unfreezes them at its end.
    """
    try:
        yield
    finally:
        gc.unfreeze()


class _Units:
    """Each batch's unit of work: its own transaction, or for a dry run one shared, rolled back."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], dry_run: bool) -> None:
        self.sessions = sessions
        self.shared = sessions() if dry_run else None

    @asynccontextmanager
    async def batch(self) -> AsyncIterator[AsyncSession]:
        if self.shared is None:
            async with self.sessions.begin() as session:
                yield session
        else:
            yield self.shared
            await self.shared.flush()

    async def close(self) -> None:
        if self.shared is not None:
            await self.shared.rollback()
            await self.shared.close()


async def _commit_batch(
    units: _Units,
    applier: BatchApplier,
    batch: Sequence[tuple[TableRow, object]],
    progress: ImportProgress,
    on_batch: OnBatch | None,
) -> None:
    async with units.batch() as session:
        reports = await applier.apply(session, batch)
        if units.shared is not None:
            # A dry run's new ids are rolled back: they would name nothing.
            reports = [
                dataclasses.replace(r, entity_id=None) if r.status is RowStatus.CREATED else r
                for r in reports
            ]
        for report in reports:
            progress.counts[report.status.value] += 1
        progress.rows_done += len(batch)
        if progress.run_id is not None:
            run = await session.get_one(ImportRun, progress.run_id)
            run.rows_done, run.counts = progress.rows_done, dict(progress.counts)
    if on_batch is not None:
        await on_batch(progress, reports)


async def _open_run(
    sessions: async_sessionmaker[AsyncSession],
    principal: Principal,
    data: bytes,
    options: ImportOptions,
    progress: ImportProgress,
    clock: Clock,
    run_id: int | None,
) -> None:
    """Resume the unfinished run of this file, or record a new one."""
    digest = file_digest(data)
    async with sessions.begin() as session:
        run = None
        if run_id is not None:
            run = await session.get(ImportRun, run_id)
        if run is None:
            run = await session.scalar(
                select(ImportRun)
                .where(
                    ImportRun.kind == options.kind.value,
                    ImportRun.file_sha256 == digest,
                    ImportRun.status.in_(("running", "failed")),
                )
                .order_by(ImportRun.id.desc())
                .limit(1)
            )
        if run is not None and run.rows_done:
            progress.resumed_from = progress.rows_done = run.rows_done
            progress.counts.update(
                {k: int(str(v)) for k, v in run.counts.items() if k in progress.counts}
            )
        if run is None:
            run = ImportRun(
                kind=options.kind.value,
                file_name=options.file_name[:255],
                file_sha256=digest,
                rows_done=0,
                counts=dict(progress.counts),
                started_by_id=principal.user_id,
                started_at=clock(),
            )
            session.add(run)
        run.status, run.rows_total = "running", progress.rows_total
        await session.flush()
        progress.run_id = run.id


async def fail_run(sessions: async_sessionmaker[AsyncSession], run_id: int, clock: Clock) -> None:
    """Mark a run that stopped on an error; importing the same file again resumes it."""
    async with sessions.begin() as session:
        run = await session.get(ImportRun, run_id)
        if run is not None and run.status == "running":
            run.status, run.finished_at = "failed", clock()


async def get_run(session: AsyncSession, principal: Principal, run_id: int) -> ImportRun:
    """One run; sellers see only their own."""
    run = await session.get(ImportRun, run_id)
    if run is None or not (principal.sees_everything or run.started_by_id == principal.user_id):
        raise NotFound(f"no import {run_id}", details={"run_id": run_id})
    return run
