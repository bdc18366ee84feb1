"""Stage changes of deals in the order they were recorded, for followers such as webhooks."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from crmlite.db.models import Deal, DealStageChange, Stage


@dataclass(frozen=True, slots=True)
class StageChange:
    id: int
    deal_id: int
    deal_title: str
    pipeline_id: int
    contact_id: int | None
    owner_id: int | None
    from_stage_id: int | None
    from_stage: str | None
    to_stage_id: int
    to_stage: str
    to_kind: str  # open, won, lost
    lost_reason: str | None
    changed_by: int | None
    changed_at: dt.datetime


async def first_change_since(session: AsyncSession, since: dt.datetime) -> int:
    """The id just before the first change at or after ``since`` (where a follower starts)."""
    first = await session.scalar(
        select(func.min(DealStageChange.id)).where(DealStageChange.changed_at >= since)
    )
    if first is not None:
        return int(first) - 1
    last = await session.scalar(select(func.max(DealStageChange.id)))
    return int(last or 0)


async def stage_changes_after(
    session: AsyncSession, after_id: int, *, limit: int = 500
) -> list[StageChange]:
    """Changes with an id above ``after_id``, oldest first, with stage names (one query)."""
    source = aliased(Stage)
    target = aliased(Stage)
    rows = await session.execute(
        select(
            DealStageChange.id,
            Deal.id,
            Deal.title,
            Deal.pipeline_id,
            Deal.contact_id,
            Deal.owner_id,
            DealStageChange.from_stage_id,
            source.name,
            DealStageChange.to_stage_id,
            target.name,
            target.kind,
            Deal.lost_reason,
            DealStageChange.changed_by_id,
            DealStageChange.changed_at,
        )
        .join(Deal, Deal.id == DealStageChange.deal_id)
        .outerjoin(source, source.id == DealStageChange.from_stage_id)
        .join(target, target.id == DealStageChange.to_stage_id)
        .where(DealStageChange.id > after_id)
        .order_by(DealStageChange.id)
        .limit(limit)
    )
    return [StageChange(*tuple(row)) for row in rows]
