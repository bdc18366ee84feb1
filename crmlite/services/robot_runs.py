"""Run the stage robots: the entry robots of deals that entered a stage, and the stuck robots.

Both passes only find work and hand each step to crmlite.services.robot_effects.fire, which
applies it once; running a pass twice, on two instances at once, or after a restart applies
nothing twice. ``run_entry_robots`` with ``deal_ids`` is the prompt path (right after a move
commits, on whichever instance made it); without, it is the scheduled sweep that catches what the
prompt path missed (an instance stopped between the move and its robots).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection

from sqlalchemy import Select, bindparam, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Deal, DealStageChange, RobotEffect, Stage, StageRobot
from crmlite.domain.robots import (
    STUCK_TASK_TITLES,
    Step,
    Trigger,
    idle_days,
    run_order,
    stuck_steps,
)
from crmlite.services.robot_effects import Notice, fire
from crmlite.services.stuck_deals import idle_deals, stuck_robots

BATCH = 500


async def run_entry_robots(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: dt.datetime,
    deal_ids: Collection[int] | None = None,
) -> list[Notice]:
    """Fire every entry robot due for the deals' current stays (all deals when None)."""
    notices: list[Notice] = []
    if deal_ids is not None and not deal_ids:
        return notices
    async with sessions() as db:
        work = await _entry_work(db, deal_ids)
    for robot, deal_id, entered_at in work:
        notice = await fire(sessions, robot, deal_id, entered_at, Step.ENTER, now=now)
        if notice is not None:
            notices.append(notice)
    return notices


def _entry_work_query() -> Select[StageRobot, int, dt.datetime]:
    done = exists().where(
        RobotEffect.robot_id == StageRobot.id,
        RobotEffect.deal_id == Deal.id,
        RobotEffect.entered_at == Deal.stage_entered_at,
    )
    return (
        select(StageRobot, Deal.id, Deal.stage_entered_at)
        .join(Deal, Deal.stage_id == StageRobot.stage_id)
        .join(Stage, Stage.id == StageRobot.stage_id)
        .where(
            StageRobot.enabled.is_(True),
            StageRobot.trigger == Trigger.ENTER.value,
            Stage.archived_at.is_(None),
            Deal.stage_entered_at >= StageRobot.active_since,
            ~done,
        )
    )


# Built once: the prompt path asks after every commit that moved deals (every call's new deal).
_ENTRY_WORK = _entry_work_query()
_ENTRY_WORK_OF = _ENTRY_WORK.where(Deal.id.in_(bindparam("deal_ids", expanding=True)))


async def _entry_work(
    db: AsyncSession, deal_ids: Collection[int] | None
) -> list[tuple[StageRobot, int, dt.datetime]]:
    rows: list[tuple[StageRobot, int, dt.datetime]] = []
    if deal_ids is None:
        rows.extend(tuple(r) for r in await db.execute(_ENTRY_WORK))  # type: ignore[misc]
    else:
        ids = sorted(deal_ids)
        for start in range(0, len(ids), BATCH):
            chunk = {"deal_ids": ids[start : start + BATCH]}
            rows.extend(tuple(r) for r in await db.execute(_ENTRY_WORK_OF, chunk))  # type: ignore[misc]
    rows.sort(key=lambda r: (r[1], *run_order(r[0].action, r[0].position), r[0].id))
    return rows


async def run_stuck_robots(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: dt.datetime,
    stuck_title: str = STUCK_TASK_TITLES["en"],
) -> list[Notice]:
    """Nudge, escalate and mark stalled the deals idle past their stage's stuck robots."""
    notices: list[Notice] = []
    async with sessions() as db:
        robots = await stuck_robots(db)
        work: list[tuple[StageRobot, int, dt.datetime, list[Step], int]] = []
        for robot, params in robots:
            escalates = params.escalate_after_days is not None
            idle = await idle_deals(
                db, {robot.stage_id: params.days}, now, unfinished=(robot.id, escalates)
            )
            done = await _done_steps(db, robot.id, [d.deal_id for d in idle])
            for deal in idle:
                taken = done.get((deal.deal_id, deal.entered_at), frozenset())
                steps = stuck_steps(params, deal.idle_from, now, taken)
                if steps:
                    days = idle_days(deal.idle_from, now)
                    work.append((robot, deal.deal_id, deal.entered_at, steps, days))
    for robot, deal_id, entered_at, steps, days in work:
        for step in steps:
            notice = await fire(sessions, robot, deal_id, entered_at, step, now=now, idle_days=days)
            if notice is not None:
                notices.append(notice)
    return notices


async def _done_steps(
    db: AsyncSession, robot_id: int, deal_ids: list[int]
) -> dict[tuple[int, dt.datetime], frozenset[Step]]:
    """The robot's steps done for these deals (their stays told apart by entry time)."""
    found: dict[tuple[int, dt.datetime], set[Step]] = {}
    for start in range(0, len(deal_ids), BATCH):
        rows = await db.execute(
            select(RobotEffect.deal_id, RobotEffect.entered_at, RobotEffect.step).where(
                RobotEffect.robot_id == robot_id,
                RobotEffect.deal_id.in_(deal_ids[start : start + BATCH]),
            )
        )
        for deal_id, entered_at, step in rows:
            found.setdefault((deal_id, entered_at), set()).add(Step(step))
    return {key: frozenset(steps) for key, steps in found.items()}


async def newest_stage_change(session: AsyncSession) -> int:
    """The id of the newest stage change recorded (0 when none)."""
    return (await session.scalar(select(func.max(DealStageChange.id)))) or 0


async def deals_entered_after(
    session: AsyncSession, after_id: int, *, limit: int = 1000
) -> tuple[frozenset[int], int]:
    """Deals with a stage change after ``after_id`` (whoever made it), and the last id read."""
    rows = (
        await session.execute(
            select(DealStageChange.id, DealStageChange.deal_id)
            .where(DealStageChange.id > after_id)
            .order_by(DealStageChange.id)
            .limit(limit)
        )
    ).all()
    if not rows:
        return frozenset(), after_id
    return frozenset(row[1] for row in rows), rows[-1][0]
