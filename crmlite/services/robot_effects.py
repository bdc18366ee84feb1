"""Apply one robot step to one deal, once: claim its effect row, act, and say whom to tell.

The claim (a ``robot_effects`` row under the unique ``(entry_key, effect)``) and what the step
changes (a task, a field, a move) are written in the same unit of work. A second writer (a replay,
a restart, another instance, the scheduled pass racing the prompt one) fails on the constraint and
rolls everything back, so a step acts at most once per deal and stage entry. Telling people (a pop,
a webhook) happens after the commit, from the ``Notice`` returned.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Activity, Deal, RobotEffect, Stage, StageRobot, User
from crmlite.domain.errors import DomainError
from crmlite.domain.principal import SYSTEM
from crmlite.domain.robots import (
    STUCK_TASK_TITLES,
    Action,
    FieldParams,
    NotifyParams,
    SendParams,
    Step,
    StuckParams,
    TaskParams,
    entry_key,
    parse_params,
    step_effect,
    stuck_task_title,
    with_tag,
)
from crmlite.services.pipelines import stage_ref
from crmlite.services.stage_moves import apply_moves

log = structlog.get_logger(__name__)

# A deal sent on by robots this many times in an hour stops being sent: two pipelines whose
# robots send deals to each other would otherwise move them forever.
SENDS_PER_HOUR = 5


@dataclass(frozen=True, slots=True)
class Notice:
    """What a fired step tells: a pop to ``user_ids`` and a webhook (docs/EVENTS.md)."""

    effect_id: int
    robot_id: int
    action: str
    step: str
    outcome: str
    detail: str | None
    deal_id: int
    deal_title: str
    pipeline_id: int
    stage_id: int
    stage_name: str
    owner_id: int | None
    at: dt.datetime
    user_ids: tuple[int, ...] = ()
    message: str = ""
    task_id: int | None = None
    idle_days: int | None = None
    extra: dict[str, object] = field(default_factory=dict)


class _Taken(Exception):
    """The effect row exists: someone applied this step already."""


async def fire(
    sessions: async_sessionmaker[AsyncSession],
    robot: StageRobot,
    deal_id: int,
    entered_at: dt.datetime,
    step: Step,
    *,
    now: dt.datetime,
    idle_days: int | None = None,
    stuck_title: str = STUCK_TASK_TITLES["en"],
) -> Notice | None:
    """Apply ``step`` of ``robot`` to the deal's stay that began at ``entered_at``, once.

    ``stuck_title`` is the nudge task's title when the robot names none (``{title}``: the deal's).
    """
    try:
        async with sessions.begin() as db:
            return await _fire(db, robot, deal_id, entered_at, step, now, idle_days, stuck_title)
    except _Taken:
        return None


async def _fire(
    db: AsyncSession,
    robot: StageRobot,
    deal_id: int,
    entered_at: dt.datetime,
    step: Step,
    now: dt.datetime,
    idle_days: int | None,
    stuck_title: str,
) -> Notice | None:
    deal = await db.get(Deal, deal_id, with_for_update=True, populate_existing=True)
    if deal is None or deal.stage_id != robot.stage_id or deal.stage_entered_at != entered_at:
        return None  # the deal left that stay before its robot ran: nothing to do
    stage = await db.get(Stage, robot.stage_id)
    if stage is None:  # the deal stands in it, under the row lock: never
        return None
    effect = RobotEffect(
        entry_key=entry_key(deal.id, stage.id, entered_at),
        effect=step_effect(robot.id, step),
        robot_id=robot.id,
        deal_id=deal.id,
        stage_id=stage.id,
        entered_at=entered_at,
        step=step.value,
        outcome="done",
        stalled=False,
        created_at=now,
    )
    db.add(effect)
    try:
        async with db.begin_nested():
            await db.flush()
    except IntegrityError as err:
        raise _Taken from err
    notice = Notice(
        effect_id=effect.id,
        robot_id=robot.id,
        action=robot.action,
        step=step.value,
        outcome="done",
        detail=None,
        deal_id=deal.id,
        deal_title=deal.title,
        pipeline_id=deal.pipeline_id,
        stage_id=stage.id,
        stage_name=stage.name,
        owner_id=deal.owner_id,
        at=now,
        idle_days=idle_days,
    )
    try:
        notice = await _act(db, robot, deal, effect, step, notice, now, stuck_title)
    except DomainError as err:
        # A robot whose target went away acts no more for this entry, and says why.
        effect.outcome = "skipped"
        effect.detail = err.message[:200]
        log.warning("robot skipped", robot_id=robot.id, deal_id=deal.id, reason=err.message)
        notice = _replace(notice, outcome="skipped", detail=effect.detail, user_ids=())
    await db.flush()
    return notice


async def _act(
    db: AsyncSession,
    robot: StageRobot,
    deal: Deal,
    effect: RobotEffect,
    step: Step,
    notice: Notice,
    now: dt.datetime,
    stuck_title: str,
) -> Notice:
    params = parse_params(robot.trigger, robot.action, robot.params)
    owner = (deal.owner_id,) if deal.owner_id is not None else ()
    if isinstance(params, TaskParams):
        assignee = params.assignee_id or deal.owner_id
        task = _task(deal, params.title, now + params.due_in, assignee, now)
        task.extra = {"robot_id": robot.id}
        db.add(task)
        await db.flush()
        effect.task_id = task.id
        return _replace(notice, task_id=task.id, message=params.title)
    if isinstance(params, NotifyParams):
        return _replace(notice, user_ids=owner, message=params.message)
    if isinstance(params, FieldParams):
        if params.probability is not None:
            deal.probability = params.probability
        if params.add_tag is not None:
            deal.tags = with_tag(deal.tags or [], params.add_tag)
        deal.updated_at = now
        deal.version += 1
        return _replace(
            notice, extra={"probability": params.probability, "add_tag": params.add_tag}
        )
    if isinstance(params, SendParams):
        return await _send(db, deal, params, notice, now)
    if not isinstance(params, StuckParams):
        raise TypeError(f"a robot with unknown action {robot.action}")
    if step is Step.ESCALATE:
        return _replace(notice, user_ids=await _heads(db), message=deal.title)
    title = params.task_title or stuck_task_title(stuck_title, deal.title)
    task = _task(deal, title, now, deal.owner_id, now)
    task.extra = {"robot_id": robot.id, "stuck": True}
    db.add(task)
    await db.flush()
    effect.task_id = task.id
    effect.stalled = params.mark_stalled
    return _replace(notice, task_id=task.id, user_ids=owner, message=title)


async def _heads(db: AsyncSession) -> tuple[int, ...]:
    """Who an escalation goes to: the heads of sales, or the admins where there is no head."""
    for role in ("head", "admin"):
        found = tuple(
            await db.scalars(
                select(User.id).where(User.role == role, User.active.is_(True)).order_by(User.id)
            )
        )
        if found:
            return found
    return ()


def _task(
    deal: Deal, title: str, due_at: dt.datetime, assignee: int | None, now: dt.datetime
) -> Activity:
    return Activity(
        kind="task",
        title=title,
        due_at=due_at,
        assignee_id=assignee,
        deal_id=deal.id,
        contact_id=deal.contact_id,
        author_id=None,
        created_at=now,
    )


async def _send(
    db: AsyncSession, deal: Deal, params: SendParams, notice: Notice, now: dt.datetime
) -> Notice:
    sends = await db.scalar(
        select(func.count(RobotEffect.id))
        .join(StageRobot, StageRobot.id == RobotEffect.robot_id)
        .where(
            RobotEffect.deal_id == deal.id,
            StageRobot.action == Action.SEND_TO_PIPELINE.value,
            RobotEffect.outcome == "done",
            RobotEffect.created_at > now - dt.timedelta(hours=1),
        )
    )
    if (sends or 0) > SENDS_PER_HOUR:
        raise DomainError(f"sent on by robots more than {SENDS_PER_HOUR} times in an hour")
    target = await _target_stage(db, params)
    current = await db.get(Stage, deal.stage_id)
    if current is None:
        raise DomainError("the deal's stage no longer exists")
    await apply_moves(
        db,
        SYSTEM,
        [(deal, stage_ref(current))],
        stage_ref(target),
        now=now,
        allow_other_pipeline=True,
    )
    return _replace(notice, extra={"to_pipeline_id": target.pipeline_id, "to_stage_id": target.id})


async def _target_stage(db: AsyncSession, params: SendParams) -> Stage:
    query = select(Stage).where(
        Stage.pipeline_id == params.pipeline_id, Stage.archived_at.is_(None)
    )
    if params.stage_id is not None:
        query = query.where(Stage.id == params.stage_id)
    else:
        query = query.where(Stage.kind == "open", Stage.is_unsorted.is_(False))
    target = (await db.scalars(query.order_by(Stage.position).limit(1))).first()
    if target is None:
        raise DomainError("the target pipeline or stage no longer exists")
    return target


def _replace(notice: Notice, **changes: Any) -> Notice:
    return replace(notice, **changes)
