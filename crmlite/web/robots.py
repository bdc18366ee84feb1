"""Stage robots API: what each stage does by itself, and which deals are stuck.

Everyone reads a stage's robots (a seller sees what will happen to their deals); heads and admins
add, change and remove them. ``/api/v1/stuck-deals`` lists deals idle past their stage's stuck
robot: a seller's own, or, for heads, everyone's grouped by seller.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from aiohttp import web
from pydantic import Field

from crmlite.db.models import StageRobot
from crmlite.services.common import utc_now
from crmlite.services.robots import RobotChanges, RobotInput, RobotService
from crmlite.services.stuck_deals import StuckDeal, stuck_deals
from crmlite.web.keys import SESSIONS
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import INT32_MAX, ApiModel, Id, QueryModel
from crmlite.web.security import principal

routes = ApiRoutes("robots", "Stage robots: automation on entering a stage and on stuck deals")

ParamValue = int | str | bool | None
TriggerName = Literal["enter", "stuck"]
ActionName = Literal["create_task", "notify_owner", "set_field", "send_to_pipeline", "nudge"]
EDITORS = {403: "Sellers read robots; heads and admins change them"}
PARAMS_DOC = (
    "create_task: title, due_in, due_unit (hours|days), assignee_id (null: the owner); "
    "notify_owner: message; set_field: probability (0-100), add_tag; "
    "send_to_pipeline: pipeline_id, stage_id (null: its first stage after Unsorted); "
    "nudge (stuck): days, escalate_after_days, mark_stalled, task_title"
)


class RobotPath(ApiModel):
    id: Id
    stage_id: Id


class OneRobotPath(RobotPath):
    robot_id: Id


class RobotIn(ApiModel):
    trigger: TriggerName = Field(description="enter: on entering the stage; stuck: on idling")
    action: ActionName
    params: dict[str, ParamValue] = Field(default_factory=dict, description=PARAMS_DOC)
    enabled: bool = True


class RobotUpdate(ApiModel):
    params: dict[str, ParamValue] | None = Field(None, description=PARAMS_DOC)
    enabled: bool | None = Field(
        None, description="switching back on acts only on deals entering from then"
    )
    position: int | None = Field(None, ge=0, le=INT32_MAX)


class RobotOut(ApiModel):
    id: int
    stage_id: int
    trigger: TriggerName
    action: ActionName
    params: dict[str, ParamValue]
    enabled: bool
    position: int
    active_since: dt.datetime = Field(description="entry robots act on deals entering from then")
    created_at: dt.datetime
    updated_at: dt.datetime


class StuckQuery(QueryModel):
    pipeline_id: int | None = Field(None, ge=1, le=INT32_MAX)
    owner_id: int | None = Field(None, ge=1, le=INT32_MAX, description="heads: one seller")


class StuckDealOut(ApiModel):
    deal_id: int
    title: str
    owner_id: int | None
    owner_name: str | None
    pipeline_id: int
    stage_id: int
    stage_name: str
    entered_at: dt.datetime
    idle_from: dt.datetime = Field(description="the entry or the last activity, whichever later")
    idle_days: int = Field(description="whole days without activity")
    threshold_days: int = Field(description="the stage counts a deal stuck after this")
    stalled: bool = Field(description="a stuck robot marked it stalled in this stay")
    nudged: bool
    escalated: bool


class SellerStuck(ApiModel):
    owner_id: int | None
    owner_name: str | None
    count: int
    deals: list[StuckDealOut]


class StuckOut(ApiModel):
    total: int
    sellers: list[SellerStuck] = Field(description="most stuck deals first; unowned last")


def robot_out(robot: StageRobot) -> RobotOut:
    return RobotOut.model_validate(robot)


@routes.get(
    r"/api/v1/pipelines/{id:\d+}/stages/{stage_id:\d+}/robots",
    path_model=RobotPath,
    response=list[RobotOut],
)
async def list_robots(request: web.Request, *, path: RobotPath) -> list[RobotOut]:
    """The stage's robots, in the order they run."""
    async with request.app[SESSIONS]() as session:
        robots = await RobotService(session, principal(request)).list(path.id, path.stage_id)
    return [robot_out(r) for r in robots]


@routes.post(
    r"/api/v1/pipelines/{id:\d+}/stages/{stage_id:\d+}/robots",
    path_model=RobotPath,
    body=RobotIn,
    response=RobotOut,
    status=201,
    errors=EDITORS,
)
async def create_robot(request: web.Request, *, path: RobotPath, body: RobotIn) -> RobotOut:
    """Add a robot to the stage; an entry robot acts on deals entering from now on."""
    async with request.app[SESSIONS].begin() as session:
        robot = await RobotService(session, principal(request)).create(
            path.id,
            path.stage_id,
            RobotInput(body.trigger, body.action, body.params, enabled=body.enabled),
        )
    return robot_out(robot)


@routes.patch(
    r"/api/v1/pipelines/{id:\d+}/stages/{stage_id:\d+}/robots/{robot_id:\d+}",
    path_model=OneRobotPath,
    body=RobotUpdate,
    response=RobotOut,
    errors=EDITORS,
)
async def update_robot(request: web.Request, *, path: OneRobotPath, body: RobotUpdate) -> RobotOut:
    """Change a robot's settings, switch it off or on, or move it in the run order."""
    async with request.app[SESSIONS].begin() as session:
        robot = await RobotService(session, principal(request)).update(
            path.id,
            path.stage_id,
            path.robot_id,
            RobotChanges(params=body.params, enabled=body.enabled, position=body.position),
        )
    return robot_out(robot)


@routes.delete(
    r"/api/v1/pipelines/{id:\d+}/stages/{stage_id:\d+}/robots/{robot_id:\d+}",
    path_model=OneRobotPath,
    status=204,
    errors=EDITORS,
)
async def delete_robot(request: web.Request, *, path: OneRobotPath) -> None:
    """Remove a robot; what it already did stays."""
    async with request.app[SESSIONS].begin() as session:
        await RobotService(session, principal(request)).delete(
            path.id, path.stage_id, path.robot_id
        )


@routes.get("/api/v1/stuck-deals", query=StuckQuery, response=StuckOut)
async def list_stuck_deals(request: web.Request, *, query: StuckQuery) -> StuckOut:
    """Deals idle past their stage's stuck robot, by seller (a seller sees their own)."""
    async with request.app[SESSIONS]() as session:
        found = await stuck_deals(
            session,
            principal(request),
            utc_now(),
            pipeline_id=query.pipeline_id,
            owner_id=query.owner_id,
        )
    return StuckOut(total=len(found), sellers=by_seller(found))


def by_seller(found: list[StuckDeal]) -> list[SellerStuck]:
    groups: dict[int | None, list[StuckDeal]] = {}
    for deal in found:
        groups.setdefault(deal.owner_id, []).append(deal)
    sellers = [
        SellerStuck(
            owner_id=owner,
            owner_name=deals[0].owner_name,
            count=len(deals),
            deals=[StuckDealOut.model_validate(d) for d in deals],
        )
        for owner, deals in groups.items()
    ]
    sellers.sort(key=lambda s: (s.owner_id is None, -s.count, s.owner_name or ""))
    return sellers
