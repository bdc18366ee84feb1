"""Quote numbers per year (Q-2026-0001), given out once each even when requests race.

One counter row per year is bumped in place: ``UPDATE ... SET last = last + 1 RETURNING last``
takes the row's write lock, so on PostgreSQL a concurrent transaction waits and then reads the
committed value, and on SQLite the database's single writer does the same. The row is made with
``INSERT ... ON CONFLICT DO NOTHING`` first, so the first quote of a year cannot race either.
The unique (number, version) constraint on quotes is the net under it.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.quote_models import QuoteCounter
from crmlite.domain.quotes import quote_number


async def next_quote_number(session: AsyncSession, year: int) -> str:
    """Take the next number of ``year`` inside the session's transaction."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert(QuoteCounter)
        .values(year=year, last=0)
        .on_conflict_do_nothing(index_elements=["year"])
    )
    sequence = await session.scalar(
        update(QuoteCounter)
        .where(QuoteCounter.year == year)
        .values(last=QuoteCounter.last + 1)
        .returning(QuoteCounter.last)
    )
    if sequence is None:  # pragma: no cover - the row was inserted just above
        raise RuntimeError(f"no quote counter for {year}")
    return quote_number(year, sequence)
