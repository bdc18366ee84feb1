"""Board totals without one hot row: Unsorted's call-made deals spread over slots (PostgreSQL)."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crmlite.db.board_totals import rebuild_board_totals
from crmlite.db.models import BoardTotal
from crmlite.domain.principal import SYSTEM
from crmlite.domain.stages import DealSource
from crmlite.services.deals import DealService


async def _totals(sessions: async_sessionmaker[AsyncSession]) -> list[tuple[int, int, str, int]]:
    async with sessions() as session:
        rows = await session.execute(
            select(
                BoardTotal.stage_id,
                BoardTotal.owner_key,
                BoardTotal.currency,
                func.sum(BoardTotal.deals),
                func.sum(BoardTotal.cents),
            )
            .group_by(BoardTotal.stage_id, BoardTotal.owner_key, BoardTotal.currency)
            .order_by(BoardTotal.stage_id, BoardTotal.owner_key, BoardTotal.currency)
        )
        return [tuple(row) for row in rows if row[3]]  # type: ignore[misc]


async def test_concurrent_unsorted_deals_are_counted_once_each_across_slots(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async def make(n: int) -> None:
        async with sessions.begin() as session:
            await DealService(session, SYSTEM).create(
                f"Call {n}", amount="10.50", source=DealSource.CALL
            )

    await asyncio.gather(*(make(n) for n in range(40)))
    kept = await _totals(sessions)
    assert [(row[3], row[4]) for row in kept] == [(40, 42_000)]
    async with sessions() as session:
        rows = await session.scalar(select(func.count()).select_from(BoardTotal))
    # PostgreSQL spreads the one (Unsorted, nobody, RUB) key over slots; SQLite keeps one row.
    assert (rows or 0) > 1 if engine.dialect.name == "postgresql" else rows == 1

    async with engine.begin() as connection:
        await rebuild_board_totals(connection)
    assert await _totals(sessions) == kept
