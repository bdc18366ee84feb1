"""Round-robin assignment within a group: the member after the one who got the last turn."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import RoundRobinCursor


async def next_in_turn(
    session: AsyncSession, group: str, members: Sequence[int], now: dt.datetime
) -> int | None:
    """Pick the member after the last one served in ``group`` and remember the pick."""
    if not members:
        return None
    cursor = await session.get(RoundRobinCursor, group, populate_existing=True)
    last = cursor.last_user_id if cursor is not None else None
    index = members.index(last) + 1 if last in members else 0
    chosen = members[index % len(members)]
    if cursor is None:
        session.add(RoundRobinCursor(group_name=group, last_user_id=chosen, updated_at=now))
    else:
        cursor.last_user_id = chosen
        cursor.updated_at = now
    await session.flush()
    return chosen


async def peek_cursor(session: AsyncSession, group: str) -> int | None:
    """The member who got the last turn in ``group`` (None before the first)."""
    return await session.scalar(
        select(RoundRobinCursor.last_user_id).where(RoundRobinCursor.group_name == group)
    )
