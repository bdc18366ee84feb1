"""Stage robots as configured: list, add, change and remove them (heads and admins).

What each robot does and when is decided by crmlite.domain.robots; running them is
crmlite.services.robot_runs. Sellers may read a stage's robots, to know what will happen to
their deals; only heads and admins change them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Pipeline, Stage, StageRobot
from crmlite.domain.access import may_edit_pipelines
from crmlite.domain.clock import Clock
from crmlite.domain.errors import InvalidInput, NotFound, PermissionDenied
from crmlite.domain.principal import Principal
from crmlite.domain.robots import (
    SendParams,
    StuckParams,
    TaskParams,
    params_document,
    parse_params,
)
from crmlite.services.common import require_active_user, utc_now

ROBOTS_PER_STAGE = 20


@dataclass(frozen=True, slots=True)
class RobotInput:
    trigger: str
    action: str
    params: Mapping[str, object]
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class RobotChanges:
    params: Mapping[str, object] | None = None
    enabled: bool | None = None
    position: int | None = None


class RobotService:
    """Robot configuration for one principal inside one unit of work (the caller commits)."""

    def __init__(self, session: AsyncSession, principal: Principal, *, clock: Clock = utc_now):
        self.session = session
        self.principal = principal
        self.clock = clock

    async def stage(self, pipeline_id: int, stage_id: int) -> Stage:
        """The stage of the path; it must belong to the pipeline and not be archived."""
        stage = await self.session.get(Stage, stage_id)
        if stage is None or stage.pipeline_id != pipeline_id or stage.archived_at is not None:
            raise NotFound(
                f"no stage {stage_id} in pipeline {pipeline_id}",
                details={"pipeline_id": pipeline_id, "stage_id": stage_id},
            )
        return stage

    async def list(self, pipeline_id: int, stage_id: int) -> list[StageRobot]:
        await self.stage(pipeline_id, stage_id)
        rows = await self.session.scalars(
            select(StageRobot)
            .where(StageRobot.stage_id == stage_id)
            .order_by(StageRobot.position, StageRobot.id)
        )
        return list(rows)

    async def get(self, pipeline_id: int, stage_id: int, robot_id: int) -> StageRobot:
        await self.stage(pipeline_id, stage_id)
        robot = await self.session.get(StageRobot, robot_id)
        if robot is None or robot.stage_id != stage_id:
            raise NotFound(
                f"no robot {robot_id} on stage {stage_id}", details={"robot_id": robot_id}
            )
        return robot

    async def create(self, pipeline_id: int, stage_id: int, robot: RobotInput) -> StageRobot:
        self._check_editor()
        stage = await self.stage(pipeline_id, stage_id)
        params = parse_params(robot.trigger, robot.action, robot.params)
        await self._check_refs(stage, params)
        count = await self.session.scalar(
            select(func.count(StageRobot.id)).where(StageRobot.stage_id == stage_id)
        )
        if (count or 0) >= ROBOTS_PER_STAGE:
            raise InvalidInput(
                f"a stage holds at most {ROBOTS_PER_STAGE} robots",
                fields={"stage_id": f"already {count} robots"},
            )
        now = self.clock()
        row = StageRobot(
            stage_id=stage_id,
            trigger=robot.trigger,
            action=robot.action,
            params=params_document(params),
            enabled=robot.enabled,
            position=(count or 0) + 1,
            active_since=now,
            created_at=now,
            updated_at=now,
            created_by_id=self.principal.user_id,
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def update(
        self, pipeline_id: int, stage_id: int, robot_id: int, changes: RobotChanges
    ) -> StageRobot:
        self._check_editor()
        robot = await self.get(pipeline_id, stage_id, robot_id)
        now = self.clock()
        if changes.params is not None:
            params = parse_params(robot.trigger, robot.action, changes.params)
            await self._check_refs(await self.stage(pipeline_id, stage_id), params)
            robot.params = params_document(params)
        if changes.enabled is not None and changes.enabled != robot.enabled:
            robot.enabled = changes.enabled
            if changes.enabled:
                # Deals that entered while it was off are not acted on when it comes back.
                robot.active_since = now
        if changes.position is not None:
            robot.position = changes.position
        robot.updated_at = now
        await self.session.flush()
        return robot

    async def delete(self, pipeline_id: int, stage_id: int, robot_id: int) -> None:
        self._check_editor()
        robot = await self.get(pipeline_id, stage_id, robot_id)
        await self.session.delete(robot)
        await self.session.flush()

    def _check_editor(self) -> None:
        if not may_edit_pipelines(self.principal):
            raise PermissionDenied("only heads of sales and admins change stage robots")

    async def _check_refs(self, stage: Stage, params: object) -> None:
        """The users, pipelines and stages a robot names must exist (and make sense)."""
        if isinstance(params, TaskParams) and params.assignee_id is not None:
            await require_active_user(self.session, params.assignee_id, field="params.assignee_id")
        if isinstance(params, SendParams):
            await self._check_send(stage, params)
        if isinstance(params, StuckParams) and stage.kind != "open":
            raise InvalidInput(
                "deals in a closed stage are never stuck",
                fields={"trigger": f"the stage is {stage.kind}: use an enter robot"},
            )

    async def _check_send(self, stage: Stage, params: SendParams) -> None:
        if params.pipeline_id == stage.pipeline_id:
            raise InvalidInput(
                "a robot sends deals to another pipeline",
                fields={"params.pipeline_id": "this is the stage's own pipeline"},
            )
        if await self.session.get(Pipeline, params.pipeline_id) is None:
            raise InvalidInput(
                "no such pipeline", fields={"params.pipeline_id": "no such pipeline"}
            )
        if params.stage_id is None:
            return
        target = await self.session.get(Stage, params.stage_id)
        if (
            target is None
            or target.pipeline_id != params.pipeline_id
            or target.archived_at is not None
        ):
            raise InvalidInput(
                "the stage is not in that pipeline",
                fields={"params.stage_id": "not a stage of params.pipeline_id"},
            )
