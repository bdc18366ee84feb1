"""Which PBX (office) a user last called through: click-to-call's default with several PBXs."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Activity


async def last_call_pbx(db: AsyncSession, user_id: int, pbxs: Collection[str]) -> str | None:
    """The PBX of the user's latest logged call among ``pbxs``; None when they made none."""
    if not pbxs:
        return None
    return await db.scalar(
        select(Activity.pbx)
        .where(
            Activity.agent_id == user_id,
            Activity.kind == "call",
            Activity.pbx.in_(list(pbxs)),
        )
        .order_by(Activity.started_at.desc(), Activity.id.desc())
        .limit(1)
    )
