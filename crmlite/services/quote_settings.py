"""Per pipeline: what accepting a quote does to its deal (the stage it moves to, its amount)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Pipeline, Stage
from crmlite.db.quote_models import QuotePipelineSettings
from crmlite.domain.access import may_edit_pipelines
from crmlite.domain.errors import InvalidInput, NotFound, PermissionDenied
from crmlite.domain.principal import Principal


@dataclass(frozen=True, slots=True)
class AcceptSettings:
    pipeline_id: int
    accept_stage_id: int | None
    """None: accepting leaves the deal in its stage."""
    set_deal_amount: bool


async def accept_settings(session: AsyncSession, pipeline_id: int) -> AcceptSettings:
    """The pipeline's settings; by default the amount is set and the deal stays where it is."""
    row = await session.get(QuotePipelineSettings, pipeline_id)
    if row is None:
        return AcceptSettings(pipeline_id, None, True)
    return AcceptSettings(pipeline_id, row.accept_stage_id, row.set_deal_amount)


async def read_accept_settings(session: AsyncSession, pipeline_id: int) -> AcceptSettings:
    if await session.get(Pipeline, pipeline_id) is None:
        raise NotFound(f"no pipeline {pipeline_id}", details={"pipeline_id": pipeline_id})
    return await accept_settings(session, pipeline_id)


async def save_accept_settings(
    session: AsyncSession,
    principal: Principal,
    pipeline_id: int,
    *,
    accept_stage_id: int | None,
    set_deal_amount: bool,
) -> AcceptSettings:
    """Heads and admins choose the stage an accepted quote moves its deal to."""
    if not may_edit_pipelines(principal):
        raise PermissionDenied("only heads and admins configure pipelines")
    if await session.get(Pipeline, pipeline_id) is None:
        raise NotFound(f"no pipeline {pipeline_id}", details={"pipeline_id": pipeline_id})
    if accept_stage_id is not None:
        found = await session.scalar(
            select(Stage.id).where(
                Stage.id == accept_stage_id,
                Stage.pipeline_id == pipeline_id,
                Stage.archived_at.is_(None),
            )
        )
        if found is None:
            raise InvalidInput(
                "no such stage in this pipeline",
                fields={"accept_stage_id": "a stage of this pipeline"},
            )
    row = await session.get(QuotePipelineSettings, pipeline_id)
    if row is None:
        row = QuotePipelineSettings(pipeline_id=pipeline_id)
        session.add(row)
    row.accept_stage_id = accept_stage_id
    row.set_deal_amount = set_deal_amount
    await session.flush()
    return AcceptSettings(pipeline_id, accept_stage_id, set_deal_amount)
