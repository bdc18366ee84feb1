"""Spread the PBXs' consumer leases over the instances alive, and show who consumes what.

Without it the first instance up takes every PBX's lease and keeps them all. Each instance says
it is alive every renew interval (a ``consumer_instances`` row, database clock); the ones seen
within a lease deadline are alive, and each should hold ``ceil(PBXs / alive)`` leases. An instance
at its share leaves a free lease to the others for ``grace_s`` (it takes it after that, so a PBX
is never left unconsumed); one holding more sheds one lease at a time, the PBX with the fewest
live calls, and releases it at once (``cti.telephony``), so the instance below its share takes it
on its next try. When an instance dies its leases run out and its row grows old: the survivors'
share grows and they take its PBXs, as any standby would. The row also carries what the instance
reports of the PBXs it consumes, for the admin screen of every instance (``roster``).
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from cti.lease import LeaseKeeper

log = structlog.get_logger(__name__)

_SEEN = text(
    """
    INSERT INTO consumer_instances (holder, seen_at, status)
    VALUES (:holder, now(), CAST(:status AS JSON))
    ON CONFLICT (holder) DO UPDATE SET seen_at = excluded.seen_at, status = excluded.status
    """
)
_ALIVE = text(
    "SELECT count(*) FROM consumer_instances"
    " WHERE seen_at > now() - make_interval(secs => :deadline)"
)
# Rows of instances dead for long are dropped, so the table stays the size of the fleet.
_FORGET = text(
    "DELETE FROM consumer_instances WHERE seen_at < now() - make_interval(secs => :forget)"
)
_LEAVE = text("DELETE FROM consumer_instances WHERE holder = :holder")
_ROSTER = text(
    """
    SELECT l.pbx, l.holder, l.epoch, l.expires_at > now() AS held,
           i.seen_at > now() - make_interval(secs => :deadline) AS alive, i.status
    FROM consumer_leases l LEFT JOIN consumer_instances i ON i.holder = l.holder
    ORDER BY l.pbx
    """
)

StatusReport = Callable[[], Mapping[str, Mapping[str, Any]]]


@dataclass(frozen=True, slots=True)
class PbxConsumer:
    """Which instance consumes a PBX, as the database knows it."""

    pbx: str
    holder: str
    epoch: int
    held: bool  # the lease has not run out
    alive: bool  # the holder said it was alive within a deadline
    status: Mapping[str, Any] | None  # what the holder last reported of the PBX


class LeaseSpread:
    """This instance's fair share of the PBX leases, kept up to date by ``run``."""

    def __init__(self, keeper: LeaseKeeper, pbx_count: int, report: StatusReport) -> None:
        self.keeper = keeper
        self.pbx_count = pbx_count
        self.alive = 1
        self._report = report
        self._next_shed = 0.0
        keeper.spread = self

    @property
    def grace_s(self) -> float:
        """How long a free lease is left to the instances below their share."""
        return 2 * self.keeper.timings.deadline_s

    def share(self) -> int:
        """How many leases this instance should hold."""
        return max(1, math.ceil(self.pbx_count / max(1, self.alive)))

    def may_take(self, held: int) -> bool:
        """True while this instance holds fewer leases than its share."""
        return held < self.share()

    async def run(self) -> None:
        """Say we are alive and shed extra leases every renew interval, until cancelled."""
        while True:
            try:
                await self.beat()
            except (SQLAlchemyError, OSError, TimeoutError) as err:
                log.warning("lease spread: cannot report alive", error=repr(err))
            await asyncio.sleep(self.keeper.timings.renew_interval_s)

    async def beat(self) -> None:
        """One report: alive, with the consumed PBXs' status; then count the alive, shed extra."""
        timings = self.keeper.timings
        status = json.dumps(dict(self._report()), default=str)
        async with asyncio.timeout(timings.deadline_s), self.keeper.engine.connect() as db:
            await db.execute(_SEEN, {"holder": self.keeper.holder, "status": status})
            alive = await db.scalar(_ALIVE, {"deadline": timings.deadline_s})
            await db.execute(_FORGET, {"forget": 30 * timings.deadline_s})
            await db.commit()
        self.alive = max(1, int(alive or 0))
        self._shed_extra()

    def _shed_extra(self) -> None:
        held = self.keeper.held
        if self.alive < 2 or len(held) <= self.share():
            return
        now = self.keeper.clock()
        if now < self._next_shed:
            return  # one at a time: the last one shed must find its new consumer first
        report = self._report()
        pbx = min(held, key=lambda name: (_live_calls(report.get(name)), name))
        log.info(
            "lease spread: giving a pbx to another instance",
            pbx=pbx,
            held=len(held),
            share=self.share(),
            alive=self.alive,
        )
        self.keeper.shed(held[pbx], rest_s=self.grace_s)
        self._next_shed = now + self.grace_s

    async def leave(self) -> None:
        """A clean stop: the others need not wait a deadline to count one instance fewer."""
        try:
            async with asyncio.timeout(1.0), self.keeper.engine.connect() as db:
                await db.execute(_LEAVE, {"holder": self.keeper.holder})
                await db.commit()
        except (SQLAlchemyError, OSError, TimeoutError) as err:
            log.info("lease spread: row left to age out", error=repr(err))


def _live_calls(status: Mapping[str, Any] | None) -> int:
    value = (status or {}).get("live_calls", 0)
    return value if isinstance(value, int) else 0


async def roster(engine: AsyncEngine, deadline_s: float) -> list[PbxConsumer]:
    """Every PBX's lease: its holder, whether it is alive, and what it reports of the PBX."""
    async with asyncio.timeout(deadline_s), engine.connect() as db:
        rows = (await db.execute(_ROSTER, {"deadline": deadline_s})).all()
    consumers = []
    for pbx, holder, epoch, held, alive, status in rows:
        report = status if isinstance(status, dict) else None
        consumers.append(
            PbxConsumer(
                pbx=pbx,
                holder=holder,
                epoch=int(epoch),
                held=bool(held),
                alive=bool(alive),
                status=(report or {}).get(pbx),
            )
        )
    return consumers
