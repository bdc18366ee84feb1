"""What every call-made deal looks up, kept in memory: pipelines and stages, campaign sources,
the numbers blocked from making deals.

A call's CRM work asks which stage is Unsorted, which pipeline and stage a rule names, which
campaign a DID or caller prefix belongs to and whether the number is blocked, on every new
caller; the answers change only when an admin edits pipelines or campaigns or someone blocks a
number. So the catalog is read whole (four small queries) and kept until such a change commits:
``catalog_changes`` clears it in this process at commit and, on PostgreSQL,
``NOTIFY crmlite_call_catalog`` clears it on the other instances, whose ``listen`` task holds the
LISTEN. While an instance with ``shared=True`` is not listening it reads the catalog afresh for
every call, so a missed notification never leaves a stale stage."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from crmlite.db.models import BlockedNumber, Campaign, CampaignSource, Pipeline, Stage
from crmlite.domain.call_attribution import TrackingSource, campaign_of_call
from crmlite.domain.stages import StageKind, StageRef
from crmlite.services.catalog_changes import CHANNEL, watch
from crmlite.services.change_listener import listen_for_changes


@dataclass(frozen=True, slots=True)
class CallCatalog:
    """Pipelines, stages and campaign sources as they were when read."""

    pipelines: dict[str, int]
    stages: dict[int, StageRef]
    stage_names: dict[tuple[int, str], int]
    intake: StageRef | None  # the default pipeline's Unsorted stage (PipelineService's choice)
    first_unsorted_pipeline: int | None  # the pipeline of the oldest Unsorted stage
    sources: tuple[TrackingSource, ...]
    blocked: frozenset[str] = frozenset()  # E.164 numbers that never make a deal again

    def stage_ids(self, pipeline: str | None, stage: str | None) -> tuple[int | None, int | None]:
        """Ids of a pipeline and stage named in rules (None where not named or not found)."""
        if pipeline is None:
            return None, None
        pipeline_id = self.pipelines.get(pipeline)
        if pipeline_id is None or stage is None:
            return pipeline_id, None
        return pipeline_id, self.stage_names.get((pipeline_id, stage))

    def placement(self, pipeline_id: int | None, stage_id: int | None) -> StageRef | None:
        """The stage a new deal lands in, when the catalog can say it without a doubt."""
        if stage_id is not None:
            ref = self.stages.get(stage_id)
            if ref is None or (pipeline_id is not None and ref.pipeline_id != pipeline_id):
                return None  # let the deal service refuse it with its own words
            return ref
        return self.intake if pipeline_id is None else None

    def campaign_of_call(self, did: str | None, caller: str | None, at: dt.datetime) -> int | None:
        return campaign_of_call(self.sources, did, caller, at)


async def read_catalog(session: AsyncSession) -> CallCatalog:
    """Read the whole catalog (a few hundred rows at most)."""
    pipelines = (
        await session.execute(
            select(Pipeline.id, Pipeline.name, Pipeline.is_default, Pipeline.position)
        )
    ).all()
    stage_rows = (
        await session.execute(
            select(
                Stage.id,
                Stage.pipeline_id,
                Stage.name,
                Stage.kind,
                Stage.is_unsorted,
                Stage.archived_at,
            )
        )
    ).all()
    source_rows = (
        await session.execute(
            select(
                CampaignSource.id,
                CampaignSource.campaign_id,
                CampaignSource.kind,
                CampaignSource.value,
                CampaignSource.active_from,
                CampaignSource.active_until,
            )
            .join(Campaign, Campaign.id == CampaignSource.campaign_id)
            .where(Campaign.active.is_(True), CampaignSource.kind.in_(("did", "caller_prefix")))
        )
    ).all()
    blocked = frozenset(await session.scalars(select(BlockedNumber.normalized)))
    stages = {
        row.id: StageRef(
            id=row.id,
            pipeline_id=row.pipeline_id,
            name=row.name,
            kind=StageKind(row.kind),
            is_unsorted=row.is_unsorted,
            archived=row.archived_at is not None,
        )
        for row in stage_rows
    }
    order = {p.id: (not p.is_default, p.position, p.id) for p in pipelines}
    intakes = [s for s in stages.values() if s.is_unsorted and not s.archived]
    intake = min(intakes, key=lambda s: order.get(s.pipeline_id, (True, 0, 0)), default=None)
    unsorted = [s for s in stages.values() if s.is_unsorted]
    first = min(unsorted, key=lambda s: s.id, default=None)
    return CallCatalog(
        pipelines={p.name: p.id for p in pipelines},
        stages=stages,
        stage_names={(s.pipeline_id, s.name): s.id for s in stages.values()},
        intake=intake,
        first_unsorted_pipeline=first.pipeline_id if first is not None else None,
        sources=tuple(
            TrackingSource(r.id, r.campaign_id, r.kind, r.value, r.active_from, r.active_until)
            for r in source_rows
        ),
        blocked=blocked,
    )


class CallCatalogCache:
    """The ``CallCatalog``, read once and kept until pipelines, stages or campaigns change."""

    def __init__(self, *, shared: bool = False) -> None:
        # ``shared``: other processes may write (PostgreSQL): keep it only while ``listen`` holds
        # its connection. Otherwise this process sees every change itself.
        self._catalog: CallCatalog | None = None
        self._generation = 0
        self.enabled = not shared
        self.reads = 0
        watch(self)

    def invalidate(self) -> None:
        """Forget the catalog (something in it changed)."""
        self._catalog = None
        self._generation += 1

    async def get(self, session: AsyncSession) -> CallCatalog:
        """The catalog, from memory when it is known to be current."""
        if self.enabled and self._catalog is not None:
            return self._catalog
        generation = self._generation
        catalog = await read_catalog(session)
        self.reads += 1
        if self.enabled and generation == self._generation:
            self._catalog = catalog  # a read that raced an invalidation is used but not kept
        return catalog

    async def listen(self, engine: AsyncEngine, *, retry_s: float = 2.0) -> None:
        """Clear on other instances' changes (PostgreSQL) until cancelled."""
        await listen_for_changes(engine, CHANNEL, self, retry_s=retry_s)
