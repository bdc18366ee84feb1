"""A large file's rows are read in a worker process: the import reports and stores what it would
have read in the loop, duplicates included, and still resumes and never creates twice."""

from __future__ import annotations

import random
import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import ContactPhone
from crmlite.domain.import_fields import ImportKind, propose_mapping
from crmlite.domain.import_rows import DealRecord
from crmlite.domain.phones import PhoneRules
from crmlite.domain.tabular import TableRow, read_table
from crmlite.services.import_reading import read_batches
from crmlite.services.import_report import RowReport, RowStatus
from tests.integration.import_support import count_contacts, fixture, import_file

SURNAMES = ["Петров", "Сидоров", "Кузнецов", "Смирнов", "Попов", "Васильев", "Новиков"]
FIRST = ["Иван", "Ivan", "Анна", "Anna", "Олег", "王伟", "Мария"]


def _messy_file(rows: int = 700, seed: int = 5) -> bytes:
    """People typed several ways: repeats by another phone form, look-alikes, bad rows."""
    rng = random.Random(seed)
    lines = ["ФИО;Компания;Телефон;E-mail"]
    people: list[tuple[str, str, str]] = []
    for index in range(rows):
        roll = rng.random()
        if people and roll < 0.2:
            name, firm, digits = rng.choice(people)
            form = rng.choice([f"8 ({digits[:3]}) {digits[3:6]}-{digits[6:]}", f"+7{digits}"])
            lines.append(f"{name};{firm};{form};p{digits}@example.ru")
        elif people and roll < 0.25:
            name, firm, _ = rng.choice(people)
            # The same person retyped: a letter off, another number; the check holds it back.
            lines.append(f"{name[:-1]}а;{firm};+7 916 {index:07d};")
        elif roll < 0.28:
            lines.append(f"Без номера {index};;not a phone;")
        else:
            name = f"{rng.choice(SURNAMES)}{index} {rng.choice(FIRST)}"
            firm = f'"ООО ""Ромашка {index % 40}"""'
            digits = f"9{index:09d}"
            people.append((name, firm, digits))
            form = rng.choice([f"+7 {digits[:3]} {digits[3:]}", f"8{digits}", f"+7{digits}"])
            lines.append(f"{name};{firm};{form};")
    return ("\r\n".join(lines) + "\r\n").encode("cp1251", errors="replace")


def _without_ids(rows: list[RowReport]) -> list[tuple[int, str, str, str]]:
    return [(r.row, r.status.value, r.column, re.sub(r"#\d+", "#", r.reason)) for r in rows]


async def test_a_worker_reads_every_row_as_the_loop_does(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    data = _messy_file()
    _, in_loop = await import_file(sessions, data, dry_run=True, batch_size=100,
                                   read_in_worker=False)  # fmt: skip
    _, in_worker = await import_file(sessions, data, dry_run=True, batch_size=100,
                                     read_in_worker=True)  # fmt: skip
    # A dry run's ids are drawn and rolled back (PostgreSQL's sequence moves on): compare the rest.
    assert _without_ids(in_worker.rows) == _without_ids(in_loop.rows)
    statuses = {r.status for r in in_loop.rows}
    # The file exercises each path: new people, repeats matched by phone, held-back look-alikes.
    assert {RowStatus.CREATED, RowStatus.UPDATED, RowStatus.DUPLICATE, RowStatus.ERROR} <= statuses


async def test_a_worker_run_stores_the_loops_numbers_and_creates_nothing_twice(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    data = _messy_file(rows=400, seed=9)
    first, reports = await import_file(sessions, data, batch_size=64, read_in_worker=True)
    async with sessions() as session:
        created = await count_contacts(session)
        stored = set(await session.scalars(select(ContactPhone.normalized)))
    assert created == first.counts["created"]
    _, dry = await import_file(sessions, data, dry_run=True, batch_size=64, read_in_worker=False)
    # Read in the loop, every row was applied before: its numbers are the ones the worker read.
    assert {r.status for r in dry.rows} <= {RowStatus.UNCHANGED, RowStatus.DUPLICATE,
                                            RowStatus.ERROR}  # fmt: skip
    again, _ = await import_file(sessions, data, batch_size=64, read_in_worker=True)
    async with sessions() as session:
        assert await count_contacts(session) == created
        assert set(await session.scalars(select(ContactPhone.normalized))) == stored
    assert again.counts["created"] == 0
    assert sum(1 for r in reports.rows if r.status is RowStatus.CREATED) == created


async def test_a_worker_reads_deal_rows_as_the_loop_does() -> None:
    table = read_table(fixture("deals_ru_utf8.csv"))
    mapping = propose_mapping(table.header, ImportKind.DEALS)

    async def read(worker: bool) -> list[tuple[TableRow, object]]:
        batches = read_batches(table.rows(), 2, ImportKind.DEALS, table.header, mapping,
                               PhoneRules(), worker=worker)  # fmt: skip
        return [pair async for batch in batches for pair in batch]

    in_loop = await read(worker=False)
    assert await read(worker=True) == in_loop
    assert any(isinstance(record, DealRecord) for _, record in in_loop)
