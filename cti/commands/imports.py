"""``cti import contacts|deals FILE``: import a spreadsheet's CSV, row by row, resumably.

Prints one line per row (created, updated, unchanged, duplicate, merged, error with the column
and the reason) on stdout, or writes them as CSV to ``--report``; shows a progress bar on stderr
when it is a terminal; the last line printed is one JSON object with the counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import IO

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from crmlite.db.engine import create_engine, session_factory
from crmlite.domain.errors import DomainError, InvalidInput
from crmlite.domain.import_fields import ImportKind
from crmlite.domain.phones import PhoneRules
from crmlite.domain.principal import SYSTEM
from crmlite.services import users as users_service
from crmlite.services.import_contacts import ContactImporter
from crmlite.services.import_deals import DealImporter
from crmlite.services.import_report import RowReport, report_csv
from crmlite.services.imports import BatchApplier, ImportOptions, ImportProgress, run_import
from cti.commands import import_products
from cti.settings import load_settings


class _Output:
    """Where the row report goes, and the progress bar beside it."""

    def __init__(self, report: IO[str] | None, progress: Progress | None) -> None:
        self.report = report
        self.progress = progress
        self.task = progress.add_task("import", total=None) if progress else None
        if report is not None:
            report.write(report_csv([], header=True))

    async def batch(self, state: ImportProgress, reports: Sequence[RowReport]) -> None:
        if self.report is not None:
            self.report.write(report_csv(reports))
        else:
            sys.stdout.write("".join(report.line() + "\n" for report in reports))
            sys.stdout.flush()
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, total=state.rows_total, completed=state.rows_done)


async def _import(url: str, args: argparse.Namespace, output: _Output) -> ImportProgress:
    engine = create_engine(url)
    try:
        sessions = session_factory(engine)
        owner_id = None
        if args.owner:
            async with sessions() as db:
                owner_id = (await users_service.find_user_by_login(db, args.owner)).id
        kind = ImportKind(args.kind)
        applier: BatchApplier = (
            ContactImporter(SYSTEM, owner_id=owner_id, merge=args.merge)
            if kind is ImportKind.CONTACTS
            else DealImporter(SYSTEM, owner_id=owner_id)
        )
        options = ImportOptions(
            kind=kind,
            file_name=Path(args.file).name,
            delimiter=args.delimiter,
            dry_run=args.dry_run,
            merge=args.merge,
            owner_id=owner_id,
            batch_size=args.batch,
        )
        data = await asyncio.to_thread(Path(args.file).read_bytes)
        return await run_import(
            sessions, SYSTEM, data, options, applier, args.rules, on_batch=output.batch
        )
    finally:
        await engine.dispose()


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    if args.kind == "products":
        return import_products.run(args, settings.database.url)
    args.rules = PhoneRules(
        default_region=settings.phone.default_region,
        extension_pattern=settings.phone.extension_pattern,
    )
    if args.batch < 1:
        print("cti: --batch must be at least 1", file=sys.stderr)
        return 2
    with ExitStack() as stack:
        report = (
            stack.enter_context(Path(args.report).open("w", encoding="utf-8-sig", newline=""))
            if args.report
            else None
        )
        progress = None
        if sys.stderr.isatty():
            progress = stack.enter_context(
                Progress(
                    TextColumn(f"import {args.kind}"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    TimeRemainingColumn(),
                    console=Console(stderr=True),
                    transient=True,
                )
            )
        try:
            result = asyncio.run(_import(settings.database.url, args, _Output(report, progress)))
        except OSError as err:
            print(f"cti: {err}", file=sys.stderr)
            return 1
        except DomainError as err:
            fields = err.fields if isinstance(err, InvalidInput) else {}
            detail = "; ".join(f"{k}: {v}" for k, v in fields.items())
            print(f"cti: {err.message}" + (f" ({detail})" if detail else ""), file=sys.stderr)
            return 1
    summary = {"kind": args.kind, "file": args.file, "dry_run": args.dry_run, **result.as_json()}
    print(json.dumps(summary, ensure_ascii=False))
    return 0
