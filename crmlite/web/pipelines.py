"""Pipelines API: everyone reads them; heads and admins add, rename, reorder and remove stages."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from aiohttp import web
from pydantic import Field

from crmlite.db.models import Pipeline, Stage
from crmlite.domain.errors import NotFound
from crmlite.domain.stages import UNSORTED_NAME
from crmlite.services.pipelines import PipelineService, StageInput
from crmlite.web.keys import PRODUCT_TEXT, SESSIONS
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import INT32_MAX, ApiModel, IdPath, QueryModel
from crmlite.web.security import principal

routes = ApiRoutes("pipelines", "Pipelines and their ordered stages")

StageKindName = Literal["open", "won", "lost"]
EDITORS = {403: "Sellers read pipelines; heads and admins change them"}


class StageOut(ApiModel):
    id: int
    name: str
    position: int
    kind: StageKindName
    probability: int = Field(description="percent, 0..100")
    is_unsorted: bool


class PipelineOut(ApiModel):
    id: int
    name: str
    position: int
    is_default: bool
    created_at: dt.datetime
    stages: list[StageOut] = Field(description="in board order, Unsorted first")


class StageIn(ApiModel):
    name: str = Field(min_length=1, max_length=100)
    kind: StageKindName = "open"
    probability: int = Field(0, ge=0, le=100)


class StageAdd(StageIn):
    position: int | None = Field(
        None, ge=1, le=INT32_MAX, description="1 = right after Unsorted; default: last"
    )


class StageUpdate(ApiModel):
    name: str | None = Field(None, min_length=1, max_length=100)
    kind: StageKindName | None = None
    probability: int | None = Field(None, ge=0, le=100)


class PipelineCreate(ApiModel):
    name: str = Field(min_length=1, max_length=100)
    stages: list[StageIn] = Field(default_factory=list, max_length=50)
    is_default: bool = False


class PipelineUpdate(ApiModel):
    name: str | None = Field(None, min_length=1, max_length=100)
    is_default: bool | None = None


class StageOrder(ApiModel):
    stage_ids: list[int] = Field(min_length=1, description="every stage once, Unsorted first")


class StagePath(ApiModel):
    id: int = Field(ge=1)
    stage_id: int = Field(ge=1)


class StageRemoval(QueryModel):
    move_to_stage_id: int | None = Field(
        None, description="required when the stage holds deals: where they go"
    )
    lost_reason: str | None = Field(None, max_length=200)


def pipeline_out(pipeline: Pipeline) -> PipelineOut:
    return PipelineOut.model_validate(pipeline)


def _stages(stages: list[StageIn]) -> list[StageInput]:
    return [StageInput(s.name, s.kind, s.probability) for s in stages]


@routes.get("/api/v1/pipelines", response=list[PipelineOut])
async def list_pipelines(request: web.Request) -> list[PipelineOut]:
    """Every pipeline with its stages."""
    async with request.app[SESSIONS]() as session:
        pipelines = await PipelineService(session, principal(request)).all()
    return [pipeline_out(p) for p in pipelines]


@routes.post(
    "/api/v1/pipelines", body=PipelineCreate, response=PipelineOut, status=201, errors=EDITORS
)
async def create_pipeline(request: web.Request, *, body: PipelineCreate) -> PipelineOut:
    """Create a pipeline; its Unsorted stage is added first."""
    async with request.app[SESSIONS].begin() as session:
        pipeline = await PipelineService(session, principal(request)).create(
            body.name,
            _stages(body.stages),
            is_default=body.is_default,
            unsorted_name=_unsorted_name(request),
        )
    return pipeline_out(pipeline)


def _unsorted_name(request: web.Request) -> str:
    """The Unsorted stage's name in the install's language (English when none is configured)."""
    text = request.app.get(PRODUCT_TEXT)
    return text.stage("unsorted") if text is not None else UNSORTED_NAME


@routes.get(r"/api/v1/pipelines/{id:\d+}", path_model=IdPath, response=PipelineOut)
async def get_pipeline(request: web.Request, *, path: IdPath) -> PipelineOut:
    """One pipeline with its stages."""
    async with request.app[SESSIONS]() as session:
        return pipeline_out(await PipelineService(session, principal(request)).get(path.id))


@routes.patch(
    r"/api/v1/pipelines/{id:\d+}",
    path_model=IdPath,
    body=PipelineUpdate,
    response=PipelineOut,
    errors=EDITORS,
)
async def update_pipeline(
    request: web.Request, *, path: IdPath, body: PipelineUpdate
) -> PipelineOut:
    """Rename a pipeline or make it the default (where call deals land)."""
    async with request.app[SESSIONS].begin() as session:
        pipeline = await PipelineService(session, principal(request)).update(
            path.id, name=body.name, is_default=body.is_default
        )
    return pipeline_out(pipeline)


@routes.delete(
    r"/api/v1/pipelines/{id:\d+}",
    path_model=IdPath,
    status=204,
    errors={**EDITORS, 409: "The pipeline holds deals or history, or is the default"},
)
async def delete_pipeline(request: web.Request, *, path: IdPath) -> None:
    """Delete a pipeline no deal has ever been in."""
    async with request.app[SESSIONS].begin() as session:
        await PipelineService(session, principal(request)).delete(path.id)


@routes.post(
    r"/api/v1/pipelines/{id:\d+}/stages",
    path_model=IdPath,
    body=StageAdd,
    response=PipelineOut,
    status=201,
    errors=EDITORS,
)
async def add_stage(request: web.Request, *, path: IdPath, body: StageAdd) -> PipelineOut:
    """Add a stage (after Unsorted; default: last)."""
    async with request.app[SESSIONS].begin() as session:
        pipeline = await PipelineService(session, principal(request)).add_stage(
            path.id, StageInput(body.name, body.kind, body.probability), position=body.position
        )
    return pipeline_out(pipeline)


@routes.put(
    r"/api/v1/pipelines/{id:\d+}/stages/order",
    path_model=IdPath,
    body=StageOrder,
    response=PipelineOut,
    errors=EDITORS,
)
async def reorder_stages(request: web.Request, *, path: IdPath, body: StageOrder) -> PipelineOut:
    """Put the stages in a new order (Unsorted stays first)."""
    async with request.app[SESSIONS].begin() as session:
        pipeline = await PipelineService(session, principal(request)).reorder(
            path.id, body.stage_ids
        )
    return pipeline_out(pipeline)


@routes.patch(
    r"/api/v1/pipelines/{id:\d+}/stages/{stage_id:\d+}",
    path_model=StagePath,
    body=StageUpdate,
    response=StageOut,
    errors={**EDITORS, 409: "Its kind cannot change while it holds deals"},
)
async def update_stage(request: web.Request, *, path: StagePath, body: StageUpdate) -> StageOut:
    """Rename a stage, change its probability, or (while empty) its kind."""
    async with request.app[SESSIONS].begin() as session:
        service = PipelineService(session, principal(request))
        await _stage_of(service, path)
        stage = await service.update_stage(
            path.stage_id, name=body.name, kind=body.kind, probability=body.probability
        )
    return StageOut.model_validate(stage)


@routes.delete(
    r"/api/v1/pipelines/{id:\d+}/stages/{stage_id:\d+}",
    path_model=StagePath,
    query=StageRemoval,
    response=PipelineOut,
    errors={**EDITORS, 409: "The stage holds deals: give move_to_stage_id (stage-not-empty)"},
)
async def remove_stage(
    request: web.Request, *, path: StagePath, query: StageRemoval
) -> PipelineOut:
    """Remove a stage; its deals move to ``move_to_stage_id`` (recorded in their history)."""
    async with request.app[SESSIONS].begin() as session:
        service = PipelineService(session, principal(request))
        await _stage_of(service, path)
        pipeline = await service.remove_stage(
            path.stage_id, move_to_stage_id=query.move_to_stage_id, lost_reason=query.lost_reason
        )
    return pipeline_out(pipeline)


async def _stage_of(service: PipelineService, path: StagePath) -> Stage:
    """The stage of the path, which must belong to the path's pipeline."""
    stage = await service.get_stage(path.stage_id)
    if stage.pipeline_id != path.id:
        raise NotFound(f"no stage {path.stage_id} in pipeline {path.id}")
    return stage
