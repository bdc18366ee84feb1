"""Stage moves and stage editing, table-driven, no event loop."""

from __future__ import annotations

import datetime as dt

import pytest

from crmlite.domain.errors import Conflict, InvalidInput
from crmlite.domain.stages import (
    DealPlacement,
    StageKind,
    StageNotEmpty,
    StageRef,
    StaleVersion,
    check_stage_removal,
    order_stages,
    plan_move,
    plan_placement,
    plan_reorder,
    resolve_pipeline_target,
    validate_stage_fields,
)

NOW = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
EARLIER = NOW - dt.timedelta(days=3)
UNSORTED = StageRef(1, 10, "Unsorted", StageKind.OPEN, is_unsorted=True)
PROPOSAL = StageRef(2, 10, "Proposal", StageKind.OPEN)
WON = StageRef(3, 10, "Won", StageKind.WON)
PAID = StageRef(4, 10, "Paid", StageKind.WON)
LOST = StageRef(5, 10, "Lost", StageKind.LOST)
OTHER = StageRef(9, 20, "Proposal", StageKind.OPEN)
GONE = StageRef(6, 10, "Old", StageKind.OPEN, archived=True)


def at(
    stage: StageRef, closed_at: dt.datetime | None = None, reason: str | None = None
) -> DealPlacement:
    return DealPlacement(stage=stage, version=3, closed_at=closed_at, lost_reason=reason)


@pytest.mark.parametrize(
    ("placement", "target", "reason", "changed", "closed_at", "lost_reason"),
    [
        (at(UNSORTED), PROPOSAL, None, True, None, None),
        (at(PROPOSAL), WON, None, True, NOW, None),
        (at(WON, EARLIER), PAID, None, True, EARLIER, None),
        (at(WON, EARLIER), PROPOSAL, None, True, None, None),
        (at(PROPOSAL), LOST, " no budget ", True, NOW, "no budget"),
        (at(LOST, EARLIER, "no budget"), WON, None, True, NOW, None),
        (at(PROPOSAL), PROPOSAL, None, False, None, None),
        (at(LOST, EARLIER, "a"), LOST, "b", True, EARLIER, "b"),
        (at(PROPOSAL), PROPOSAL, "ignored", False, None, None),
    ],
)
def test_plan_move(
    placement: DealPlacement,
    target: StageRef,
    reason: str | None,
    changed: bool,
    closed_at: dt.datetime | None,
    lost_reason: str | None,
) -> None:
    move = plan_move(placement, target, now=NOW, lost_reason=reason)
    assert (move.changed, move.closed_at, move.lost_reason) == (changed, closed_at, lost_reason)
    assert move.to_stage == target


@pytest.mark.parametrize(
    ("placement", "target", "kwargs", "error", "field"),
    [
        (at(PROPOSAL), LOST, {}, InvalidInput, "lost_reason"),
        (at(PROPOSAL), LOST, {"lost_reason": "  "}, InvalidInput, "lost_reason"),
        (at(PROPOSAL), LOST, {"lost_reason": "x" * 201}, InvalidInput, "lost_reason"),
        (at(PROPOSAL), OTHER, {}, InvalidInput, "stage_id"),
        (at(PROPOSAL), GONE, {}, InvalidInput, "stage_id"),
        (at(PROPOSAL), WON, {"expected_version": 2}, StaleVersion, None),
    ],
)
def test_plan_move_refusals(
    placement: DealPlacement,
    target: StageRef,
    kwargs: dict[str, object],
    error: type[Exception],
    field: str | None,
) -> None:
    with pytest.raises(error) as caught:
        plan_move(placement, target, now=NOW, **kwargs)  # type: ignore[arg-type]
    if field is not None:
        assert isinstance(caught.value, InvalidInput)
        assert field in caught.value.fields


def test_other_pipeline_when_allowed() -> None:
    move = plan_move(at(PROPOSAL), OTHER, now=NOW, allow_other_pipeline=True)
    assert move.changed


def test_first_placement() -> None:
    assert plan_placement(WON, now=NOW, lost_reason=None).closed_at == NOW
    assert plan_placement(PROPOSAL, now=NOW, lost_reason="x").lost_reason is None
    with pytest.raises(InvalidInput):
        plan_placement(LOST, now=NOW, lost_reason=None)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"stage_id": 9}, OTHER),
        ({"mapping": {2: 9}}, OTHER),
        ({}, OTHER),  # same name
    ],
)
def test_pipeline_target(kwargs: dict[str, object], expected: StageRef) -> None:
    targets = [StageRef(8, 20, "Unsorted", StageKind.OPEN, is_unsorted=True), OTHER]
    assert resolve_pipeline_target(PROPOSAL, targets, **kwargs) == expected  # type: ignore[arg-type]


def test_pipeline_target_falls_back_to_unsorted_and_refuses_strangers() -> None:
    intake = StageRef(8, 20, "Unsorted", StageKind.OPEN, is_unsorted=True)
    assert resolve_pipeline_target(WON, [OTHER, intake]) == intake
    with pytest.raises(InvalidInput):
        resolve_pipeline_target(WON, [OTHER, intake], stage_id=3)


def test_order_puts_unsorted_first() -> None:
    assert order_stages([PROPOSAL, UNSORTED, WON]) == [UNSORTED, PROPOSAL, WON]


def test_reorder_rules() -> None:
    assert plan_reorder([1, 2, 3], [1, 3, 2], 1) == [1, 3, 2]
    with pytest.raises(InvalidInput):
        plan_reorder([1, 2, 3], [1, 3], 1)
    with pytest.raises(InvalidInput):
        plan_reorder([1, 2, 3], [2, 1, 3], 1)


def test_removal_rules() -> None:
    check_stage_removal(PROPOSAL, 0, None)
    check_stage_removal(PROPOSAL, 5, WON)
    with pytest.raises(Conflict):
        check_stage_removal(UNSORTED, 0, None)
    with pytest.raises(StageNotEmpty) as caught:
        check_stage_removal(PROPOSAL, 5, None)
    assert caught.value.details["deal_count"] == 5
    with pytest.raises(InvalidInput):
        check_stage_removal(PROPOSAL, 5, OTHER)
    with pytest.raises(InvalidInput):
        check_stage_removal(PROPOSAL, 5, PROPOSAL)


@pytest.mark.parametrize(
    ("name", "kind", "probability", "fields"),
    [("", "open", 0, {"name"}), ("A", "maybe", 0, {"kind"}), ("A", "won", 101, {"probability"})],
)
def test_stage_fields(name: str, kind: str, probability: int, fields: set[str]) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_stage_fields(name, kind, probability)
    assert set(caught.value.fields) == fields
    assert validate_stage_fields(" Won ", "won", 100) == ("Won", StageKind.WON, 100)
