"""The consumer lease and its fencing on PostgreSQL: one holder, takeover, stale writes refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crmlite.db.engine import create_engine, session_factory
from crmlite.db.models import CallEffect
from crmlite.domain.phones import PhoneRules
from cti.fencing import ConsumerFence, LeaseLost
from cti.lease import ConsumerLease, LeaseKeeper, LeaseTimings
from cti.rules.book import RuleBook
from cti.rules.call_to_crm import CallToCrm
from cti.rules.executor import RuleExecutor
from cti.settings import ConfigError, load_settings
from tests.conftest import POSTGRES_URL, DatabaseTemplates
from tests.integration.call_support import add_agents, inbound_call, ring_all_answered

# Short, so a lease nobody renews runs out in well under a second.
TIMINGS = LeaseTimings(deadline_s=0.6, renew_interval_s=0.1, safety_margin_s=0.2)


class Clock:
    """A monotonic clock the test moves: how long an instance believes it was away."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def pg_engines(db_templates: DatabaseTemplates) -> AsyncIterator[tuple[AsyncEngine, ...]]:
    """Two engines on one fresh database: two instances' own connections."""
    if not POSTGRES_URL:
        pytest.skip("set CTI_TEST_POSTGRES_URL to run the lease tests (PostgreSQL only)")
    url, name = await db_templates.pg_copy()
    engines = (create_engine(url, pool_size=2), create_engine(url, pool_size=2))
    yield engines
    for engine in engines:
        await engine.dispose()
    await db_templates.drop(name)


async def _effects(sessions: async_sessionmaker[AsyncSession], linkedid: str) -> int:
    async with sessions() as db:
        count = await db.scalar(
            select(func.count()).select_from(CallEffect).where(CallEffect.linkedid == linkedid)
        )
    return int(count or 0)


def _fence(lease: ConsumerLease, idle_limit_s: float = 4.0) -> ConsumerFence:
    fence = ConsumerFence(idle_limit_s=idle_limit_s)
    fence.lease_required(lease.pbx)
    fence.hold(lease)
    return fence


async def test_a_standby_waits_while_the_holder_renews_and_takes_over_when_it_stops(
    pg_engines: tuple[AsyncEngine, ...],
) -> None:
    first = LeaseKeeper(pg_engines[0], TIMINGS, holder="a")
    second = LeaseKeeper(pg_engines[1], TIMINGS, holder="b")
    held = await first.acquire("pbx")
    assert held.epoch == 1
    renewing = asyncio.create_task(first.keep(held))
    standby = asyncio.create_task(second.acquire("pbx"))
    await asyncio.sleep(TIMINGS.deadline_s * 3)  # three deadlines: renewals keep the lease
    assert not standby.done(), "the standby must not take a lease that is being renewed"

    renewing.cancel()  # the holder freezes: no more renewals
    taken = await asyncio.wait_for(standby, timeout=10)
    assert taken.epoch == 2
    assert not await first.renew(held)
    assert held.lost.is_set()


async def test_distinct_pbxs_have_distinct_leases(pg_engines: tuple[AsyncEngine, ...]) -> None:
    first = LeaseKeeper(pg_engines[0], TIMINGS, holder="a")
    second = LeaseKeeper(pg_engines[1], TIMINGS, holder="b")
    one = await asyncio.wait_for(first.acquire("one"), timeout=5)
    two = await asyncio.wait_for(second.acquire("two"), timeout=5)
    assert (one.pbx, two.pbx) == ("one", "two")


async def test_a_released_lease_is_taken_over_at_once(pg_engines: tuple[AsyncEngine, ...]) -> None:
    slow = LeaseTimings(deadline_s=60.0, renew_interval_s=0.1, safety_margin_s=1.0)
    first = LeaseKeeper(pg_engines[0], slow, holder="a")
    second = LeaseKeeper(pg_engines[1], slow, holder="b")
    held = await first.acquire("pbx")
    await first.release(held)
    taken = await asyncio.wait_for(second.acquire("pbx"), timeout=5)  # not after 60 s
    assert taken.epoch == 2


async def test_a_woken_holder_learns_it_lost_the_lease_before_acting(
    pg_engines: tuple[AsyncEngine, ...],
) -> None:
    clock = Clock()
    first = LeaseKeeper(pg_engines[0], TIMINGS, holder="a", clock=clock)
    second = LeaseKeeper(pg_engines[1], TIMINGS, holder="b")
    held = await first.acquire("pbx")
    fence = _fence(held)
    assert await fence.admits("pbx")

    await asyncio.wait_for(second.acquire("pbx"), timeout=10)  # "a" is frozen meanwhile
    clock.now += 20.0  # ... for twenty seconds, by its own clock
    assert not held.valid()
    assert not await fence.admits("pbx")
    assert held.lost.is_set()
    assert fence.refused == 1


async def test_a_lapsed_lease_nobody_took_is_renewed_and_kept(
    pg_engines: tuple[AsyncEngine, ...],
) -> None:
    clock = Clock()
    keeper = LeaseKeeper(pg_engines[0], TIMINGS, holder="a", clock=clock)
    held = await keeper.acquire("pbx")
    fence = _fence(held)
    clock.now += 20.0  # a long pause, but no standby took over: nothing to give up
    assert not held.valid()
    assert await fence.admits("pbx")
    assert held.valid()
    assert not held.lost.is_set()


async def test_the_database_refuses_a_stale_holders_write_even_when_its_clock_lies(
    pg_engines: tuple[AsyncEngine, ...],
) -> None:
    clock = Clock()  # never moves: "a" believes its lease lasts forever
    first = LeaseKeeper(pg_engines[0], TIMINGS, holder="a", clock=clock)
    second = LeaseKeeper(pg_engines[1], TIMINGS, holder="b")
    held = await first.acquire("pbx")
    fence = _fence(held)
    await asyncio.wait_for(second.acquire("pbx"), timeout=10)
    assert await fence.admits("pbx"), "by its own clock the stale holder still trusts its lease"

    sessions = session_factory(pg_engines[0])
    async with sessions() as db, db.begin():
        with pytest.raises(LeaseLost):
            await fence.check_in(db, "pbx")
    assert held.lost.is_set()


async def test_a_writer_frozen_inside_its_transaction_cannot_hold_the_takeover_up(
    pg_engines: tuple[AsyncEngine, ...],
) -> None:
    first = LeaseKeeper(pg_engines[0], TIMINGS, holder="a")
    second = LeaseKeeper(pg_engines[1], TIMINGS, holder="b")
    held = await first.acquire("pbx")
    fence = _fence(held, idle_limit_s=1.0)
    sessions = session_factory(pg_engines[0])
    async with sessions() as db:
        await db.begin()
        await fence.check_in(db, "pbx")  # the lease row is share-locked until this commits...
        # ... and "a" freezes before the commit: PostgreSQL ends its idle transaction.
        taken = await asyncio.wait_for(second.acquire("pbx"), timeout=15)
        assert taken.epoch == 2
        with pytest.raises(DBAPIError):
            await db.commit()


async def test_a_call_event_of_a_pbx_taken_over_writes_nothing_and_is_not_retried(
    pg_engines: tuple[AsyncEngine, ...],
) -> None:
    clock = Clock()  # "a" believes its lease still holds: only the database can stop it
    first = LeaseKeeper(pg_engines[0], TIMINGS, holder="a", clock=clock)
    second = LeaseKeeper(pg_engines[1], TIMINGS, holder="b")
    sessions = session_factory(pg_engines[0])
    await add_agents(sessions)
    phones = PhoneRules(default_region="RU")
    held = await first.acquire("pbx")
    crm = CallToCrm(sessions, RuleBook(phones), RuleExecutor(phones), fence=_fence(held))
    events = ring_all_answered(inbound_call(linkedid="fenced.1"))
    assert (await crm.handle(events[1])).deal_created  # while the lease is ours: applied
    before = await _effects(sessions, "fenced.1")

    await asyncio.wait_for(second.acquire("pbx"), timeout=10)
    stale = await crm.handle(events[-1])  # the answer, with an owner and a call-log update
    assert not stale.pending
    assert stale.applied == ()
    assert crm.pending == 0, "a fenced event belongs to the new consumer: never queued"
    assert await _effects(sessions, "fenced.1") == before
    assert held.lost.is_set()


async def test_pbxs_without_a_lease_requirement_are_always_admitted() -> None:
    fence = ConsumerFence()
    assert await fence.admits("sqlite-pbx")
    fence.lease_required("pg-pbx")
    assert not await fence.admits("pg-pbx"), "a leased PBX is refused while no lease is held"
    assert fence.refused == 1


def test_renewals_must_fit_in_the_deadline() -> None:
    environ = {"CTI_LEASE__DEADLINE_S": "2", "CTI_LEASE__RENEW_INTERVAL_S": "1.5"}
    with pytest.raises(ConfigError, match="renew_interval_s must be shorter"):
        load_settings(environ=environ)
    settings = load_settings(environ={"CTI_LEASE__DEADLINE_S": "4"})
    assert settings.lease.renew_interval_s < settings.lease.deadline_s
