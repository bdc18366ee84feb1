"""The stay trigger of migration 0004: stay lengths and first entries, also for late inserts."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Deal, DealStageChange, Pipeline, Stage

pytestmark = pytest.mark.db

T0 = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


def hours(n: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=n)


async def test_stays_and_first_entries_follow_the_history(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        pipeline = Pipeline(name="Stays", position=7, is_default=False, created_at=T0)
        session.add(pipeline)
        await session.flush()
        a, b, c = (
            Stage(pipeline_id=pipeline.id, name=name, position=i, kind="open", probability=0)
            for i, name in enumerate("ABC")
        )
        session.add_all([a, b, c])
        await session.flush()
        deal = Deal(
            title="d", amount=0, currency="RUB", pipeline_id=pipeline.id, stage_id=a.id,
            source="manual", created_at=T0, updated_at=T0, stage_entered_at=T0,
        )  # fmt: skip
        session.add(deal)
        await session.flush()
        # In order: A, C, then late: B between them, A again, and an A before everything.
        for stage, at in ((a, hours(0)), (c, hours(10)), (b, hours(4)), (a, hours(12))):
            session.add(DealStageChange(deal_id=deal.id, to_stage_id=stage.id, changed_at=at))
            await session.flush()
        await session.execute(
            insert(DealStageChange).values(deal_id=deal.id, to_stage_id=a.id, changed_at=hours(-1))
        )
    async with sessions() as session:
        rows = (
            await session.execute(
                select(
                    DealStageChange.to_stage_id,
                    DealStageChange.changed_at,
                    DealStageChange.left_at,
                    DealStageChange.stay_s,
                    DealStageChange.first_visit,
                )
                .where(DealStageChange.deal_id == deal.id)
                .order_by(DealStageChange.changed_at)
            )
        ).all()
    assert [tuple(row) for row in rows] == [
        (a.id, hours(-1), hours(0), 3600, True),
        (a.id, hours(0), hours(4), 4 * 3600, False),
        (b.id, hours(4), hours(10), 6 * 3600, True),
        (c.id, hours(10), hours(12), 2 * 3600, True),
        (a.id, hours(12), None, None, False),
    ]
