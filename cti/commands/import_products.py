"""``cti import products FILE``: add or update the product catalogue from a price list's CSV.

Rows are matched by SKU. Each bad row is printed on stdout (its number, what is wrong and in
which column) and kept out; the good ones are saved in one transaction (none with
``--dry-run``). A progress bar shows on stderr when it is a terminal; the last line printed is
one JSON object with the counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from contextlib import ExitStack
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from crmlite.db.engine import create_engine, session_factory
from crmlite.domain.errors import DomainError, InvalidInput
from crmlite.domain.money import parse_currency
from crmlite.domain.principal import SYSTEM
from crmlite.services.products import ProductImportResult, ProductService


async def _import(
    url: str, args: argparse.Namespace, progress: Progress | None
) -> ProductImportResult:
    task = progress.add_task("products", total=None) if progress else None

    async def show(state: ProductImportResult) -> None:
        if progress is not None and task is not None:
            progress.update(task, total=state.rows_total, completed=state.rows_done)

    data = await asyncio.to_thread(Path(args.file).read_bytes)
    engine = create_engine(url)
    try:
        async with session_factory(engine).begin() as session:
            result = await ProductService(session, SYSTEM).import_csv(
                data,
                default_currency=parse_currency(args.currency),
                dry_run=args.dry_run,
                delimiter=args.delimiter,
                on_progress=show,
            )
            if args.dry_run:
                await session.rollback()
            return result
    finally:
        await engine.dispose()


def run(args: argparse.Namespace, database_url: str) -> int:
    with ExitStack() as stack:
        progress = None
        if sys.stderr.isatty():
            progress = stack.enter_context(
                Progress(
                    TextColumn("import products"),
                    BarColumn(),
                    MofNCompleteColumn(),
                    console=Console(stderr=True),
                    transient=True,
                )
            )
        try:
            result = asyncio.run(_import(database_url, args, progress))
        except OSError as err:
            print(f"cti: {err}", file=sys.stderr)
            return 1
        except DomainError as err:
            fields = err.fields if isinstance(err, InvalidInput) else {}
            detail = "; ".join(f"{k}: {v}" for k, v in fields.items())
            print(f"cti: {err.message}" + (f" ({detail})" if detail else ""), file=sys.stderr)
            return 1
    for error in result.row_errors:
        columns = error["fields"]
        where = (
            "; ".join(f"{k}: {v}" for k, v in columns.items()) if isinstance(columns, dict) else ""
        )
        print(f"row {error['row']}: error: {error['message']}" + (f" ({where})" if where else ""))
    summary = {"kind": "products", "file": args.file, "dry_run": args.dry_run, **result.as_json()}
    print(json.dumps(summary, ensure_ascii=False))
    return 0
