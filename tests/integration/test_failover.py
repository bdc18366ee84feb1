"""Two real ``cti serve`` instances on PostgreSQL and Redis, one simulated PBX: failover.

A frozen consumer (SIGSTOP) cannot hold the PBX: the standby takes over once the lease runs out,
and the frozen one, woken, sends nothing and goes standby. A killed consumer (SIGKILL) while a
queue call rings: the standby resyncs, the tabs reconnect to it, and the call's cards and CRM
effects each exist exactly once. A call that rings and ends between the kill and the takeover is
in the CRM all the same: the standby witnessed it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.engine import create_engine, session_factory
from crmlite.db.models import Activity, CallEffect, ContactPhone, Deal
from cti.sim import PbxSimulator
from cti.sim.builder import Step
from cti.sim.queue_flows import queue_call
from tests.conftest import POSTGRES_URL, DatabaseTemplates
from tests.integration.failover_support import (
    FAST_LEASE,
    RULES_WITH_TASK,
    Instance,
    Tab,
    lease_holder,
    start_instance,
    wait_for_consumer,
    write_config,
)
from tests.integration.pops_support import Agent, seed_agents

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]

PBX = "sim"
# A queue call's CRM trace, each thing once (the effect rows' count is not compared).
EACH_ONCE = {"contacts": 1, "deals": 1, "call_logs": 1, "tasks": 1, "effects": 0}


@pytest.fixture
async def pg_url(db_templates: DatabaseTemplates) -> AsyncIterator[str]:
    if not POSTGRES_URL:
        pytest.skip("set CTI_TEST_POSTGRES_URL to run the failover tests (they need PostgreSQL)")
    url, name = await db_templates.pg_copy()
    yield url
    await db_templates.drop(name)


@pytest.fixture
async def pg_sessions(pg_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(pg_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    prefix = f"cti:test:{uuid.uuid4().hex[:8]}"
    yield prefix
    client = aioredis.Redis.from_url(redis_url)
    keys = [key async for key in client.scan_iter(f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator(port=0) as simulator:
        yield simulator


@pytest.fixture
async def pair(
    pg_url: str, redis_url: str, prefix: str, sim: PbxSimulator, tmp_path: Path
) -> AsyncIterator[tuple[Instance, Instance]]:
    """Two instances of the service on the same database, Redis and PBX."""
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES_WITH_TASK, encoding="utf-8")
    config = write_config(
        tmp_path / "cti.toml",
        {
            "database": {"url": pg_url, "pool_size": 4},
            "redis": {"url": redis_url},
            "pops": {"redis_prefix": prefix, "heartbeat_s": 1.0},
            "lease": FAST_LEASE,
            "rules": {"file": str(rules)},
            "callbacks": {"enabled": False},
            "logging": {"level": "INFO", "format": "json"},
        },
        {
            "name": PBX,
            "host": sim.host,
            "port": sim.port,
            "username": sim.username,
            "secret": sim.secret,
            "ping_interval_s": 1.0,
            "ping_timeout_s": 1.0,
            "reconnect_min_s": 0.1,
            "reconnect_max_s": 0.5,
        },
    )
    first, second = await asyncio.gather(
        start_instance("a", config, tmp_path), start_instance("b", config, tmp_path)
    )
    try:
        yield first, second
    finally:
        await asyncio.gather(first.stop(), second.stop())


def _call(
    sim: PbxSimulator, caller: str, *, ring_s: float, talk_s: float
) -> tuple[str, list[Step]]:
    """A ring-all call to 101, 102 and 103 that 102 answers: its Linkedid and its steps."""
    steps = queue_call(sim.ids, caller=caller, answer_by="102", ring_s=ring_s, talk_s=talk_s)
    return str(steps[0].events[0]["Linkedid"]), steps


async def _play(sim: PbxSimulator, caller: str, *, ring_s: float, talk_s: float) -> str:
    linkedid, steps = _call(sim, caller, ring_s=ring_s, talk_s=talk_s)
    sim.play(steps)
    return linkedid


def _tabs(agents: dict[str, Agent], urls: dict[str, list[str]]) -> dict[str, Tab]:
    return {ext: Tab(agents[ext].token, urls[ext]) for ext in urls}


async def _crm_counts(
    sessions: async_sessionmaker[AsyncSession], linkedid: str, caller: str
) -> dict[str, int]:
    async with sessions() as db:
        contacts = await db.scalar(
            select(func.count()).select_from(ContactPhone).where(ContactPhone.normalized == caller)
        )
        contact_id = await db.scalar(
            select(ContactPhone.contact_id).where(ContactPhone.normalized == caller)
        )
        deals = await db.scalar(
            select(func.count()).select_from(Deal).where(Deal.contact_id == contact_id)
        )
        logs = await db.scalar(
            select(func.count())
            .select_from(Activity)
            .where(Activity.linkedid == linkedid, Activity.kind == "call")
        )
        tasks = await db.scalar(
            select(func.count())
            .select_from(Activity)
            .where(Activity.linkedid == linkedid, Activity.kind == "task")
        )
        effects = await db.scalar(
            select(func.count()).select_from(CallEffect).where(CallEffect.linkedid == linkedid)
        )
    return {
        "contacts": int(contacts or 0),
        "deals": int(deals or 0),
        "call_logs": int(logs or 0),
        "tasks": int(tasks or 0),
        "effects": int(effects or 0),
    }


async def test_a_frozen_consumer_is_taken_over_and_sends_nothing_when_it_wakes(
    pair: tuple[Instance, Instance],
    pg_sessions: async_sessionmaker[AsyncSession],
    sim: PbxSimulator,
) -> None:
    consumer, epoch = await wait_for_consumer(pg_sessions, pair, PBX)
    standby = pair[1] if consumer is pair[0] else pair[0]
    agents = await seed_agents(pg_sessions, ["101", "102", "103"])
    # 101's tab is on the instance that will freeze: its heartbeat notices, it moves over.
    tabs = _tabs(agents, {"101": [consumer.url, standby.url], "102": [standby.url]})
    async with aiohttp.ClientSession() as http:
        for tab in tabs.values():
            tab.start(http)
        try:
            await tabs["101"].wait_for("state")
            await tabs["102"].wait_for("state")
            warm_up = await _play(sim, "+79160000001", ring_s=0.3, talk_s=0.3)
            await tabs["102"].wait_for("call.wrapup", warm_up)

            consumer.freeze()
            # The frozen consumer's AMI socket still takes this call's events: they wait there.
            frozen_call = await _play(sim, "+79160000002", ring_s=5.0, talk_s=0.5)
            taker, new_epoch = await wait_for_consumer(pg_sessions, pair, PBX, after_epoch=epoch)
            assert taker is standby
            await tabs["102"].wait_for("call.wrapup", frozen_call, timeout_s=30)
            await tabs["101"].wait_for("call.answered_elsewhere", frozen_call)

            consumer.thaw()
            await consumer.wait_logged("ami consumer back to standby")
            # A call after the wake-up, through the new consumer: time for any stray pop to show.
            after = await _play(sim, "+79160000003", ring_s=0.3, talk_s=0.3)
            await tabs["102"].wait_for("call.wrapup", after)
        finally:
            for tab in tabs.values():
                await tab.close()

    assert await wait_for_consumer(pg_sessions, pair, PBX, after_epoch=new_epoch - 1) == (
        standby,
        new_epoch,
    ), "the woken instance must not take the PBX back"
    for kind in ("call.ringing", "call.answered", "call.wrapup"):
        assert len(tabs["102"].of_call(kind, frozen_call)) == 1, (kind, tabs["102"].messages)
    assert len(tabs["101"].of_call("call.answered_elsewhere", frozen_call)) == 1
    assert len(tabs["101"].connections) >= 2, "101's tab reconnected to the standby"
    assert consumer.logged("consumer lease lost") == 1
    counts = await _crm_counts(pg_sessions, frozen_call, "+79160000002")
    assert counts | {"effects": 0} == EACH_ONCE


async def test_killing_the_consumer_while_a_queue_call_rings(
    pair: tuple[Instance, Instance],
    pg_sessions: async_sessionmaker[AsyncSession],
    sim: PbxSimulator,
) -> None:
    consumer, epoch = await wait_for_consumer(pg_sessions, pair, PBX)
    standby = pair[1] if consumer is pair[0] else pair[0]
    agents = await seed_agents(pg_sessions, ["101", "102", "103"])
    urls = [consumer.url, standby.url]
    tabs = _tabs(agents, {"101": urls, "102": urls, "103": [standby.url]})
    caller = "+79160000004"
    async with aiohttp.ClientSession() as http:
        for tab in tabs.values():
            tab.start(http)
        try:
            for tab in tabs.values():
                await tab.wait_for("state")
            linkedid = await _play(sim, caller, ring_s=6.0, talk_s=0.5)
            await tabs["102"].wait_for("call.ringing", linkedid)
            consumer.kill()
            taker, _ = await wait_for_consumer(pg_sessions, pair, PBX, after_epoch=epoch)
            assert taker is standby
            await tabs["102"].wait_for("call.wrapup", linkedid, timeout_s=30)
            await tabs["101"].wait_for("call.answered_elsewhere", linkedid)
            await tabs["103"].wait_for("call.answered_elsewhere", linkedid)
            await _settle(pg_sessions, linkedid)
        finally:
            for tab in tabs.values():
                await tab.close()

    assert tabs["102"].connections[-1] == standby.url, "102's tab moved to the standby"
    assert len(tabs["102"].of_call("call.answered", linkedid)) == 1
    assert len(tabs["102"].of_call("call.wrapup", linkedid)) == 1
    for ext in ("101", "103"):
        assert len(tabs[ext].of_call("call.answered_elsewhere", linkedid)) == 1, ext
    counts = await _crm_counts(pg_sessions, linkedid, caller)
    assert counts | {"effects": 0} == EACH_ONCE


async def test_a_call_over_before_the_takeover_is_in_the_crm_once(
    pair: tuple[Instance, Instance],
    pg_sessions: async_sessionmaker[AsyncSession],
    sim: PbxSimulator,
) -> None:
    consumer, epoch = await wait_for_consumer(pg_sessions, pair, PBX)
    standby = pair[1] if consumer is pair[0] else pair[0]
    await seed_agents(pg_sessions, ["101", "102", "103"])
    await standby.wait_logged("standing by with a witness link")
    before = await _play(sim, "+79160000005", ring_s=0.3, talk_s=0.3)
    await _settle(pg_sessions, before)  # the consumer applied it: the replay must not redo it
    consumer.kill()
    # Rings, is answered and ends well inside the lease's deadline: nobody consumes the PBX.
    gap = await _play(sim, "+79160000006", ring_s=0.2, talk_s=0.2)
    await asyncio.sleep(0.8)
    assert (await lease_holder(pg_sessions, PBX))[1] == epoch, "the call ended before the takeover"
    taker, _ = await wait_for_consumer(pg_sessions, pair, PBX, after_epoch=epoch)
    assert taker is standby
    await _settle(pg_sessions, gap)
    await standby.wait_logged("witnessed calls handed to the crm")
    for linkedid, caller in ((before, "+79160000005"), (gap, "+79160000006")):
        counts = await _crm_counts(pg_sessions, linkedid, caller)
        assert counts | {"effects": 0} == EACH_ONCE, linkedid
    async with pg_sessions() as db:
        logged = await db.scalar(
            select(Activity.answered_at).where(Activity.linkedid == gap, Activity.kind == "call")
        )
    assert logged is not None, "the gap call's log says it was answered"


async def _settle(sessions: async_sessionmaker[AsyncSession], linkedid: str) -> None:
    """Wait until the call's end is in the CRM (its call log has an end time)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 10
    while loop.time() < deadline:
        async with sessions() as db:
            ended = await db.scalar(
                select(Activity.ended_at).where(
                    Activity.linkedid == linkedid, Activity.kind == "call"
                )
            )
        if ended is not None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the call's end never reached the CRM")
