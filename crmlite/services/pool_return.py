"""The idle return: contacts whose owner left them alone for ``[pool] idle_days`` go to the pool.

What counts as the owner's activity with a contact (anything else, a colleague's note, an
unanswered call nobody handled, does not keep the contact):
- a note or a call the owner wrote on the contact or on one of its deals (``author_id``),
- a call the owner handled as the agent (``agent_id``),
- a task on the contact the owner completed (assignee, at ``done_at``),
- a stage move the owner made on one of the contact's deals (``deal_stage_changes``).

Cheap on a large base: candidates are only contacts held since before the cut-off, and each one's
activity is read through the per-contact index of activities and the per-deal index of stage
changes. Each batch returns in one conditional UPDATE that checks every guard again (still held
since before the cut-off, no activity since), committed with its deals and its events, so a pass
cut short and run again returns nobody twice, and a contact claimed or worked meanwhile is left
alone.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, insert, or_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.selectable import ScalarSelect

from crmlite.db.models import Activity, Contact, ContactPoolEvent, Deal, DealStageChange, Stage
from crmlite.domain.pool import (
    IDLE_REASON,
    PoolEventKind,
    activity_cutoff,
    is_due_to_return,
)

BATCH = 500  # contact ids per window: one read, then one guarded UPDATE of the due ones


@dataclass(frozen=True, slots=True)
class HeldContact:
    contact_id: int
    owner_id: int | None  # None only when the owner's user row was deleted (ON DELETE SET NULL)
    owned_since: dt.datetime | None
    last_activity: dt.datetime | None


@dataclass(frozen=True, slots=True)
class ReturnPass:
    """What one pass did: contacts looked at, contacts returned, deals that went with them."""

    examined: int = 0
    returned: int = 0
    deals: int = 0


_At = ScalarSelect[Any]


def _owner_activity_at() -> tuple[_At, _At]:
    """Correlated scalar subqueries: the owner's last activity on a contact, and last stage move."""
    on_contact = (
        select(
            func.max(case((Activity.kind == "task", Activity.done_at), else_=Activity.created_at))
        )
        .where(
            Activity.contact_id == Contact.id,
            or_(
                and_(Activity.kind.in_(("note", "call")), Activity.author_id == Contact.owner_id),
                and_(Activity.kind == "call", Activity.agent_id == Contact.owner_id),
                and_(
                    Activity.kind == "task",
                    Activity.assignee_id == Contact.owner_id,
                    Activity.done_at.is_not(None),
                ),
            ),
        )
        .correlate(Contact)
        .scalar_subquery()
    )
    moved = (
        select(func.max(DealStageChange.changed_at))
        .join(Deal, Deal.id == DealStageChange.deal_id)
        .where(Deal.contact_id == Contact.id, DealStageChange.changed_by_id == Contact.owner_id)
        .correlate(Contact)
        .scalar_subquery()
    )
    return on_contact, moved


async def held_since_before(
    session: AsyncSession,
    cutoff: dt.datetime,
    *,
    after_id: int = 0,
    up_to_id: int | None = None,
) -> list[HeldContact]:
    """Contacts held since before ``cutoff`` (ids in ``(after_id, up_to_id]``), with activity."""
    on_contact, moved = _owner_activity_at()
    # A window of ids is a primary-key range scan whatever the planner's statistics say; an
    # "owner_id IS NOT NULL ... ORDER BY id LIMIT n" may walk another index and sort every batch
    # instead, quadratic over a pass.
    window = [Contact.owned_since <= cutoff, Contact.id > after_id]
    if up_to_id is not None:
        window.append(Contact.id <= up_to_id)
    rows = await session.execute(
        select(Contact.id, Contact.owner_id, Contact.owned_since, on_contact, moved)
        .where(*window)
        .order_by(Contact.id)
    )
    found = []
    for contact_id, owner_id, owned_since, last_on_contact, last_move in rows:
        times = [t for t in (last_on_contact, last_move) if t is not None]
        found.append(
            HeldContact(
                int(contact_id),
                int(owner_id) if owner_id is not None else None,
                owned_since,
                _utc(max(times)) if times else None,
            )
        )
    return found


def _utc(value: dt.datetime | str) -> dt.datetime:
    # A max() over a CASE may come back without the column's type on SQLite: naive UTC text.
    if isinstance(value, str):
        value = dt.datetime.fromisoformat(value)
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


async def move_to_pool(
    session: AsyncSession,
    *,
    contact_id: int,
    owner_id: int,
    owned_since: dt.datetime | None,
    kind: PoolEventKind,
    reason: str,
    by_user_id: int | None,
    now: dt.datetime,
) -> int | None:
    """Take the contact from ``owner_id`` if it is still theirs; None when it was not.

    Its open deals held by the same owner go with it. The caller commits.
    """
    guard = [Contact.id == contact_id, Contact.owner_id == owner_id]
    if owned_since is not None:
        guard.append(Contact.owned_since == owned_since)
    taken = await session.execute(
        update(Contact)
        .where(*guard)
        .values(owner_id=None, owned_since=None, pooled_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:  # type: ignore[attr-defined]
        return None
    deals = await _free_open_deals(session, [(contact_id, owner_id)], now)
    session.add(
        ContactPoolEvent(
            contact_id=contact_id,
            kind=kind.value,
            from_user_id=owner_id,
            by_user_id=by_user_id,
            reason=reason,
            at=now,
        )
    )
    await session.flush()
    return deals


async def _free_open_deals(
    session: AsyncSession, held: list[tuple[int, int]], now: dt.datetime
) -> int:
    """The open deals of each (contact, owner) held by that owner lose it; how many did."""
    open_stages = select(Stage.id).where(Stage.kind == "open")
    freed = await session.execute(
        update(Deal)
        .where(
            tuple_(Deal.contact_id, Deal.owner_id).in_(held),
            Deal.stage_id.in_(open_stages),
        )
        .values(owner_id=None, updated_at=now, version=Deal.version + 1)
        .execution_options(synchronize_session=False)
    )
    return int(freed.rowcount)  # type: ignore[attr-defined]


async def return_batch(
    session: AsyncSession, due: list[HeldContact], *, now: dt.datetime, cutoff: dt.datetime
) -> tuple[int, int]:
    """Return the ``due`` contacts that are still due; (contacts returned, deals freed).

    One UPDATE for the batch re-reads every guard in SQL: still held since before ``cutoff``
    (any change of owner restarts ``owned_since``, so a row that passes is still the owner read
    by the pass) and no activity of the owner since, so a note written between the pass's read
    and this write keeps its contact. Then one UPDATE frees their deals, one INSERT records the
    events. The caller commits.
    """
    owner_of = {c.contact_id: c.owner_id for c in due if c.owner_id is not None}
    guards = [or_(last.is_(None), last <= cutoff) for last in _owner_activity_at()]
    taken = await session.execute(
        update(Contact)
        .where(
            Contact.id.in_(list(owner_of)),
            Contact.owner_id.is_not(None),
            Contact.owned_since <= cutoff,
            *guards,
        )
        .values(owner_id=None, owned_since=None, pooled_at=now, updated_at=now)
        .returning(Contact.id)
        .execution_options(synchronize_session=False)
    )
    returned = sorted(int(i) for i in taken.scalars())
    if not returned:
        return 0, 0
    deals = await _free_open_deals(session, [(c, owner_of[c]) for c in returned], now)
    await session.execute(
        insert(ContactPoolEvent),
        [
            {"contact_id": contact_id, "kind": PoolEventKind.RETURNED.value,
             "from_user_id": owner_of[contact_id], "by_user_id": None,
             "reason": IDLE_REASON, "at": now}
            for contact_id in returned
        ],
    )  # fmt: skip
    return len(returned), deals


async def return_idle_contacts(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: dt.datetime,
    idle: dt.timedelta,
    batch_size: int = BATCH,
) -> ReturnPass:
    """One pass over every held contact; each batch commits on its own."""
    cutoff = activity_cutoff(now, idle)
    examined = returned = deals = 0
    async with sessions() as session:
        top = await session.scalar(select(func.max(Contact.id))) or 0
    for after_id in range(0, top, batch_size):
        async with sessions() as session:
            batch = await held_since_before(
                session, cutoff, after_id=after_id, up_to_id=after_id + batch_size
            )
        if not batch:
            continue
        examined += len(batch)
        due = [
            c
            for c in batch
            if c.owner_id is not None
            and is_due_to_return(c.owned_since, c.last_activity, now, idle)
        ]
        if not due:
            continue
        async with sessions.begin() as session:
            done, freed = await return_batch(session, due, now=now, cutoff=cutoff)
        returned += done
        deals += freed
    return ReturnPass(examined=examined, returned=returned, deals=deals)
