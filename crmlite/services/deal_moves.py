"""Moving deals: to another stage, to another pipeline, and many deals at once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, cast

from sqlalchemy import Connection, Table, insert, inspect, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from crmlite.db.models import Deal, Stage
from crmlite.db.one_hop import OneHop
from crmlite.domain.access import check_may_change_deal, may_assign_to_others, sees_deal
from crmlite.domain.clock import Clock
from crmlite.domain.errors import InvalidInput, NotFound, PermissionDenied
from crmlite.domain.principal import Principal
from crmlite.domain.stages import (
    DealPlacement,
    StageKind,
    StageRef,
    StaleVersion,
    plan_move,
    resolve_pipeline_target,
)
from crmlite.services.common import require_active_user, utc_now
from crmlite.services.deals import DealService, deal_query
from crmlite.services.pipelines import PipelineService, stage_ref
from crmlite.services.stage_moves import (
    STAGE_CHANGES,
    apply_move,
    history_row,
    placement,
    record_history,
)

MAX_BULK = 500
# The hot move path speaks Core (no ORM entity loading or unit of work). Aliases are built once:
# a fresh alias per call would make every move's statement new to the SQL cache.
DEALS = cast(Table, Deal.__table__)
STAGES = cast(Table, Stage.__table__)
_CURRENT_STAGE = STAGES.alias("current_stage")
_TARGET_STAGE = STAGES.alias("target_stage")


@dataclass(frozen=True, slots=True)
class MovedDeal:
    """Where a move left the deal (``changed`` False: it already was there)."""

    id: int
    stage_id: int
    pipeline_id: int
    version: int
    closed_at: dt.datetime | None
    changed: bool


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
    ) -> MovedDeal:
        """Move a deal to another stage of its pipeline, inside this session's unit of work.

        A ``Deal`` of this session's identity map is kept in step. For a move that is a request
        of its own (the board), :class:`StageMover` does the same in one hop.
        """
        if self.session.dirty or self.session.new:
            await self.session.flush()  # Core reads and writes below must see pending edits
        request = MoveRequest(
            self.principal, deal_id, stage_id, self.clock(), expected_version, lost_reason
        )
        moved, written = await self.session.run_sync(
            lambda sync_session: move_deal(sync_session.connection(), request)
        )
        if written:
            self._keep_loaded_deal_in_step(deal_id, written)
        return moved

    def _keep_loaded_deal_in_step(self, deal_id: int, values: dict[str, object]) -> None:
        """Give a ``Deal`` of this session's identity map the values just written."""
        loaded = self.session.identity_map.get(identity_key(Deal, (deal_id,)))
        if loaded is None:
            return
        for key, value in values.items():
            set_committed_value(loaded, key, value)
        if "stage" in inspect(loaded).dict:
            self.session.expire(loaded, ["stage"])  # it names the old stage

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
        for deal_id in sorted(ids):  # one lock order for every bulk change (PostgreSQL)
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


@dataclass(frozen=True, slots=True)
class MoveRequest:
    """Who moves which deal where, and when."""

    principal: Principal
    deal_id: int
    stage_id: int
    now: dt.datetime
    expected_version: int | None = None
    lost_reason: str | None = None


class StageMover:
    """A stage move that is a unit of work of its own (the board's drag and drop): one hop.

    The same rules as :meth:`DealMoveService.move`, committed on return. On SQLite the read, the
    guarded update, the history row and the commit run in one worker-thread call instead of a
    dozen aiosqlite hops.
    """

    def __init__(self, units: OneHop, principal: Principal, *, clock: Clock = utc_now) -> None:
        self.units = units
        self.principal = principal
        self.clock = clock

    async def move(
        self,
        deal_id: int,
        stage_id: int,
        *,
        expected_version: int | None = None,
        lost_reason: str | None = None,
    ) -> MovedDeal:
        """Move a deal to another stage of its pipeline and commit; the change joins its history."""
        request = MoveRequest(
            self.principal, deal_id, stage_id, self.clock(), expected_version, lost_reason
        )
        moved, _ = await self.units.write(lambda connection: move_deal(connection, request))
        return moved


def move_deal(
    connection: Connection, request: MoveRequest
) -> tuple[MovedDeal, dict[str, object] | None]:
    """Move one deal on ``connection`` (the caller commits); return it and the values written.

    One read, one guarded UPDATE (its ``version`` must still be the one read, so two concurrent
    moves cannot both win), one history row.
    """
    deal_id, principal = request.deal_id, request.principal
    row = _placement(connection, deal_id, request.stage_id)
    if row is None:
        _raise_missing(connection, principal, deal_id)
    owner_id, version, closed_at, reason_now = row[0], row[1], row[2], row[3]
    current = StageRef(row[4], row[5], row[6], StageKind(row[7]), row[8])
    target = StageRef(
        row[9], row[10], row[11], StageKind(row[12]), row[13], archived=row[14] is not None
    )
    check_may_change_deal(principal, deal_id, owner_id, in_unsorted=current.is_unsorted)
    now = request.now
    move = plan_move(
        DealPlacement(current, version, closed_at, reason_now),
        target,
        now=now,
        lost_reason=request.lost_reason,
        expected_version=request.expected_version,
    )
    if not move.changed:
        return MovedDeal(deal_id, current.id, current.pipeline_id, version, closed_at, False), None
    # Only the columns that change: every index holding a SET column is rewritten.
    values: dict[str, object] = {"stage_id": target.id, "updated_at": now, "version": version + 1}
    if target.pipeline_id != current.pipeline_id:
        values["pipeline_id"] = target.pipeline_id
    if move.closed_at != closed_at:
        values["closed_at"] = move.closed_at
    if move.lost_reason != reason_now:
        values["lost_reason"] = move.lost_reason
    if target.id != current.id:
        values["stage_entered_at"] = now
    result = connection.execute(
        update(DEALS).where(DEALS.c.id == deal_id, DEALS.c.version == version).values(values)
    )
    if result.rowcount != 1:
        raise StaleVersion(
            "the deal was changed meanwhile; reload it and try again",
            details={"expected_version": version},
        )
    if target.id != current.id:
        connection.execute(
            insert(STAGE_CHANGES),
            [history_row(deal_id, current.id, target.id, now, principal.user_id)],
        )
    moved = MovedDeal(deal_id, target.id, target.pipeline_id, version + 1, move.closed_at, True)
    return moved, values


def _placement(connection: Connection, deal_id: int, stage_id: int) -> tuple[Any, ...] | None:
    """The deal's fields a move needs, its stage and the target stage, in one statement."""
    current, target = _CURRENT_STAGE, _TARGET_STAGE
    row = connection.execute(
        select(
            DEALS.c.owner_id,
            DEALS.c.version,
            DEALS.c.closed_at,
            DEALS.c.lost_reason,
            current.c.id,
            current.c.pipeline_id,
            current.c.name,
            current.c.kind,
            current.c.is_unsorted,
            target.c.id,
            target.c.pipeline_id,
            target.c.name,
            target.c.kind,
            target.c.is_unsorted,
            target.c.archived_at,
        )
        .select_from(
            DEALS.join(current, current.c.id == DEALS.c.stage_id).join(
                target, target.c.id == stage_id
            )
        )
        .where(DEALS.c.id == deal_id)
    ).first()
    return None if row is None else tuple(row)


def _raise_missing(connection: Connection, principal: Principal, deal_id: int) -> NoReturn:
    """No row: NotFound when the deal is the problem (absent or not theirs), else the stage."""
    found = connection.execute(
        select(DEALS.c.owner_id, STAGES.c.is_unsorted)
        .join(STAGES, STAGES.c.id == DEALS.c.stage_id)
        .where(DEALS.c.id == deal_id)
    ).first()
    if found is None:
        raise NotFound(f"no deal {deal_id}", details={"deal_id": deal_id})
    check_may_change_deal(principal, deal_id, found[0], in_unsorted=found[1])
    raise InvalidInput("no such stage", fields={"stage_id": "no such stage"})
