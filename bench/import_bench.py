"""Import and export bench: 100,000 contacts with 20% duplicates, on SQLite and PostgreSQL.

    .venv/bin/python bench/import_bench.py           # 100,000 rows
    .venv/bin/python bench/import_bench.py --quick   # 10,000 rows, well under a minute
    .venv/bin/python bench/import_bench.py --postgres postgresql+asyncpg://postgres@127.0.0.1/postgres

Builds a Windows-1251, ";"-separated CSV as a Russian Excel saves it: one person in five repeats
an earlier one with the number typed another way (8 (903) ..., +7 903 ..., 8903...) and a
second number or an email added, so the run matches, updates and creates with the duplicate
check on. Times ``cti import``'s own path (``run_import``: decode, map, read, match, write in
batches) into a fresh database, then the contacts export (CSV and XLSX) of everything imported.
PostgreSQL runs when ``--postgres`` or CTI_TEST_POSTGRES_URL gives a server: the bench makes a
temporary database there and drops it. The last line is one JSON object with the figures and the
targets they are held to.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from openpyxl import Workbook
from sqlalchemy import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.dataset import phone_of, typed_forms
from crmlite.db.engine import create_engine, session_factory
from crmlite.db.migrate import upgrade
from crmlite.domain.import_fields import ImportKind
from crmlite.domain.phones import PhoneRules
from crmlite.domain.principal import SYSTEM
from crmlite.domain.tabular import csv_lines
from crmlite.services.exports import contacts_export, stream_rows
from crmlite.services.import_contacts import ContactImporter
from crmlite.services.imports import ImportOptions, run_import

TARGETS = {"import_rows_per_s": 5_000, "export_rows_per_s": 50_000}
FIRST = ["Иван", "Пётр", "Анна", "Мария", "Олег", "Зоя", "Денис", "Ольга", "Chen", "Sara"]
SYLLABLES = ["ба", "ко", "ми", "ту", "ре", "ла", "сни", "гор", "вед", "ших", "пан", "лев", "дум",
             "кра", "жел", "фо", "цы", "бор", "зан", "уст"]  # fmt: skip
RULES = PhoneRules(default_region="RU")


def surname(index: int) -> str:
    """A made-up surname of four syllables; scattered, so neighbouring rows do not look alike."""
    code = (index * 7919 + 13) % len(SYLLABLES) ** 4
    parts = [SYLLABLES[(code // len(SYLLABLES) ** k) % len(SYLLABLES)] for k in range(4)]
    return "".join(parts).capitalize() + "ов"


def company(index: int) -> str:
    return "".join(
        SYLLABLES[(index * 31 // len(SYLLABLES) ** k) % len(SYLLABLES)] for k in range(3)
    )


def make_file(rows: int, seed: int = 11) -> tuple[bytes, int]:
    """The CSV bytes and how many distinct people they hold."""
    rng = random.Random(seed)
    lines = ["ФИО;Компания;Телефон;E-mail;Ответственный"]
    people: list[tuple[str, str, int]] = []
    for index in range(rows):
        if people and rng.random() < 0.2:
            name, firm_cell, number = people[rng.randrange(len(people))]
            form = rng.choice(typed_forms(phone_of(number))[1:])
            extra = rng.choice(["", f", {phone_of(number + rows)}", ""])
            email = f"p{number}@example.ru" if rng.random() < 0.5 else ""
            lines.append(f"{name};{firm_cell};{form}{extra};{email};")
            continue
        name = f"{surname(index)} {rng.choice(FIRST)}"
        firm = company(rng.randrange(500)).capitalize()
        form = rng.choice(typed_forms(phone_of(index)))
        people.append((name, f'"ООО ""{firm}"""', index))
        lines.append(f"{name};{people[-1][1]};{form};;")
    return ("\r\n".join(lines) + "\r\n").encode("cp1251", errors="replace"), len(people)


async def bench_one(url: str, data: bytes, people: int, rows: int) -> dict[str, Any]:
    engine = create_engine(url)
    try:
        await upgrade(engine)
        sessions = session_factory(engine)
        options = ImportOptions(kind=ImportKind.CONTACTS, file_name="bench.csv", batch_size=1000)
        began, cpu_began, children_began = time.perf_counter(), time.process_time(), _children()
        progress = await run_import(sessions, SYSTEM, data, options, ContactImporter(SYSTEM), RULES)
        seconds = time.perf_counter() - began
        # CPU of this process (the loop and the SQLite driver's thread), and of the worker that
        # reads rows ahead (counted once the import has joined it): what the work costs here,
        # apart from waits for a busy machine or the database server.
        cpu = time.process_time() - cpu_began
        worker_cpu = _children() - children_began
        counts = dict(progress.counts)
        # Every person is created, or held back as a likely duplicate of a look-alike (a similar
        # made-up name at the same company); a repeat matches its person by phone.
        if counts["error"] or counts["created"] + counts["duplicate"] < people * 0.99:
            raise SystemExit(f"{people} people in the file, but the import made {counts}")
        export_cpu_began = time.process_time()
        exported, csv_seconds = await _export_csv(sessions)
        export_cpu = time.process_time() - export_cpu_began
        xlsx_rows, xlsx_seconds = await _export_xlsx(sessions)
        if exported != counts["created"] or xlsx_rows != exported:
            raise SystemExit(f"export wrote {exported} CSV / {xlsx_rows} XLSX rows of {counts}")
        return {
            "rows": rows,
            "contacts": people,
            "counts": counts,
            "import_s": round(seconds, 3),
            "import_rows_per_s": round(rows / seconds),
            "import_cpu_s": round(cpu, 3),
            "import_rows_per_cpu_s": round(rows / cpu),
            "import_worker_cpu_s": round(worker_cpu, 3),
            "import_rows_per_total_cpu_s": round(rows / (cpu + worker_cpu)),
            "export_rows": exported,
            "export_csv_s": round(csv_seconds, 3),
            "export_rows_per_s": round(exported / csv_seconds),
            # The loop's and SQLite's thread's CPU (PostgreSQL's server works apart).
            "export_rows_per_cpu_s": round(exported / export_cpu),
            "export_xlsx_rows_per_s": round(xlsx_rows / xlsx_seconds),
        }
    finally:
        await engine.dispose()


def _children() -> float:
    times = os.times()
    return times.children_user + times.children_system


async def _export_csv(sessions: Any) -> tuple[int, float]:
    """Every contact through the export's query and CSV writer, as the API streams them."""
    began = time.perf_counter()
    count = 0
    size = 0
    async with sessions() as session:
        export = contacts_export(session, SYSTEM, RULES, text_times=True)
        async for rows in stream_rows(session, export):
            size += len(csv_lines(rows).encode())
            count += len(rows)
    return count, time.perf_counter() - began


async def _export_xlsx(sessions: Any) -> tuple[int, float]:
    began = time.perf_counter()
    count = 0
    book = Workbook(write_only=True)
    sheet = book.create_sheet("contacts")
    async with sessions() as session:
        export = contacts_export(session, SYSTEM, RULES)
        async for rows in stream_rows(session, export):
            for row in rows:
                sheet.append([c.replace(tzinfo=None) if hasattr(c, "tzinfo") else c for c in row])
            count += len(rows)
    book.save(io.BytesIO())
    return count, time.perf_counter() - began


async def _with_postgres(server_url: str, data: bytes, people: int, rows: int) -> dict[str, Any]:
    url = make_url(server_url)
    name = f"cti_import_bench_{uuid.uuid4().hex[:8]}"
    dsn = url.set(drivername="postgresql", database="postgres").render_as_string(
        hide_password=False
    )
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            return await bench_one(
                url.set(database=name).render_as_string(hide_password=False), data, people, rows
            )
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _print(label: str, figures: dict[str, Any]) -> None:
    print(
        f"{label:<11} import {figures['rows']:,} rows in {figures['import_s']:.2f} s = "
        f"{figures['import_rows_per_s']:,} rows/s ({figures['import_rows_per_cpu_s']:,} per CPU "
        f"second of the loop, {figures['import_rows_per_total_cpu_s']:,} with the reading "
        f"worker's; {figures['counts']}); export "
        f"{figures['export_rows_per_s']:,} rows/s CSV "
        f"({figures['export_rows_per_cpu_s']:,} per CPU second), "
        f"{figures['export_xlsx_rows_per_s']:,} XLSX"
    )


async def run(rows: int, postgres: str | None) -> dict[str, Any]:
    data, people = make_file(rows)
    print(f"file: {len(data):,} bytes, {rows:,} rows, {people:,} people, cp1251, ';'")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="cti-import-bench-") as folder:
        url = f"sqlite+aiosqlite:///{folder}/bench.db"
        results["sqlite"] = await bench_one(url, data, people, rows)
        _print("sqlite", results["sqlite"])
    if postgres:
        results["postgresql"] = await _with_postgres(postgres, data, people, rows)
        _print("postgresql", results["postgresql"])
    return results


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="10,000 rows instead of 100,000")
    parser.add_argument("--rows", type=int, help="rows in the file")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("CTI_TEST_POSTGRES_URL"),
        help="a PostgreSQL server URL (default: CTI_TEST_POSTGRES_URL); none: SQLite only",
    )
    args = parser.parse_args()
    rows = args.rows or (10_000 if args.quick else 100_000)
    load_before = os.getloadavg()[0]
    figures = asyncio.run(run(rows, args.postgres))
    met = {
        f"{backend}.{name}": figures[backend][name] >= target
        for backend in figures
        for name, target in TARGETS.items()
    }
    for name, ok in met.items():
        backend, figure = name.split(".")
        print(f"{name}: {figures[backend][figure]:,} (target >= {TARGETS[figure]:,}) "
              f"{'ok' if ok else 'MISSED'}")  # fmt: skip
    print(
        json.dumps(
            {
                "bench": "import",
                "quick": args.quick,
                "figures": figures,
                "targets": TARGETS,
                "met": met,
                "cores": os.cpu_count(),
                "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            },
            ensure_ascii=False,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
