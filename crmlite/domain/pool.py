"""The public pool (公海): when a held contact goes back to the team, who may take it, who rings.

A contact has an owner or sits in the pool. It returns to the pool when its owner has done nothing
with it for ``idle``: the clock starts when the owner got the contact (``owned_since``) and restarts
at the owner's last activity with it. A seller may claim from the pool up to ``max_held`` contacts,
but not a contact that came back from them less than ``reclaim_cooldown`` ago. When a pool contact
calls, ``ring`` says who gets the call: its previous owner, whoever answers the queue, or a head.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from crmlite.domain.errors import Conflict

IDLE_REASON = "idle"
"""The reason recorded when the idle rule returns a contact (a release records the seller's)."""


class PoolEventKind(enum.StrEnum):
    RETURNED = "returned"  # the idle rule took it back from its owner
    RELEASED = "released"  # its owner gave it up, with a reason
    CLAIMED = "claimed"  # a seller took it from the pool
    ASSIGNED = "assigned"  # a head gave it from the pool to a seller


LEFT_AN_OWNER = (PoolEventKind.RETURNED, PoolEventKind.RELEASED)
"""The events that put a contact into the pool (their ``from`` user is its previous owner)."""


class RingPolicy(enum.StrEnum):
    PREVIOUS_OWNER = "previous_owner"
    QUEUE = "queue"
    HEAD = "head"


@dataclass(frozen=True, slots=True)
class PoolPolicy:
    """The ``[pool]`` settings, as the rules read them."""

    idle: dt.timedelta = dt.timedelta(days=30)
    max_held: int = 200
    reclaim_cooldown: dt.timedelta = dt.timedelta(days=7)
    ring: RingPolicy = RingPolicy.PREVIOUS_OWNER


class PoolLimitReached(Conflict):
    """The seller already holds as many contacts as ``[pool] max_held`` allows."""

    slug = "pool-limit-reached"


class ReclaimTooSoon(Conflict):
    """The contact came back from this seller less than ``reclaim_cooldown`` ago."""

    slug = "reclaim-cooldown"


class AlreadyClaimed(Conflict):
    """Someone else took the contact first, or it is not in the pool at all."""

    slug = "already-claimed"


class NotHeld(Conflict):
    """Only a contact somebody holds can be released."""

    slug = "not-held"


def idle_clock_start(owned_since: dt.datetime, last_activity: dt.datetime | None) -> dt.datetime:
    """When the owner last showed interest: the later of getting the contact and working it."""
    if last_activity is None or last_activity < owned_since:
        return owned_since
    return last_activity


def is_due_to_return(
    owned_since: dt.datetime | None,
    last_activity: dt.datetime | None,
    now: dt.datetime,
    idle: dt.timedelta,
) -> bool:
    """True when the owner has left the contact alone for ``idle`` or longer.

    A contact whose idle clock never started (no ``owned_since``) is not due: nobody can say how
    long it has been held, so it is never taken on a guess.
    """
    if owned_since is None:
        return False
    return now - idle_clock_start(owned_since, last_activity) >= idle


def activity_cutoff(now: dt.datetime, idle: dt.timedelta) -> dt.datetime:
    """Activity at or after this instant keeps a contact with its owner."""
    return now - idle


def check_claim(
    *,
    held: int,
    policy: PoolPolicy,
    left_this_seller_at: dt.datetime | None,
    now: dt.datetime,
) -> None:
    """Refuse a claim over the seller's limit, or of a contact that just left them."""
    if held >= policy.max_held:
        raise PoolLimitReached(
            f"you already hold {held} contacts; the limit is {policy.max_held}",
            details={"max_held": policy.max_held, "held": held},
        )
    if left_this_seller_at is not None:
        until = left_this_seller_at + policy.reclaim_cooldown
        if now < until:
            raise ReclaimTooSoon(
                "this contact came back from you recently; it may be claimed again later",
                details={
                    "until": until.isoformat(),
                    "cooldown_days": policy.reclaim_cooldown.days,
                },
            )


@dataclass(frozen=True, slots=True)
class RingTarget:
    """Who should get a pool contact's call: a user, or nobody in particular (the queue)."""

    user_id: int | None
    via: str  # "pool-previous-owner", "pool-head" or "pool-queue"


def ring_target_for_pool_contact(
    policy: RingPolicy,
    *,
    previous_owner_id: int | None,
    active_user_ids: frozenset[int],
    head_ids: Sequence[int],
) -> RingTarget:
    """Who rings for a pool contact; falls back to the queue when the named person is gone."""
    if policy is RingPolicy.PREVIOUS_OWNER:
        if previous_owner_id is not None and previous_owner_id in active_user_ids:
            return RingTarget(previous_owner_id, "pool-previous-owner")
    elif policy is RingPolicy.HEAD:
        head = next((h for h in sorted(head_ids) if h in active_user_ids), None)
        if head is not None:
            return RingTarget(head, "pool-head")
    return RingTarget(None, "pool-queue")
