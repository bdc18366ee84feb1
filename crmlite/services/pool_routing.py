"""Who gets a pool contact's call: the ``[pool] ring`` policy read against the database."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Contact, ContactPoolEvent, User
from crmlite.domain.pool import LEFT_AN_OWNER, RingPolicy, RingTarget, ring_target_for_pool_contact


@dataclass(frozen=True, slots=True)
class PoolCall:
    """A pool contact on the line: who had it last, and who should take the call."""

    contact_id: int
    pooled_at: dt.datetime
    previous_owner_id: int | None
    target: RingTarget


async def pool_call(session: AsyncSession, contact_id: int, ring: RingPolicy) -> PoolCall | None:
    """None unless the contact sits in the pool; then who rings for it under ``ring``."""
    pooled_at = await session.scalar(select(Contact.pooled_at).where(Contact.id == contact_id))
    if pooled_at is None:
        return None
    previous = await session.scalar(
        select(ContactPoolEvent.from_user_id)
        .where(
            ContactPoolEvent.contact_id == contact_id,
            ContactPoolEvent.kind.in_([k.value for k in LEFT_AN_OWNER]),
        )
        .order_by(ContactPoolEvent.at.desc(), ContactPoolEvent.id.desc())
        .limit(1)
    )
    people = (
        await session.execute(
            select(User.id, User.role).where(
                User.active.is_(True),
                (User.role == "head") | (User.id == (previous if previous is not None else -1)),
            )
        )
    ).all()
    target = ring_target_for_pool_contact(
        ring,
        previous_owner_id=previous,
        active_user_ids=frozenset(int(p.id) for p in people),
        head_ids=[int(p.id) for p in people if p.role == "head"],
    )
    return PoolCall(contact_id, pooled_at, previous, target)
