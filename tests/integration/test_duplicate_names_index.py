"""The stored-contact duplicate check reads a few rows, not the base, and still sees changes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import delete, event, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crmlite.db.models import Contact
from crmlite.domain.principal import SYSTEM
from crmlite.services.contact_names import ContactNameIndex
from crmlite.services.duplicates import DuplicateService

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
UNRELATED = 400
SYLLABLES = ["ba", "ko", "mi", "tu", "re", "la", "sni", "gor", "ved", "pan"]


def _unrelated_name(index: int) -> str:
    word = "".join(SYLLABLES[(index // 10**k) % 10] for k in range(3))
    return f"{word.capitalize()}son {SYLLABLES[index % 7]}mund"


async def _seed(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    people = [
        {"name": _unrelated_name(i), "company": f"Firm {i}", "created_at": NOW, "updated_at": NOW}
        for i in range(UNRELATED)
    ]
    people += [
        {"name": name, "company": "Romashka", "created_at": NOW, "updated_at": NOW}
        for name in ("Ivan Petrov", "Иван Петров", "Anna Sidorova")
    ]
    async with sessions.begin() as session:
        await session.execute(insert(Contact), people)
    async with sessions() as session:
        rows = await session.execute(select(Contact.id, Contact.name))
        return {name: cid for cid, name in rows}


@contextmanager
def _rows_read(engine: AsyncEngine) -> Iterator[list[tuple[str, Any]]]:
    """Record every SELECT the engine runs, to count afterwards the rows each returns."""
    seen: list[tuple[str, Any]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def _count_rows(engine: AsyncEngine, statements: list[tuple[str, Any]]) -> int:
    total = 0
    async with engine.connect() as conn:
        for statement, parameters in statements:
            result = await conn.exec_driver_sql(statement, parameters)
            total += len(result.fetchall())
    return total


async def _names(
    sessions: async_sessionmaker[AsyncSession], names: ContactNameIndex, contact_id: int
) -> list[str]:
    async with sessions() as session:
        found = await DuplicateService(session, SYSTEM, names).for_contact(contact_id)
    return [item.name for item in found.items]


async def test_a_check_reads_only_the_contacts_it_proposes(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    ids = await _seed(sessions)
    names = ContactNameIndex()
    assert await _names(sessions, names, ids["Ivan Petrov"]) == ["Иван Петров"]
    with _rows_read(engine) as statements:
        assert await _names(sessions, names, ids["Иван Петров"]) == ["Ivan Petrov"]
    # The contact itself, its one look-alike, and the refresh's few recent rows: far from 403.
    assert 0 < await _count_rows(engine, statements) < 20


async def test_the_index_sees_new_renamed_and_deleted_contacts(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _seed(sessions)
    names = ContactNameIndex()
    assert await _names(sessions, names, ids["Ivan Petrov"]) == ["Иван Петров"]
    later = NOW + dt.timedelta(hours=1)
    async with sessions.begin() as session:
        await session.execute(
            update(Contact)
            .where(Contact.id == ids["Anna Sidorova"])
            .values(name="Ivan Petrof", updated_at=later)
        )
        await session.execute(delete(Contact).where(Contact.id == ids["Иван Петров"]))
        await session.execute(
            insert(Contact),
            [{"name": "Ivan Petrovv", "company": "Romashka", "created_at": NOW, "updated_at": NOW}],
        )
    assert sorted(await _names(sessions, names, ids["Ivan Petrov"])) == [
        "Ivan Petrof",
        "Ivan Petrovv",
    ]


async def test_a_rename_stamped_in_the_past_shows_after_the_rebuild(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ids = await _seed(sessions)
    clock = [0.0]
    names = ContactNameIndex(rebuild_after_s=60, monotonic=lambda: clock[0])
    assert await _names(sessions, names, ids["Ivan Petrov"]) == ["Иван Петров"]
    async with sessions.begin() as session:
        # A writer whose clock is an hour behind: the poll cannot see this rename.
        await session.execute(
            update(Contact)
            .where(Contact.id == ids["Anna Sidorova"])
            .values(name="Ivan Petrof", updated_at=NOW - dt.timedelta(hours=1))
        )
    assert await _names(sessions, names, ids["Ivan Petrov"]) == ["Иван Петров"]
    clock[0] = 61.0
    # The check that starts the rebuild answers from the index in use, then the rebuilt one shows.
    assert await _names(sessions, names, ids["Ivan Petrov"]) == ["Иван Петров"]
    await names.settled()
    assert await _names(sessions, names, ids["Ivan Petrov"]) == ["Иван Петров", "Ivan Petrof"]
