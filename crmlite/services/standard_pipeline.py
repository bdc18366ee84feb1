"""The standard pipeline (seeded by migration 0002) named in the install's language.

Migration 0002 seeds "Sales" with English stage names before any setting is read. On start (and
on ``cti migrate``) the names are brought to the configured language, but only where the product
wrote them: a pipeline or stage still carrying a seed name of some language is renamed; one an
admin renamed is never touched. Running it again changes nothing, and a later change of the
locale renames the seeded names again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Pipeline, Stage
from crmlite.domain.product_text import (
    STANDARD_STAGE_KEYS,
    ProductText,
    seeded_names,
    seeded_pipeline_names,
)


@dataclass
class Renamed:
    """What was renamed: (old, new) pairs."""

    pipeline: tuple[str, str] | None = None
    stages: list[tuple[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.pipeline is not None or bool(self.stages)


async def localize_standard_pipeline(session: AsyncSession, text: ProductText) -> Renamed:
    """Rename the seeded pipeline and stages still carrying a seed name to ``text``'s names."""
    renamed = Renamed()
    seeds = seeded_pipeline_names()
    pipeline = await session.scalar(
        select(Pipeline).where(Pipeline.name.in_(seeds)).order_by(Pipeline.id).limit(1)
    )
    if pipeline is None:
        return renamed
    taken = set(await session.scalars(select(Pipeline.name).where(Pipeline.id != pipeline.id)))
    if pipeline.name != text.standard_pipeline and text.standard_pipeline not in taken:
        renamed.pipeline = (pipeline.name, text.standard_pipeline)
        pipeline.name = text.standard_pipeline
    stages = list(
        await session.scalars(
            select(Stage).where(Stage.pipeline_id == pipeline.id).order_by(Stage.position)
        )
    )
    names = {stage.name for stage in stages}
    for stage in stages:
        slot = _slot(stage)
        if slot is None:
            continue
        target = text.standard_stages[slot]
        if stage.name == target or target in names:
            continue
        renamed.stages.append((stage.name, target))
        names.discard(stage.name)
        names.add(target)
        stage.name = target
    await session.flush()
    return renamed


def _slot(stage: Stage) -> int | None:
    """Which standard stage ``stage`` is by its product-written name, or None (an admin's)."""
    for index, key in enumerate(STANDARD_STAGE_KEYS):
        if stage.name in seeded_names(index) and (key == "unsorted") == stage.is_unsorted:
            return index
    return None
