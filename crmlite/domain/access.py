"""Who may see and change what: the RBAC rules every service applies, in one place.

A seller works on what they own; heads and admins on everything. Someone else's thing reads as
"not found", never "forbidden", so its existence is not leaked. One exception, by design: a deal
nobody owns that waits in a pipeline's Unsorted stage (typically made from a call) is visible to
every seller so one of them can claim it; until claimed, only heads and admins may change it.
"""

from __future__ import annotations

from crmlite.domain.errors import NotFound, PermissionDenied
from crmlite.domain.principal import Principal


def sees_owned(principal: Principal, owner_id: int | None) -> bool:
    """Contacts and deals: the owner, heads and admins."""
    return principal.may_touch(owner_id)


def sees_deal(principal: Principal, owner_id: int | None, *, in_unsorted: bool) -> bool:
    """Own deals, everything for heads, plus unclaimed deals waiting in an Unsorted stage."""
    return principal.may_touch(owner_id) or (owner_id is None and in_unsorted)


def check_may_change_deal(
    principal: Principal, deal_id: int, owner_id: int | None, *, in_unsorted: bool
) -> None:
    """NotFound when the principal does not see the deal, forbidden until they claim it."""
    if not sees_deal(principal, owner_id, in_unsorted=in_unsorted):
        raise NotFound(f"no deal {deal_id}", details={"deal_id": deal_id})
    if not principal.may_touch(owner_id):
        raise PermissionDenied("claim this deal before changing it", details={"deal_id": deal_id})


def may_claim_deal(principal: Principal, owner_id: int | None, *, in_unsorted: bool) -> bool:
    """A seller may take an unowned deal from Unsorted; heads and admins may take any."""
    if principal.user_id is None:
        return False
    return principal.sees_everything or (owner_id is None and in_unsorted)


def may_assign_to_others(principal: Principal) -> bool:
    """Only heads and admins hand contacts, deals and tasks to someone else."""
    return principal.sees_everything


def may_edit_pipelines(principal: Principal) -> bool:
    """Heads and admins shape pipelines and stages; sellers read them."""
    return principal.sees_everything


def sees_task(
    principal: Principal,
    assignee_id: int | None,
    author_id: int | None,
    parent_owner_id: int | None,
) -> bool:
    """A task is seen by its assignee, its author, the owner of what it is about, heads, admins."""
    if principal.sees_everything:
        return True
    me = principal.user_id
    return me is not None and me in (assignee_id, author_id, parent_owner_id)
