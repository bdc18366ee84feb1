"""Two offices' PBXs, two real ``cti serve`` processes on PostgreSQL: each instance consumes one
PBX, and killing one (SIGKILL: no release, no goodbye) moves its PBX to the other."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.engine import create_engine, session_factory
from cti.sim import PbxSimulator
from tests.conftest import POSTGRES_URL, DatabaseTemplates
from tests.integration.failover_support import (
    FAST_LEASE,
    Instance,
    lease_holder,
    start_instance,
    write_config,
)

OFFICES = ("east", "west")
Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def pg_url(db_templates: DatabaseTemplates) -> AsyncIterator[str]:
    if not POSTGRES_URL:
        pytest.skip("set CTI_TEST_POSTGRES_URL to run the failover tests (they need PostgreSQL)")
    url, name = await db_templates.pg_copy()
    yield url
    await db_templates.drop(name)


@pytest.fixture
async def pg_sessions(pg_url: str) -> AsyncIterator[Sessions]:
    engine = create_engine(pg_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def pair(pg_url: str, tmp_path: Path) -> AsyncIterator[tuple[Instance, Instance]]:
    async with (
        PbxSimulator(port=0, system_name="east") as east,
        PbxSimulator(port=0, system_name="west") as west,
    ):
        config = write_config(
            tmp_path / "cti.toml",
            {
                "database": {"url": pg_url, "pool_size": 4},
                "lease": FAST_LEASE,
                "callbacks": {"enabled": False},
                "logging": {"level": "INFO", "format": "json"},
            },
            [
                {
                    "name": sim.system_name or "",
                    "host": sim.host,
                    "port": sim.port,
                    "username": sim.username,
                    "secret": sim.secret,
                    "reconnect_min_s": 0.1,
                    "reconnect_max_s": 0.5,
                }
                for sim in (east, west)
            ],
        )
        first, second = await asyncio.gather(
            start_instance("a", config, tmp_path), start_instance("b", config, tmp_path)
        )
        try:
            yield first, second
        finally:
            await asyncio.gather(first.stop(), second.stop())


async def _consumers(sessions: Sessions, instances: tuple[Instance, ...]) -> dict[str, str]:
    """PBX -> the name of the instance holding its lease (when one of ``instances`` does)."""
    found = {}
    for pbx in OFFICES:
        holder, _ = await lease_holder(sessions, pbx)
        for instance in instances:
            if f"/{instance.pid}/" in holder:
                found[pbx] = instance.name
    return found


async def test_two_instances_share_two_pbxs_and_a_killed_ones_pbx_moves(
    pair: tuple[Instance, Instance], pg_sessions: Sessions
) -> None:
    seen: dict[str, str] = {}

    async def poll() -> None:
        seen.clear()
        seen.update(await _consumers(pg_sessions, pair))

    async def spread() -> bool:
        await poll()
        return len(seen) == 2 and len(set(seen.values())) == 2

    await _eventually(spread, "each instance consumes one PBX")
    victim = next(i for i in pair if i.name == seen["east"])
    survivor = next(i for i in pair if i is not victim)
    victim.kill()

    async def moved() -> bool:
        await poll()
        return seen == {"east": survivor.name, "west": survivor.name}

    await _eventually(moved, "the survivor consumes both PBXs")


async def _eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    for _ in range(150):  # 30 s: leases of 2 s, renewed every 0.4 s
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for: {what}")
