"""Pipelines and their ordered stages: read by everyone, shaped by heads and admins."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from crmlite.db.models import Deal, DealStageChange, Pipeline, Stage
from crmlite.domain.access import may_edit_pipelines
from crmlite.domain.clock import Clock
from crmlite.domain.errors import (
    AlreadyTaken,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from crmlite.domain.principal import Principal
from crmlite.domain.stages import (
    UNSORTED_NAME,
    StageKind,
    StageNotEmpty,
    StageRef,
    check_stage_removal,
    plan_reorder,
    validate_stage_fields,
)
from crmlite.services.common import utc_now
from crmlite.services.stage_moves import apply_moves


@dataclass(frozen=True, slots=True)
class StageInput:
    name: str
    kind: str = "open"
    probability: int = 0


def stage_ref(stage: Stage) -> StageRef:
    return StageRef(
        id=stage.id,
        pipeline_id=stage.pipeline_id,
        name=stage.name,
        kind=StageKind(stage.kind),
        is_unsorted=stage.is_unsorted,
        archived=stage.archived_at is not None,
    )


def active_stages_loader() -> LoaderOption:
    """Load a pipeline's stages without the archived (removed) ones, in board order."""
    return selectinload(Pipeline.stages.and_(Stage.archived_at.is_(None)))


class PipelineService:
    """Pipeline use cases for one principal inside one unit of work (the caller commits)."""

    def __init__(self, session: AsyncSession, principal: Principal, *, clock: Clock = utc_now):
        self.session = session
        self.principal = principal
        self.clock = clock

    def _require_editor(self) -> None:
        if not may_edit_pipelines(self.principal):
            raise PermissionDenied("only heads and admins change pipelines")

    async def all(self) -> list[Pipeline]:
        rows = await self.session.scalars(
            select(Pipeline)
            .options(active_stages_loader())
            .order_by(Pipeline.position, Pipeline.id)
        )
        return list(rows)

    async def get(self, pipeline_id: int) -> Pipeline:
        result = await self.session.execute(
            select(Pipeline)
            .where(Pipeline.id == pipeline_id)
            .options(joinedload(Pipeline.stages.and_(Stage.archived_at.is_(None))))
            .execution_options(populate_existing=True)
        )
        pipeline = result.unique().scalar_one_or_none()
        if pipeline is None:
            raise NotFound(f"no pipeline {pipeline_id}", details={"pipeline_id": pipeline_id})
        return pipeline

    async def default_intake_stage(self) -> Stage:
        """The Unsorted stage of the default pipeline: where deals made from calls land."""
        stage = await self.session.scalar(
            select(Stage)
            .join(Pipeline, Pipeline.id == Stage.pipeline_id)
            .where(Stage.is_unsorted.is_(True), Stage.archived_at.is_(None))
            .order_by(Pipeline.is_default.desc(), Pipeline.position, Pipeline.id)
            .limit(1)
        )
        if stage is None:
            raise NotFound("no pipeline has an Unsorted stage; run the migrations")
        return stage

    async def get_stage(self, stage_id: int) -> Stage:
        stage = await self.session.get(Stage, stage_id)
        if stage is None or stage.archived_at is not None:
            raise NotFound(f"no stage {stage_id}", details={"stage_id": stage_id})
        return stage

    async def create(
        self,
        name: str,
        stages: Sequence[StageInput] = (),
        *,
        is_default: bool = False,
        unsorted_name: str = UNSORTED_NAME,
    ) -> Pipeline:
        """Create a pipeline; an Unsorted stage (``unsorted_name``, the install's language) comes
        first whether or not it was listed."""
        self._require_editor()
        clean = _pipeline_name(name)
        await self._ensure_name_free(clean)
        cleaned = [validate_stage_fields(s.name, s.kind, s.probability) for s in stages]
        listed = {UNSORTED_NAME.casefold(), unsorted_name.casefold()}
        cleaned = [c for c in cleaned if c[0].casefold() not in listed]
        names = [unsorted_name.casefold()] + [n.casefold() for n, _, _ in cleaned]
        if len(set(names)) != len(names):
            raise InvalidInput("stage names repeat", fields={"stages": "names must be unique"})
        position = await self.session.scalar(select(func.coalesce(func.max(Pipeline.position), 0)))
        if is_default:
            await self.session.execute(update(Pipeline).values(is_default=False))
        pipeline = Pipeline(
            name=clean,
            position=(position or 0) + 1,
            is_default=is_default,
            created_at=self.clock(),
        )
        self.session.add(pipeline)
        await self.session.flush()
        self.session.add(
            Stage(
                pipeline_id=pipeline.id,
                name=unsorted_name,
                position=0,
                kind="open",
                probability=0,
                is_unsorted=True,
            )
        )
        for index, (stage_name, kind, probability) in enumerate(cleaned, start=1):
            self.session.add(
                Stage(
                    pipeline_id=pipeline.id,
                    name=stage_name,
                    position=index,
                    kind=kind.value,
                    probability=probability,
                    is_unsorted=False,
                )
            )
        await self.session.flush()
        return await self.get(pipeline.id)

    async def update(
        self, pipeline_id: int, *, name: str | None = None, is_default: bool | None = None
    ) -> Pipeline:
        self._require_editor()
        pipeline = await self.get(pipeline_id)
        if name is not None and name.strip() != pipeline.name:
            clean = _pipeline_name(name)
            await self._ensure_name_free(clean)
            pipeline.name = clean
        if is_default:
            await self.session.execute(update(Pipeline).values(is_default=False))
            pipeline.is_default = True
        await self.session.flush()
        return await self.get(pipeline_id)

    async def delete(self, pipeline_id: int) -> None:
        """Delete an empty pipeline; one holding deals, or the default one, stays."""
        self._require_editor()
        pipeline = await self.get(pipeline_id)
        if pipeline.is_default:
            raise Conflict("the default pipeline cannot be deleted; make another one default")
        count = await self._deal_count(Deal.pipeline_id == pipeline_id)
        if count:
            raise Conflict(
                f"the pipeline holds {count} deals; move them first",
                details={"deal_count": count},
            )
        stage_ids = select(Stage.id).where(Stage.pipeline_id == pipeline_id)
        used = await self.session.scalar(
            select(func.count(DealStageChange.id)).where(
                or_(
                    DealStageChange.to_stage_id.in_(stage_ids),
                    DealStageChange.from_stage_id.in_(stage_ids),
                )
            )
        )
        if used:
            raise Conflict("deals have passed through this pipeline; its history stays")
        for stage in await self.session.scalars(
            select(Stage).where(Stage.pipeline_id == pipeline_id)
        ):
            await self.session.delete(stage)
        await self.session.delete(pipeline)
        await self.session.flush()

    async def add_stage(
        self, pipeline_id: int, stage: StageInput, *, position: int | None = None
    ) -> Pipeline:
        """Add a stage at ``position`` (0-based among the stages; default: last)."""
        self._require_editor()
        pipeline = await self.get(pipeline_id)
        name, kind, probability = validate_stage_fields(stage.name, stage.kind, stage.probability)
        if any(s.name.casefold() == name.casefold() for s in pipeline.stages):
            raise AlreadyTaken(
                f"the pipeline already has a stage {name!r}",
                fields=["name"],
                details={"name": name},
            )
        ordered = list(pipeline.stages)
        index = len(ordered) if position is None else max(1, min(position, len(ordered)))
        new = Stage(
            pipeline_id=pipeline_id,
            name=name,
            position=index,
            kind=kind.value,
            probability=probability,
            is_unsorted=False,
        )
        self.session.add(new)
        ordered.insert(index, new)
        await self._renumber(ordered)
        return await self.get(pipeline_id)

    async def update_stage(
        self,
        stage_id: int,
        *,
        name: str | None = None,
        kind: str | None = None,
        probability: int | None = None,
    ) -> Stage:
        """Rename a stage or change its probability; its kind only while it holds no deals."""
        self._require_editor()
        stage = await self.get_stage(stage_id)
        new_name, new_kind, new_probability = validate_stage_fields(
            stage.name if name is None else name,
            stage.kind if kind is None else kind,
            stage.probability if probability is None else probability,
        )
        if new_name.casefold() != stage.name.casefold():
            clash = await self.session.scalar(
                select(Stage.id).where(
                    Stage.pipeline_id == stage.pipeline_id,
                    func.lower(Stage.name) == new_name.lower(),
                    Stage.id != stage.id,
                )
            )
            if clash is not None:
                raise AlreadyTaken(
                    f"the pipeline already has a stage {new_name!r}", fields=["name"]
                )
        if new_kind.value != stage.kind:
            if stage.is_unsorted:
                raise InvalidInput("Unsorted stays open", fields={"kind": "Unsorted is open"})
            count = await self._deal_count(Deal.stage_id == stage.id)
            if count:
                raise StageNotEmpty(
                    f"the stage holds {count} deals; its kind cannot change under them",
                    details={"deal_count": count},
                )
        stage.name, stage.kind, stage.probability = new_name, new_kind.value, new_probability
        await self.session.flush()
        return stage

    async def reorder(self, pipeline_id: int, stage_ids: Sequence[int]) -> Pipeline:
        self._require_editor()
        pipeline = await self.get(pipeline_id)
        unsorted = next((s.id for s in pipeline.stages if s.is_unsorted), None)
        order = plan_reorder([s.id for s in pipeline.stages], stage_ids, unsorted)
        by_id = {s.id: s for s in pipeline.stages}
        await self._renumber([by_id[i] for i in order])
        return await self.get(pipeline_id)

    async def remove_stage(
        self, stage_id: int, *, move_to_stage_id: int | None = None, lost_reason: str | None = None
    ) -> Pipeline:
        """Remove a stage; its deals move to ``move_to_stage_id`` (recorded in their history)."""
        self._require_editor()
        stage = await self.get_stage(stage_id)
        target = await self.get_stage(move_to_stage_id) if move_to_stage_id is not None else None
        count = await self._deal_count(Deal.stage_id == stage.id)
        check_stage_removal(stage_ref(stage), count, stage_ref(target) if target else None)
        if count and target is not None:
            deals = await self.session.scalars(select(Deal).where(Deal.stage_id == stage.id))
            await apply_moves(
                self.session,
                self.principal,
                [(deal, stage_ref(stage)) for deal in deals],
                stage_ref(target),
                now=self.clock(),
                lost_reason=lost_reason or f"stage {stage.name!r} removed",
            )
        pipeline_id = stage.pipeline_id
        if await self._has_history(stage.id):
            # Reports still read the deals' past in this stage: keep the row, hide the stage.
            stage.archived_at = self.clock()
            stage.name = f"{stage.name[:80]} (removed #{stage.id})"
        else:
            await self.session.delete(stage)
        await self.session.flush()
        pipeline = await self.get(pipeline_id)
        await self._renumber(list(pipeline.stages))
        return await self.get(pipeline_id)

    async def _has_history(self, stage_id: int) -> bool:
        used = await self.session.scalar(
            select(DealStageChange.id)
            .where(
                or_(
                    DealStageChange.to_stage_id == stage_id,
                    DealStageChange.from_stage_id == stage_id,
                )
            )
            .limit(1)
        )
        return used is not None

    async def _renumber(self, ordered: Sequence[Stage]) -> None:
        for index, stage in enumerate(ordered):
            stage.position = index
        await self.session.flush()

    async def _deal_count(self, condition: ColumnElement[bool]) -> int:
        count = await self.session.scalar(select(func.count(Deal.id)).where(condition))
        return count or 0

    async def _ensure_name_free(self, name: str) -> None:
        clash = await self.session.scalar(
            select(Pipeline.id).where(func.lower(Pipeline.name) == name.lower())
        )
        if clash is not None:
            raise AlreadyTaken(
                f"a pipeline named {name!r} exists", fields=["name"], details={"pipeline_id": clash}
            )


def _pipeline_name(name: str) -> str:
    clean = name.strip()
    if not clean or len(clean) > 100:
        raise InvalidInput("invalid pipeline name", fields={"name": "1 to 100 characters"})
    return clean
