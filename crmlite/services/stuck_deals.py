"""Deals that sit in a stage without activity: the stuck robots' candidates and the heads' list.

A stage watches for stuck deals when it has an enabled ``stuck`` robot; its deals count as stuck
after the shortest such robot's ``days`` without activity. The clock starts when the deal entered
the stage and starts again at every note or call on the deal, every task on it marked done, and
every call with the deal's contact (so a customer who rings in is not "stuck"), whichever came last
(crmlite.domain.robots.idle_since).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Exists, ScalarSelect, and_, exists, func, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Activity, Deal, RobotEffect, Stage, StageRobot, User, UtcDateTime
from crmlite.domain.principal import Principal
from crmlite.domain.robots import (
    StuckParams,
    Trigger,
    idle_days,
    idle_since,
    parse_params,
    stuck_threshold,
)


@dataclass(frozen=True, slots=True)
class IdleDeal:
    """A deal in a watched stage and when its stuck clock started."""

    deal_id: int
    title: str
    owner_id: int | None
    pipeline_id: int
    stage_id: int
    entered_at: dt.datetime
    idle_from: dt.datetime


@dataclass(frozen=True, slots=True)
class StuckDeal:
    deal_id: int
    title: str
    owner_id: int | None
    owner_name: str | None
    pipeline_id: int
    stage_id: int
    stage_name: str
    entered_at: dt.datetime
    idle_from: dt.datetime
    idle_days: int
    threshold_days: int
    stalled: bool
    nudged: bool
    escalated: bool


def _last_deal_touch() -> ScalarSelect[Any]:
    return (
        select(func.max(func.coalesce(Activity.started_at, Activity.created_at)))
        .where(Activity.deal_id == Deal.id, Activity.kind.in_(("note", "call")))
        .scalar_subquery()
    )


def _last_done_task() -> ScalarSelect[Any]:
    return (
        select(func.max(Activity.done_at))
        .where(Activity.deal_id == Deal.id, Activity.kind == "task")
        .scalar_subquery()
    )


def _last_contact_call() -> ScalarSelect[Any]:
    return (
        select(func.max(func.coalesce(Activity.started_at, Activity.created_at)))
        .where(Activity.contact_id == Deal.contact_id, Activity.kind == "call")
        .scalar_subquery()
    )


def _step_done(robot_id: int, step: str) -> Exists:
    return exists().where(
        RobotEffect.robot_id == robot_id,
        RobotEffect.deal_id == Deal.id,
        RobotEffect.entered_at == Deal.stage_entered_at,
        RobotEffect.step == step,
    )


async def idle_deals(
    session: AsyncSession,
    stage_days: dict[int, int],
    now: dt.datetime,
    *,
    owner_id: int | None = None,
    unfinished: tuple[int, bool] | None = None,
) -> list[IdleDeal]:
    """Open deals of the given stages idle at least that stage's days.

    ``unfinished`` (a stuck robot's id, and whether it escalates) leaves out the deals whose
    current stay that robot is done with, so a pass that has caught up reads next to nothing.
    """
    if not stage_days:
        return []
    found: list[IdleDeal] = []
    greatest = func.greatest if session.get_bind().dialect.name == "postgresql" else func.max
    for stage_id, days in sorted(stage_days.items()):
        cutoff = now - dt.timedelta(days=days)
        touched = (_last_deal_touch(), _last_done_task(), _last_contact_call())
        entered = Deal.stage_entered_at
        # The database narrows to the idle ones (so a stage of 100,000 deals answers only its
        # stuck ones); idle_since below decides. Activity only moves the clock later, so the
        # entry prefilter is exact and lets the stage-and-entry index work.
        latest = type_coerce(
            greatest(entered, *(func.coalesce(t, entered) for t in touched)), UtcDateTime()
        )
        query = select(
            Deal.id,
            Deal.title,
            Deal.owner_id,
            Deal.pipeline_id,
            Deal.stage_id,
            Deal.stage_entered_at,
            *touched,
        ).where(
            Deal.stage_id == stage_id,
            Deal.closed_at.is_(None),
            entered <= cutoff,
            latest <= cutoff,
        )
        if owner_id is not None:
            query = query.where(Deal.owner_id == owner_id)
        if unfinished is not None:
            robot_id, escalates = unfinished
            nudged = _step_done(robot_id, "nudge")
            query = query.where(~and_(nudged, _step_done(robot_id, "escalate")) if escalates
                                else ~nudged)  # fmt: skip
        for row in await session.execute(query.order_by(Deal.id)):
            since = idle_since(row[5], (_aware(row[6]), _aware(row[7]), _aware(row[8])))
            if since <= cutoff:
                found.append(IdleDeal(row[0], row[1], row[2], row[3], row[4], row[5], since))
    return found


def _aware(value: dt.datetime | str | None) -> dt.datetime | None:
    """Aggregates bypass the column type: SQLite answers text, naive; PostgreSQL aware."""
    if value is None:
        return None
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


async def stuck_robots(
    session: AsyncSession, *, pipeline_id: int | None = None
) -> list[tuple[StageRobot, StuckParams]]:
    """Every enabled stuck robot on a live stage (of one pipeline), with its settings."""
    query = (
        select(StageRobot)
        .join(Stage, Stage.id == StageRobot.stage_id)
        .where(
            StageRobot.enabled.is_(True),
            StageRobot.trigger == Trigger.STUCK.value,
            Stage.archived_at.is_(None),
        )
        .order_by(StageRobot.id)
    )
    if pipeline_id is not None:
        query = query.where(Stage.pipeline_id == pipeline_id)
    robots: list[tuple[StageRobot, StuckParams]] = []
    for robot in await session.scalars(query):
        params = parse_params(robot.trigger, robot.action, robot.params)
        if isinstance(params, StuckParams):
            robots.append((robot, params))
    return robots


async def stuck_deals(
    session: AsyncSession,
    principal: Principal,
    now: dt.datetime,
    *,
    pipeline_id: int | None = None,
    owner_id: int | None = None,
) -> list[StuckDeal]:
    """Stuck deals the principal sees (a seller: their own), longest idle first."""
    robots = await stuck_robots(session, pipeline_id=pipeline_id)
    stage_days: dict[int, list[int]] = {}
    for robot, params in robots:
        stage_days.setdefault(robot.stage_id, []).append(params.days)
    thresholds = {
        stage: days
        for stage, found in stage_days.items()
        if (days := stuck_threshold(found)) is not None
    }
    if not principal.sees_everything:
        owner_id = principal.user_id
    idle = await idle_deals(session, thresholds, now, owner_id=owner_id)
    if not idle:
        return []
    names = await _names(session, idle)
    stages = dict(
        (await session.execute(select(Stage.id, Stage.name).where(Stage.id.in_(thresholds)))).all()
    )
    steps = await _steps(session, idle, [robot.id for robot, _ in robots])
    result = [
        StuckDeal(
            deal_id=d.deal_id,
            title=d.title,
            owner_id=d.owner_id,
            owner_name=names.get(d.owner_id) if d.owner_id is not None else None,
            pipeline_id=d.pipeline_id,
            stage_id=d.stage_id,
            stage_name=stages.get(d.stage_id, ""),
            entered_at=d.entered_at,
            idle_from=d.idle_from,
            idle_days=idle_days(d.idle_from, now),
            threshold_days=thresholds[d.stage_id],
            stalled=("stalled" in steps.get(d.deal_id, set())),
            nudged=("nudge" in steps.get(d.deal_id, set())),
            escalated=("escalate" in steps.get(d.deal_id, set())),
        )
        for d in idle
    ]
    result.sort(key=lambda s: (s.idle_from, s.deal_id))
    return result


async def _names(session: AsyncSession, idle: Sequence[IdleDeal]) -> dict[int, str]:
    owners = {d.owner_id for d in idle if d.owner_id is not None}
    if not owners:
        return {}
    rows = await session.execute(
        select(User.id, User.display_name, User.login).where(User.id.in_(owners))
    )
    return {row[0]: row[1] or row[2] for row in rows}


async def _steps(
    session: AsyncSession, idle: Sequence[IdleDeal], robot_ids: Sequence[int]
) -> dict[int, set[str]]:
    """The stuck steps done in each deal's current stay ("stalled" when one marked it)."""
    steps: dict[int, set[str]] = {}
    wanted = {d.deal_id for d in idle}
    rows = await session.execute(
        select(RobotEffect.deal_id, RobotEffect.step, RobotEffect.stalled)
        .join(
            Deal,
            and_(
                Deal.id == RobotEffect.deal_id,
                Deal.stage_id == RobotEffect.stage_id,
                Deal.stage_entered_at == RobotEffect.entered_at,
            ),
        )
        .where(RobotEffect.robot_id.in_(robot_ids))
    )
    for deal_id, step, stalled in rows:
        if deal_id not in wanted:
            continue
        done = steps.setdefault(deal_id, set())
        done.add(step)
        if stalled:
            done.add("stalled")
    return steps
