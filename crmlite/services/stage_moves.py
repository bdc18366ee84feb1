"""Applying stage moves to deals: the fields a move sets and the history row it appends."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Deal, DealStageChange
from crmlite.domain.principal import Principal
from crmlite.domain.stages import DealPlacement, StageMove, StageRef, plan_move
from crmlite.services.stage_entries import note_stage_entries


def placement(deal: Deal, stage: StageRef) -> DealPlacement:
    return DealPlacement(
        stage=stage, version=deal.version, closed_at=deal.closed_at, lost_reason=deal.lost_reason
    )


def apply_move(deal: Deal, move: StageMove, now: dt.datetime) -> None:
    """Set the deal's fields for ``move``; the caller records history and flushes."""
    if not move.changed:
        return
    if move.to_stage.id != deal.stage_id:
        deal.stage_entered_at = now
    deal.stage_id = move.to_stage.id
    deal.pipeline_id = move.to_stage.pipeline_id
    deal.closed_at = move.closed_at
    deal.lost_reason = move.lost_reason
    deal.updated_at = now
    deal.version += 1


def history_row(
    deal_id: int, from_stage_id: int | None, to_stage_id: int, now: dt.datetime, by: int | None
) -> dict[str, object]:
    return {
        "deal_id": deal_id,
        "from_stage_id": from_stage_id,
        "to_stage_id": to_stage_id,
        "changed_at": now,
        "changed_by_id": by,
    }


STAGE_CHANGES = cast(Table, DealStageChange.__table__)
_INSERT_CHANGES = insert(STAGE_CHANGES)


async def record_history(session: AsyncSession, rows: Sequence[dict[str, object]]) -> None:
    """Append stage changes in one executemany (a Core insert: no ORM objects to track)."""
    if rows:
        await session.execute(_INSERT_CHANGES, list(rows))
        # Every stage entry passes here: the stage robots hear of it once this unit commits.
        note_stage_entries(session.sync_session, (cast(int, row["deal_id"]) for row in rows))


async def apply_moves(
    session: AsyncSession,
    principal: Principal,
    deals: Sequence[tuple[Deal, StageRef]],
    target: StageRef,
    *,
    now: dt.datetime,
    lost_reason: str | None = None,
    allow_other_pipeline: bool = False,
) -> int:
    """Move every deal (with its current stage) to ``target``; return how many changed."""
    rows: list[dict[str, object]] = []
    for deal, current in deals:
        move = plan_move(
            placement(deal, current),
            target,
            now=now,
            lost_reason=lost_reason,
            allow_other_pipeline=allow_other_pipeline,
        )
        if not move.changed:
            continue
        from_stage = deal.stage_id
        apply_move(deal, move, now)
        if from_stage != target.id:
            rows.append(history_row(deal.id, from_stage, target.id, now, principal.user_id))
    await session.flush()
    await record_history(session, rows)
    return len(rows)
