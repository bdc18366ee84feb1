"""Pipelines and stages: stage kinds, what a stage move does to a deal, how stages are edited."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from crmlite.domain.errors import Conflict, InvalidInput

UNSORTED_NAME = "Unsorted"
MAX_LOST_REASON = 200


class HasUnsortedFlag(Protocol):
    @property
    def is_unsorted(self) -> bool: ...


_S = TypeVar("_S", bound=HasUnsortedFlag)


class StageKind(enum.StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"

    @property
    def closed(self) -> bool:
        return self is not StageKind.OPEN


class DealSource(enum.StrEnum):
    CALL = "call"
    MANUAL = "manual"
    IMPORT = "import"


@dataclass(frozen=True, slots=True)
class StageRef:
    """What a move needs to know of a stage."""

    id: int
    pipeline_id: int
    name: str
    kind: StageKind
    is_unsorted: bool = False
    archived: bool = False


def _check_target(target: StageRef) -> None:
    if target.archived:
        raise InvalidInput("the stage was removed", fields={"stage_id": "a removed stage"})


@dataclass(frozen=True, slots=True)
class DealPlacement:
    """Where a deal is now, as far as a move is concerned."""

    stage: StageRef
    version: int
    closed_at: dt.datetime | None
    lost_reason: str | None


@dataclass(frozen=True, slots=True)
class StageMove:
    """The outcome of a move: the new stage and the fields it sets. ``changed`` False is a no-op."""

    to_stage: StageRef
    changed: bool
    closed_at: dt.datetime | None
    lost_reason: str | None


class StaleVersion(Conflict):
    """The deal changed since the client read it (optimistic concurrency)."""

    slug = "stale-version"


class StageNotEmpty(Conflict):
    """A stage holding deals cannot go (or change kind) without saying where they move."""

    slug = "stage-not-empty"


def check_version(current: int, expected: int | None) -> None:
    """Refuse a change made against a stale copy of the deal (optimistic concurrency)."""
    if expected is not None and expected != current:
        raise StaleVersion(
            "the deal was changed meanwhile; reload it and try again",
            details={"expected_version": expected, "current_version": current},
        )


def plan_move(
    placement: DealPlacement,
    target: StageRef,
    *,
    now: dt.datetime,
    lost_reason: str | None = None,
    expected_version: int | None = None,
    allow_other_pipeline: bool = False,
) -> StageMove:
    """Decide what moving a deal to ``target`` does; raise when a rule forbids it."""
    check_version(placement.version, expected_version)
    _check_target(target)
    if target.pipeline_id != placement.stage.pipeline_id and not allow_other_pipeline:
        raise InvalidInput(
            "the stage belongs to another pipeline; move the deal to that pipeline instead",
            fields={"stage_id": "not a stage of the deal's pipeline"},
        )
    reason = (lost_reason or "").strip() or None
    if reason is not None and len(reason) > MAX_LOST_REASON:
        raise InvalidInput(
            "lost reason too long", fields={"lost_reason": f"at most {MAX_LOST_REASON} characters"}
        )
    if target.id == placement.stage.id:
        if target.kind is StageKind.LOST and reason and reason != placement.lost_reason:
            return StageMove(target, True, placement.closed_at, reason)
        return StageMove(target, False, placement.closed_at, placement.lost_reason)
    if target.kind is StageKind.LOST:
        if placement.stage.kind is StageKind.LOST:
            reason = reason or placement.lost_reason
        if reason is None:
            raise InvalidInput(
                "a lost reason is required to move a deal to a lost stage",
                fields={"lost_reason": "required when moving to a lost stage"},
            )
    else:
        reason = None
    if not target.kind.closed:
        closed_at = None
    elif placement.stage.kind is target.kind and placement.closed_at is not None:
        closed_at = placement.closed_at  # won -> another won stage: still closed since then
    else:
        closed_at = now
    return StageMove(target, True, closed_at, reason)


def resolve_pipeline_target(
    current: StageRef,
    target_stages: Sequence[StageRef],
    *,
    stage_id: int | None = None,
    mapping: Mapping[int, int] | None = None,
) -> StageRef:
    """Pick the stage of another pipeline a deal lands in: explicit, mapped, same name, or first."""
    by_id = {stage.id: stage for stage in target_stages}
    if not target_stages:
        raise InvalidInput("the target pipeline has no stages", fields={"pipeline_id": "no stages"})
    chosen = stage_id if stage_id is not None else (mapping or {}).get(current.id)
    if chosen is not None:
        if chosen not in by_id:
            raise InvalidInput(
                "the target stage is not in the target pipeline",
                fields={"stage_id": "not a stage of the target pipeline"},
            )
        return by_id[chosen]
    for stage in target_stages:
        if stage.name.casefold() == current.name.casefold():
            return stage
    ordered = order_stages(target_stages)
    return ordered[0]


def order_stages(stages: Sequence[_S]) -> list[_S]:
    """Unsorted first, then the stages as given (already in position order)."""
    return sorted(stages, key=lambda stage: not stage.is_unsorted)


def validate_stage_fields(name: str, kind: str, probability: int) -> tuple[str, StageKind, int]:
    """Check a stage's editable fields; return them cleaned."""
    clean = name.strip()
    fields: dict[str, str] = {}
    if not clean or len(clean) > 100:
        fields["name"] = "1 to 100 characters"
    try:
        stage_kind = StageKind(kind)
    except ValueError:
        fields["kind"] = "one of open, won, lost"
        stage_kind = StageKind.OPEN
    if not 0 <= probability <= 100:
        fields["probability"] = "a percentage from 0 to 100"
    if fields:
        raise InvalidInput("invalid stage", fields=fields)
    return clean, stage_kind, probability


def plan_reorder(
    current_ids: Sequence[int], requested_ids: Sequence[int], unsorted_id: int | None
) -> list[int]:
    """Check a requested stage order: every stage exactly once, Unsorted kept first."""
    if sorted(current_ids) != sorted(requested_ids):
        raise InvalidInput(
            "the new order must list every stage of the pipeline exactly once",
            fields={"stage_ids": "must be a permutation of the pipeline's stage ids"},
            details={"stage_ids": list(current_ids)},
        )
    if unsorted_id is not None and requested_ids[0] != unsorted_id:
        raise InvalidInput(
            "the Unsorted stage stays first", fields={"stage_ids": "Unsorted must come first"}
        )
    return list(requested_ids)


def check_stage_removal(stage: StageRef, deal_count: int, move_to: StageRef | None) -> None:
    """Refuse removing Unsorted, or a stage holding deals without a stage to move them to."""
    if stage.is_unsorted:
        raise Conflict("the Unsorted stage cannot be removed; calls land there")
    if deal_count == 0:
        return
    if move_to is None:
        raise StageNotEmpty(
            f"the stage holds {deal_count} deals; say which stage to move them to",
            details={"deal_count": deal_count, "required": "move_to_stage_id"},
        )
    if move_to.id == stage.id or move_to.pipeline_id != stage.pipeline_id:
        raise InvalidInput(
            "deals must move to another stage of the same pipeline",
            fields={"move_to_stage_id": "another stage of the same pipeline"},
        )


def plan_placement(target: StageRef, *, now: dt.datetime, lost_reason: str | None) -> StageMove:
    """The first placement of a new deal: the same rules as a move, from nowhere."""
    _check_target(target)
    reason = (lost_reason or "").strip() or None
    if target.kind is StageKind.LOST and reason is None:
        raise InvalidInput(
            "a lost reason is required to put a deal in a lost stage",
            fields={"lost_reason": "required when the stage is lost"},
        )
    if reason is not None and len(reason) > MAX_LOST_REASON:
        raise InvalidInput(
            "lost reason too long", fields={"lost_reason": f"at most {MAX_LOST_REASON} characters"}
        )
    return StageMove(
        to_stage=target,
        changed=True,
        closed_at=now if target.kind.closed else None,
        lost_reason=reason if target.kind is StageKind.LOST else None,
    )
