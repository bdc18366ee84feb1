"""Saved versions of the call-to-deal rule document; the newest is the one in force."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Pipeline, RuleSet, Stage, User


@dataclass(frozen=True, slots=True)
class SavedRules:
    version: int
    document: dict[str, Any]
    saved_at: dt.datetime
    saved_by: int | None


@dataclass(frozen=True, slots=True)
class CrmNames:
    """The names rules may refer to: pipelines with stages, Unsorted stages, active logins."""

    pipelines: dict[str, frozenset[str]]
    default_pipeline: str | None
    unsorted: dict[str, str]
    logins: frozenset[str]


async def latest_rules(session: AsyncSession) -> SavedRules | None:
    """The newest saved rule document, or None when none was ever saved."""
    row = await session.scalar(select(RuleSet).order_by(RuleSet.id.desc()).limit(1))
    if row is None:
        return None
    return SavedRules(row.id, dict(row.document), row.created_at, row.created_by_id)


async def latest_version(session: AsyncSession) -> int | None:
    """The id of the newest saved document (cheap: for noticing another instance's save)."""
    return await session.scalar(select(RuleSet.id).order_by(RuleSet.id.desc()).limit(1))


async def save_rules(
    session: AsyncSession, document: Mapping[str, Any], *, by: int | None, now: dt.datetime
) -> SavedRules:
    """Store ``document`` (already validated) as the newest version."""
    row = RuleSet(document=dict(document), created_at=now, created_by_id=by)
    session.add(row)
    await session.flush()
    return SavedRules(row.id, dict(row.document), row.created_at, row.created_by_id)


async def crm_names(session: AsyncSession) -> CrmNames:
    """Everything a rule document may name, in two queries."""
    rows = await session.execute(
        select(Pipeline.name, Pipeline.is_default, Stage.name, Stage.is_unsorted)
        .join(Stage, Stage.pipeline_id == Pipeline.id)
        .order_by(Pipeline.position, Pipeline.id, Stage.position)
    )
    pipelines: dict[str, set[str]] = {}
    unsorted: dict[str, str] = {}
    default: str | None = None
    for pipeline, is_default, stage, is_unsorted in rows:
        pipelines.setdefault(pipeline, set()).add(stage)
        if is_unsorted:
            unsorted.setdefault(pipeline, stage)
        if is_default and default is None:
            default = pipeline
    if default is None and unsorted:
        default = next(iter(unsorted))
    logins = await session.scalars(select(User.login).where(User.active.is_(True)))
    return CrmNames(
        pipelines={name: frozenset(stages) for name, stages in pipelines.items()},
        default_pipeline=default,
        unsorted=unsorted,
        logins=frozenset(logins),
    )


async def stage_ids(
    session: AsyncSession, pipeline: str | None, stage: str | None
) -> tuple[int | None, int | None]:
    """Ids of a pipeline and stage named in rules (None where not named or not found)."""
    if pipeline is None:
        return None, None
    pipeline_id = await session.scalar(select(Pipeline.id).where(Pipeline.name == pipeline))
    if pipeline_id is None or stage is None:
        return pipeline_id, None
    stage_id = await session.scalar(
        select(Stage.id).where(Stage.pipeline_id == pipeline_id, Stage.name == stage)
    )
    return pipeline_id, stage_id


async def user_ids_by_login(session: AsyncSession, logins: set[str]) -> dict[str, int]:
    """Active users' ids by login, in one query."""
    if not logins:
        return {}
    rows = await session.execute(
        select(User.login, User.id).where(User.login.in_(logins), User.active.is_(True))
    )
    return {login: user_id for login, user_id in rows}
