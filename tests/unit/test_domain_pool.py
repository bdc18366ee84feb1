"""The pool's rules, table-driven, no event loop: who returns, who may claim, who rings."""

from __future__ import annotations

import datetime as dt

import pytest

from crmlite.domain.pool import (
    PoolLimitReached,
    PoolPolicy,
    ReclaimTooSoon,
    RingPolicy,
    RingTarget,
    check_claim,
    is_due_to_return,
    ring_target_for_pool_contact,
)

NOW = dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
IDLE = 30 * DAY
POLICY = PoolPolicy(idle=IDLE, max_held=3, reclaim_cooldown=7 * DAY)


@pytest.mark.parametrize(
    ("owned_since", "last_activity", "due"),
    [
        (NOW - 31 * DAY, None, True),  # held a month, never worked
        (NOW - 30 * DAY, None, True),  # exactly idle_days: due
        (NOW - 29 * DAY, None, False),  # not yet
        (NOW - 90 * DAY, NOW - 5 * DAY, False),  # old, but worked last week
        (NOW - 90 * DAY, NOW - 31 * DAY, True),  # worked, then left alone
        (NOW - 10 * DAY, NOW - 60 * DAY, False),  # activity before the owner got it: theirs is new
        (None, None, False),  # the idle clock never started: never taken on a guess
        (NOW + DAY, None, False),  # a clock ahead: not due
    ],
)
def test_due_to_return(
    owned_since: dt.datetime | None, last_activity: dt.datetime | None, due: bool
) -> None:
    assert is_due_to_return(owned_since, last_activity, NOW, IDLE) is due


@pytest.mark.parametrize(
    ("held", "left_at", "error"),
    [
        (0, None, None),
        (2, None, None),  # the third contact is still within max_held = 3
        (3, None, PoolLimitReached),
        (7, None, PoolLimitReached),
        (0, NOW - 6 * DAY, ReclaimTooSoon),  # came back from this seller six days ago
        (0, NOW - 7 * DAY, None),  # the cool-down is over
        (3, NOW - DAY, PoolLimitReached),  # the limit is told first
    ],
)
def test_claim(held: int, left_at: dt.datetime | None, error: type[Exception] | None) -> None:
    if error is None:
        check_claim(held=held, policy=POLICY, left_this_seller_at=left_at, now=NOW)
        return
    with pytest.raises(error) as raised:
        check_claim(held=held, policy=POLICY, left_this_seller_at=left_at, now=NOW)
    if error is PoolLimitReached:
        assert raised.value.details == {"max_held": 3, "held": held}
        assert "3" in str(raised.value)
    else:
        assert raised.value.details["until"] == (left_at + 7 * DAY).isoformat()  # type: ignore[operator]


@pytest.mark.parametrize(
    ("policy", "previous", "active", "heads", "target"),
    [
        (RingPolicy.PREVIOUS_OWNER, 5, {5, 9}, [9], RingTarget(5, "pool-previous-owner")),
        (RingPolicy.PREVIOUS_OWNER, 5, {9}, [9], RingTarget(None, "pool-queue")),  # left
        (RingPolicy.PREVIOUS_OWNER, None, {9}, [9], RingTarget(None, "pool-queue")),
        (RingPolicy.QUEUE, 5, {5, 9}, [9], RingTarget(None, "pool-queue")),
        (RingPolicy.HEAD, 5, {5, 8, 9}, [9, 8], RingTarget(8, "pool-head")),  # lowest id
        (RingPolicy.HEAD, 5, {5, 9}, [8, 9], RingTarget(9, "pool-head")),  # 8 is disabled
        (RingPolicy.HEAD, 5, {5}, [], RingTarget(None, "pool-queue")),
    ],
)
def test_ring_target(
    policy: RingPolicy, previous: int | None, active: set[int], heads: list[int], target: RingTarget
) -> None:
    assert (
        ring_target_for_pool_contact(
            policy, previous_owner_id=previous, active_user_ids=frozenset(active), head_ids=heads
        )
        == target
    )
