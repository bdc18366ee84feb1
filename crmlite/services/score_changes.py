"""What changed since the scoring's last look: the leads whose score inputs moved.

One watermark over every write path (the API, call effects, imports, the board's stage mover)
instead of a hook in each: new activities and stage changes by id, calls that ended and deals and
contacts edited by time, with an overlap (crmlite.services.scoring rescores them).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Activity, Contact, Deal, DealStageChange


@dataclass(frozen=True, slots=True)
class Changes:
    """Leads whose score inputs changed since a mark, and the mark to look from next time."""

    contact_ids: frozenset[int]
    deal_ids: frozenset[int]
    mark: ChangeMark


@dataclass(frozen=True, slots=True)
class ChangeMark:
    activity_id: int = 0
    stage_change_id: int = 0
    at: dt.datetime | None = None  # calls started and deals edited after this (with an overlap)


CALL_OVERLAP = dt.timedelta(hours=4)  # a call that ends now started at most this long ago
EDIT_OVERLAP = dt.timedelta(seconds=15)  # a transaction's clock and its commit may differ


async def current_mark(session: AsyncSession, now: dt.datetime) -> ChangeMark:
    """Where the changes stand now: the newest activity and stage change."""
    activity = await session.scalar(select(func.max(Activity.id)))
    change = await session.scalar(select(func.max(DealStageChange.id)))
    return ChangeMark(activity or 0, change or 0, now)


async def changed_since(session: AsyncSession, mark: ChangeMark, now: dt.datetime) -> Changes:
    """What changed after ``mark``: new activities, ended calls, moves, deal and contact edits.

    Looking back a little further than the mark costs a few rescores of the same leads; missing a
    call that ended late, or a deal edit whose commit came after its timestamp, would cost a
    wrong score until the night. Rescoring is idempotent, so the overlap is the safe side.
    """
    contacts: set[int] = set()
    deals: set[int] = set()
    since = mark.at or now
    new = await session.execute(
        select(Activity.id, Activity.contact_id, Activity.deal_id).where(
            Activity.id > mark.activity_id
        )
    )
    top_activity = mark.activity_id
    for activity_id, contact_id, deal_id in new:
        top_activity = max(top_activity, activity_id)
        _add(contacts, deals, contact_id, deal_id)
    ended_calls = await session.execute(
        select(Activity.contact_id, Activity.deal_id).where(
            Activity.kind == "call",
            Activity.started_at >= since - CALL_OVERLAP,
            Activity.ended_at >= since - EDIT_OVERLAP,
        )
    )
    for contact_id, deal_id in ended_calls:
        _add(contacts, deals, contact_id, deal_id)
    moves = await session.execute(
        select(DealStageChange.id, DealStageChange.deal_id).where(
            DealStageChange.id > mark.stage_change_id
        )
    )
    top_change = mark.stage_change_id
    for change_id, deal_id in moves:
        top_change = max(top_change, change_id)
        deals.add(deal_id)
    edited = await session.execute(
        select(Deal.id, Deal.contact_id).where(Deal.updated_at >= since - EDIT_OVERLAP)
    )
    for deal_id, contact_id in edited:
        _add(contacts, deals, contact_id, deal_id)
    contacts.update(
        await session.scalars(select(Contact.id).where(Contact.updated_at >= since - EDIT_OVERLAP))
    )
    return Changes(frozenset(contacts), frozenset(deals), ChangeMark(top_activity, top_change, now))


def _add(contacts: set[int], deals: set[int], contact_id: int | None, deal_id: int | None) -> None:
    if contact_id is not None:
        contacts.add(contact_id)
    if deal_id is not None:
        deals.add(deal_id)
