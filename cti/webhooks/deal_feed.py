"""Follow every deal stage change (whoever made it) and publish ``deal.stage_changed`` webhooks.

The CRM records each change in ``deal_stage_changes``; this follower reads the rows after the last
one it saw. After a restart it starts again ``lookback`` before now: the changes it already
published keep their event ids, and the (endpoint, event) key delivers each of them once.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.services.deal_changes import StageChange, first_change_since, stage_changes_after
from cti.webhooks.events import Publisher, event_id

log = structlog.get_logger(__name__)


def stage_change_data(change: StageChange) -> dict[str, Any]:
    """The ``data`` of a ``deal.stage_changed`` webhook (docs/EVENTS.md)."""
    return {
        "change_id": change.id,
        "deal_id": change.deal_id,
        "deal_title": change.deal_title,
        "pipeline_id": change.pipeline_id,
        "contact_id": change.contact_id,
        "owner_id": change.owner_id,
        "from_stage_id": change.from_stage_id,
        "from_stage": change.from_stage,
        "to_stage_id": change.to_stage_id,
        "to_stage": change.to_stage,
        "status": change.to_kind,
        "lost_reason": change.lost_reason if change.to_kind == "lost" else None,
        "changed_by": change.changed_by,
        "changed_at": change.changed_at.isoformat(),
    }


class DealChangeFeed:
    """Poll the stage history and publish what is new."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        publisher: Publisher,
        *,
        interval_s: float = 2.0,
        lookback: dt.timedelta = dt.timedelta(hours=24),
    ) -> None:
        self.sessions = sessions
        self.publisher = publisher
        self.interval_s = interval_s
        self.lookback = lookback
        self.after_id: int | None = None
        self.published = 0

    async def poll(self) -> int:
        """Publish the changes recorded since the last poll; return how many."""
        async with self.sessions() as session:
            if self.after_id is None:
                since = dt.datetime.now(dt.UTC) - self.lookback
                self.after_id = await first_change_since(session, since)
            changes = await stage_changes_after(session, self.after_id)
        for change in changes:
            ident = event_id("deal.stage_changed", change.id)
            await self.publisher.publish(
                "deal.stage_changed", ident, stage_change_data(change), change.changed_at
            )
            self.after_id = change.id
            self.published += 1
        return len(changes)

    async def run(self) -> None:
        """Poll until cancelled; a database outage only delays the webhooks."""
        while True:
            try:
                while await self.poll():
                    pass
            except (SQLAlchemyError, OSError) as err:
                log.warning("deal change feed could not read", error=type(err).__name__)
            await asyncio.sleep(self.interval_s)
