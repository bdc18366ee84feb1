"""Two PBXs, two instances: the consumer leases spread one each; when one instance dies (no
release, no goodbye) its PBX moves to the other; the roster shows who consumes what (PostgreSQL)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from crmlite.db.engine import create_engine
from cti.lease import LeaseKeeper, LeaseTimings
from cti.lease_spread import LeaseSpread, roster
from tests.conftest import POSTGRES_URL, DatabaseTemplates
from tests.integration.failover_support import wait_until

TIMINGS = LeaseTimings(deadline_s=0.6, renew_interval_s=0.1, safety_margin_s=0.2)
PBXS = ("east", "west")


@dataclass
class Instance:
    """What ``cti.telephony`` runs per instance, reduced to the leases: one consumer per PBX."""

    keeper: LeaseKeeper
    spread: LeaseSpread
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self.tasks.append(asyncio.create_task(self.spread.run()))
        self.tasks.extend(asyncio.create_task(self._consume(pbx)) for pbx in PBXS)

    async def _consume(self, pbx: str) -> None:
        while True:
            lease = await self.keeper.acquire(pbx)
            keeping = asyncio.create_task(self.keeper.keep(lease))
            try:
                await lease.lost.wait()
            finally:
                keeping.cancel()  # killed too: a dead instance renews nothing
            if lease.shed:
                await self.keeper.release(lease)

    def consumes(self) -> set[str]:
        return set(self.keeper.held)

    async def kill(self) -> None:
        """Stop dead: no release, no leave; the leases and the alive row run out on their own."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.keeper.engine.dispose()  # a dead process's connections close, locks and all


@pytest.fixture
async def pg_engines(db_templates: DatabaseTemplates) -> AsyncIterator[tuple[AsyncEngine, ...]]:
    if not POSTGRES_URL:
        pytest.skip("set CTI_TEST_POSTGRES_URL to run the lease tests (PostgreSQL only)")
    url, name = await db_templates.pg_copy()
    engines = (create_engine(url, pool_size=3), create_engine(url, pool_size=3))
    yield engines
    for engine in engines:
        await engine.dispose()
    await db_templates.drop(name)


def _instance(engine: AsyncEngine, holder: str) -> Instance:
    keeper = LeaseKeeper(engine, TIMINGS, holder=holder)
    return Instance(keeper, LeaseSpread(keeper, len(PBXS), lambda: {}))


async def _until(check: Callable[[], bool], what: str, timeout_s: float = 15.0) -> None:
    await wait_until(check, timeout_s, what)


async def test_two_instances_consume_one_pbx_each_and_a_death_moves_its_pbx(
    pg_engines: tuple[AsyncEngine, ...],
) -> None:
    first, second = _instance(pg_engines[0], "a"), _instance(pg_engines[1], "b")
    try:
        first.start()
        await _until(lambda: first.consumes() == set(PBXS), "alone, the first takes both")
        second.start()
        await _until(
            lambda: len(first.consumes()) == 1 and len(second.consumes()) == 1,
            "a second instance takes one of the two",
        )
        assert first.consumes() | second.consumes() == set(PBXS)
        consumers = await roster(pg_engines[0], TIMINGS.deadline_s)
        assert {(c.pbx, c.holder, c.held, c.alive) for c in consumers} == {
            (pbx, "a" if pbx in first.consumes() else "b", True, True) for pbx in PBXS
        }
        moved = next(iter(first.consumes()))
        await first.kill()
        await _until(lambda: second.consumes() == set(PBXS), "the survivor takes the dead's PBX")
        consumers = await roster(pg_engines[1], TIMINGS.deadline_s)
        assert {c.holder for c in consumers} == {"b"}
        assert next(c for c in consumers if c.pbx == moved).epoch >= 2
    finally:
        for instance in (first, second):
            await instance.kill()


async def test_a_clean_leave_stops_counting_at_once(pg_engines: tuple[AsyncEngine, ...]) -> None:
    first, second = _instance(pg_engines[0], "a"), _instance(pg_engines[1], "b")
    await first.spread.beat()
    await second.spread.beat()
    assert (first.spread.alive, first.spread.share()) == (1, 2)  # before b said it was alive
    await first.spread.beat()
    assert (first.spread.alive, first.spread.share()) == (2, 1)
    await second.spread.leave()
    await first.spread.beat()
    assert (first.spread.alive, first.spread.share()) == (1, 2)
    with contextlib.suppress(Exception):
        await first.kill()
