"""Moving deals: to another stage, to another pipeline, and many deals at once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from crmlite.db.models import Deal, Stage
from crmlite.domain.access import may_assign_to_others, sees_deal
from crmlite.domain.clock import Clock
from crmlite.domain.errors import InvalidInput, NotFound, PermissionDenied
from crmlite.domain.principal import Principal
from crmlite.domain.stages import plan_move, resolve_pipeline_target
from crmlite.services.common import require_active_user, utc_now
from crmlite.services.deals import DealService, deal_query
from crmlite.services.pipelines import PipelineService, stage_ref
from crmlite.services.stage_moves import apply_move, history_row, placement, record_history

MAX_BULK = 500


@dataclass(frozen=True, slots=True)
class BulkResult:
    deal_ids: list[int]
    moved: int
    reassigned: int


class DealMoveService:
    """Stage moves for one principal inside one unit of work (the caller commits)."""

    def __init__(self, session: AsyncSession, principal: Principal, *, clock: Clock = utc_now):
        self.session = session
        self.principal = principal
        self.clock = clock
        self.deals = DealService(session, principal, clock=clock)

    async def move(
        self,
        deal_id: int,
        stage_id: int,
        *,
        expected_version: int | None = None,
        lost_reason: str | None = None,
    ) -> Deal:
        """Move a deal to another stage of its pipeline; the change joins its history."""
        deal, target = await self._deal_and_stage(deal_id, stage_id)
        now = self.clock()
        move = plan_move(
            placement(deal, stage_ref(deal.stage)),
            stage_ref(target),
            now=now,
            lost_reason=lost_reason,
            expected_version=expected_version,
        )
        from_stage = deal.stage_id
        apply_move(deal, move, now)
        deal.stage = target
        await self.session.flush()
        if from_stage != target.id:
            await record_history(
                self.session,
                [history_row(deal.id, from_stage, target.id, now, self.principal.user_id)],
            )
        return deal

    async def _deal_and_stage(self, deal_id: int, stage_id: int) -> tuple[Deal, Stage]:
        """The deal (checked as get_for_change does) and the target stage, in one statement."""
        target_stage = aliased(Stage, name="target_stage")
        row = (
            await self.session.execute(
                deal_query()
                .add_columns(target_stage)
                .join(target_stage, target_stage.id == stage_id)
                .where(Deal.id == deal_id)
                .execution_options(populate_existing=True)
            )
        ).first()
        if row is None:
            await self.deals.get_for_change(deal_id)  # NotFound when the deal is the problem
            raise InvalidInput("no such stage", fields={"stage_id": "no such stage"})
        deal, target = row
        self.deals.check_may_change(deal)
        return deal, target

    async def move_to_pipeline(
        self,
        deal_id: int,
        pipeline_id: int,
        *,
        stage_id: int | None = None,
        stage_mapping: Mapping[int, int] | None = None,
        expected_version: int | None = None,
        lost_reason: str | None = None,
    ) -> Deal:
        """Move a deal to another pipeline: to ``stage_id``, the mapped, same-named or first one."""
        deal = await self.deals.get_for_change(deal_id)
        pipeline = await PipelineService(self.session, self.principal).get(pipeline_id)
        target = resolve_pipeline_target(
            stage_ref(deal.stage),
            [stage_ref(stage) for stage in pipeline.stages],
            stage_id=stage_id,
            mapping=stage_mapping,
        )
        now = self.clock()
        move = plan_move(
            placement(deal, stage_ref(deal.stage)),
            target,
            now=now,
            lost_reason=lost_reason,
            expected_version=expected_version,
            allow_other_pipeline=True,
        )
        from_stage = deal.stage_id
        apply_move(deal, move, now)
        await self.session.flush()
        if from_stage != target.id:
            await record_history(
                self.session,
                [history_row(deal.id, from_stage, target.id, now, self.principal.user_id)],
            )
        return await self.deals.get_unchecked(deal_id)

    async def bulk_update(
        self,
        deal_ids: Sequence[int],
        *,
        stage_id: int | None = None,
        owner_id: int | None = None,
        lost_reason: str | None = None,
    ) -> BulkResult:
        """Move and/or reassign many deals in one unit of work: all of them or none.

        Every deal is checked as if changed alone: one the principal may not see makes the whole
        request NotFound (naming the ids), one they see but may not change makes it forbidden.
        """
        ids = list(dict.fromkeys(deal_ids))
        if not ids or len(ids) > MAX_BULK:
            raise InvalidInput("bad deal list", fields={"deal_ids": f"1 to {MAX_BULK} ids"})
        if stage_id is None and owner_id is None:
            raise InvalidInput(
                "nothing to change", fields={"stage_id": "give stage_id or owner_id"}
            )
        deals = {
            d.id: d for d in (await self.session.scalars(deal_query().where(Deal.id.in_(ids))))
        }
        hidden = [
            i
            for i in ids
            if i not in deals
            or not sees_deal(
                self.principal, deals[i].owner_id, in_unsorted=deals[i].stage.is_unsorted
            )
        ]
        if hidden:
            raise NotFound("some deals do not exist", details={"deal_ids": hidden})
        locked = [i for i in ids if not self.principal.may_touch(deals[i].owner_id)]
        if locked:
            raise PermissionDenied(
                "claim these deals before changing them", details={"deal_ids": locked}
            )
        reassigned = 0
        if owner_id is not None:
            if not may_assign_to_others(self.principal) and owner_id != self.principal.user_id:
                raise PermissionDenied("sellers cannot give deals to other users")
            await require_active_user(self.session, owner_id, field="owner_id")
        now = self.clock()
        rows: list[dict[str, object]] = []
        target = await self.session.get(Stage, stage_id) if stage_id is not None else None
        if stage_id is not None and target is None:
            raise InvalidInput("no such stage", fields={"stage_id": "no such stage"})
        for deal_id in ids:
            deal = deals[deal_id]
            moved = False
            if target is not None:
                move = plan_move(
                    placement(deal, stage_ref(deal.stage)),
                    stage_ref(target),
                    now=now,
                    lost_reason=lost_reason,
                )
                if move.changed:
                    moved = True  # apply_move bumps the version and updated_at itself
                    from_stage = deal.stage_id
                    apply_move(deal, move, now)
                    if from_stage != target.id:
                        rows.append(
                            history_row(deal.id, from_stage, target.id, now, self.principal.user_id)
                        )
            if owner_id is not None and deal.owner_id != owner_id:
                deal.owner_id = owner_id
                reassigned += 1
                if not moved:
                    deal.updated_at = now
                    deal.version += 1
        await self.session.flush()
        await record_history(self.session, rows)
        return BulkResult(deal_ids=ids, moved=len(rows), reassigned=reassigned)
