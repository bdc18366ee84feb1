"""Faults around a leased consumer (PostgreSQL + Redis + the simulator, the app on real sockets).

The PBX restarts with calls up; the AMI link is cut for seconds; PostgreSQL refuses connections
(through a proxy this test owns, never the machine's server); Redis restarts (a private
redis-server). Each time a call's cards and CRM effects exist exactly once, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.engine import create_engine, session_factory
from crmlite.db.models import Activity, CallEffect
from cti.settings import Settings
from cti.sim import PbxSimulator
from cti.sim.queue_flows import queue_call
from cti.telephony import TELEPHONY
from tests.conftest import POSTGRES_URL, DatabaseTemplates
from tests.integration.failover_support import FAST_LEASE, Tab, free_port, wait_until
from tests.integration.pops_support import RunningApp, seed_agents, start_app
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.redis, pytest.mark.timeout(120)]


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
async def sim() -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator(port=0) as simulator:
        yield simulator


def _settings(database_url: str, redis_url: str, sim: PbxSimulator) -> Settings:
    return Settings.model_validate(
        {
            "database": {"url": database_url, "pool_size": 4},
            "redis": {"url": redis_url},
            "pops": {"redis_prefix": f"cti:test:{uuid.uuid4().hex[:8]}", "heartbeat_s": 1.0},
            "lease": FAST_LEASE,
            "callbacks": {"enabled": False},
            "pbx": [
                sim.client_settings(
                    ping_interval_s=1.0,
                    ping_timeout_s=1.0,
                    reconnect_min_s=0.1,
                    reconnect_max_s=0.5,
                ).model_dump(mode="json")
                | {"secret": sim.secret}
            ],
        }
    )


@contextlib.asynccontextmanager
async def _running(settings: Settings, database_url: str) -> AsyncIterator[RunningApp]:
    app = await start_app(database_url, settings=settings)
    try:
        yield app
    finally:
        await app.close()


def _play(sim: PbxSimulator, caller: str, *, ring_s: float, talk_s: float) -> str:
    steps = queue_call(sim.ids, caller=caller, answer_by="102", ring_s=ring_s, talk_s=talk_s)
    sim.play(steps)
    return str(steps[0].events[0]["Linkedid"])


async def _consuming(app: RunningApp) -> None:
    link = app.app[TELEPHONY].links[0]
    await wait_until(lambda: link.consuming, 15, "the instance to consume the PBX")


async def _call_log(sessions: async_sessionmaker[AsyncSession], linkedid: str) -> dict[str, Any]:
    """The call's CRM trace: call logs, whether it ended, its effects."""
    async with sessions() as db:
        logs = (
            await db.execute(
                select(Activity.ended_at, Activity.answered_at).where(
                    Activity.linkedid == linkedid, Activity.kind == "call"
                )
            )
        ).all()
        effects = await db.scalar(
            select(func.count()).select_from(CallEffect).where(CallEffect.linkedid == linkedid)
        )
    return {
        "logs": len(logs),
        "answered": all(row.answered_at is not None for row in logs),
        "ended": all(row.ended_at is not None for row in logs),
        "effects": int(effects or 0),
    }


async def _ended_in_crm(sessions: async_sessionmaker[AsyncSession], linkedid: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    while loop.time() < deadline:
        trace = await _call_log(sessions, linkedid)
        if trace["logs"] and trace["ended"]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"call {linkedid} never ended in the CRM: {trace}")


def _once(tab: Tab, linkedid: str, *kinds: str) -> None:
    for kind in kinds:
        assert len(tab.of_call(kind, linkedid)) == 1, (kind, tab.messages)


async def test_the_pbx_restarts_with_a_call_up(
    pg_url: str,
    redis_url: str,
    pg_sessions: async_sessionmaker[AsyncSession],
    sim: PbxSimulator,
) -> None:
    agents = await seed_agents(pg_sessions, ["101", "102", "103"])
    async with (
        _running(_settings(pg_url, redis_url, sim), pg_url) as app,
        aiohttp.ClientSession() as http,
    ):
        await _consuming(app)
        tab = Tab(agents["102"].token, [app.url])
        tab.start(http)
        try:
            await tab.wait_for("state")
            linkedid = _play(sim, "+79160000011", ring_s=0.3, talk_s=4.0)
            await tab.wait_for("call.answered", linkedid)
            await sim.restart(down_s=1.0)  # Shutdown, gone for a second, back with the call up
            await tab.wait_for("call.wrapup", linkedid, timeout_s=30)
            await _ended_in_crm(pg_sessions, linkedid)
        finally:
            await tab.close()
    _once(tab, linkedid, "call.ringing", "call.answered", "call.wrapup")
    trace = await _call_log(pg_sessions, linkedid)
    assert (trace["logs"], trace["answered"], trace["ended"]) == (1, True, True)


async def test_the_ami_link_is_cut_while_a_call_is_answered(
    pg_url: str,
    redis_url: str,
    pg_sessions: async_sessionmaker[AsyncSession],
    sim: PbxSimulator,
) -> None:
    agents = await seed_agents(pg_sessions, ["101", "102", "103"])
    async with (
        _running(_settings(pg_url, redis_url, sim), pg_url) as app,
        aiohttp.ClientSession() as http,
    ):
        await _consuming(app)
        tab = Tab(agents["102"].token, [app.url])
        tab.start(http)
        try:
            await tab.wait_for("state")
            linkedid = _play(sim, "+79160000012", ring_s=1.0, talk_s=5.0)
            await tab.wait_for("call.ringing", linkedid)
            await sim.cut(down_s=3.0)  # answered while the link is down
            await tab.wait_for("call.wrapup", linkedid, timeout_s=30)
            await _ended_in_crm(pg_sessions, linkedid)
        finally:
            await tab.close()
    _once(tab, linkedid, "call.ringing", "call.answered", "call.wrapup")
    trace = await _call_log(pg_sessions, linkedid)
    assert (trace["logs"], trace["answered"], trace["ended"]) == (1, True, True)


async def test_postgresql_refusing_connections_delays_but_loses_nothing(
    pg_url: str,
    redis_url: str,
    pg_sessions: async_sessionmaker[AsyncSession],
    sim: PbxSimulator,
) -> None:
    agents = await seed_agents(pg_sessions, ["101", "102", "103"])
    url = make_url(pg_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    await proxy.start()
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    try:
        async with (
            _running(_settings(proxied, redis_url, sim), proxied) as app,
            aiohttp.ClientSession() as http,
        ):
            await _consuming(app)
            tab = Tab(agents["102"].token, [app.url])
            tab.start(http)
            try:
                await tab.wait_for("state")
                first = _play(sim, "+79160000013", ring_s=1.0, talk_s=1.0)
                await tab.wait_for("call.ringing", first)
                await proxy.refuse()
                # While the database is away the first call is answered and ends, then a second
                # call rings, is answered and ends.
                await asyncio.sleep(2.5)
                second = _play(sim, "+79160000014", ring_s=0.5, talk_s=0.5)
                await asyncio.sleep(2.5)
                await proxy.accept()
                await tab.wait_for("call.wrapup", second, timeout_s=30)
                await _ended_in_crm(pg_sessions, first)
                await _ended_in_crm(pg_sessions, second)
                assert app.app[TELEPHONY].links[0].consuming, "the lease survived the outage"
            finally:
                await tab.close()
    finally:
        await proxy.close()
    for linkedid in (first, second):
        _once(tab, linkedid, "call.ringing", "call.answered", "call.wrapup")
        trace = await _call_log(pg_sessions, linkedid)
        assert (trace["logs"], trace["answered"], trace["ended"]) == (1, True, True), linkedid
    order = [m["card"]["linkedid"] for m in tab.messages if m["type"] == "call.wrapup"]
    assert order == [first, second], "the calls' events were applied in the PBX's order"


@pytest.fixture
async def private_redis(tmp_path: Path) -> AsyncIterator[tuple[str, Any]]:
    """A redis-server of this test's own (never the shared one): url, restart.

    Restarting on the same port needs a number, so it is probed; other tests (other pytest-xdist
    workers) may take it in the gap, so each start checks that the server answering is this one.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    state: dict[str, Any] = {"port": free_port()}

    async def launch() -> bool:
        """Start the server on state's port; False when another process answers there."""
        port = state["port"]
        args = [binary, "--port", str(port), "--save", "", "--appendonly", "no"]
        process = await asyncio.create_subprocess_exec(
            *args,
            "--dir",
            str(tmp_path),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        state["process"] = process
        client = aioredis.Redis(host="127.0.0.1", port=port)
        try:
            for _attempt in range(100):
                try:
                    info = await client.info("server")
                except aioredis.ConnectionError:
                    await asyncio.sleep(0.05)
                    continue
                return bool(info["process_id"] == process.pid)
        finally:
            await client.aclose()
        raise AssertionError("the private redis-server did not start")

    async def stop() -> None:
        state["process"].kill()
        await state["process"].wait()

    async def restart(down_s: float) -> None:
        await stop()
        await asyncio.sleep(down_s)
        assert await launch(), f"port {state['port']} was taken while redis was down"

    for _attempt in range(3):
        if await launch():
            break
        await stop()
        state["port"] = free_port()
    else:
        raise AssertionError("no free port for the private redis-server")
    yield f"redis://127.0.0.1:{state['port']}/0", restart
    await stop()


async def test_redis_restarts_and_pops_resume(
    pg_url: str,
    pg_sessions: async_sessionmaker[AsyncSession],
    sim: PbxSimulator,
    private_redis: tuple[str, Any],
) -> None:
    redis_url, restart_redis = private_redis
    agents = await seed_agents(pg_sessions, ["101", "102", "103"])
    settings = _settings(pg_url, redis_url, sim)
    async with (
        _running(settings, pg_url) as consumer,
        _running(settings, pg_url) as other,
        aiohttp.ClientSession() as http,
    ):
        links = [app.app[TELEPHONY].links[0] for app in (consumer, other)]
        await wait_until(lambda: any(link.consuming for link in links), 15, "a consumer")
        standby = other if links[0].consuming else consumer
        tab = Tab(agents["102"].token, [standby.url])
        tab.start(http)
        try:
            await tab.wait_for("state")
            before = _play(sim, "+79160000015", ring_s=0.3, talk_s=0.3)
            await tab.wait_for("call.wrapup", before)
            await restart_redis(1.0)
            # Rings long enough for both instances to subscribe again (they retry every second).
            after = _play(sim, "+79160000016", ring_s=3.0, talk_s=4.0)
            await tab.wait_for("call.answered", after, timeout_s=30)
            # A tab opened now gets the call's live card in its state.
            late = Tab(agents["102"].token, [standby.url])
            late.start(http)
            try:
                await late.wait_for("state")
                state = next(m for m in late.messages if m["type"] == "state")
                assert [card["linkedid"] for card in state["cards"]] == [after]
            finally:
                await late.close()
            await tab.wait_for("call.wrapup", after, timeout_s=30)
        finally:
            await tab.close()
    _once(tab, after, "call.answered", "call.wrapup")
