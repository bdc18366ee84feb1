"""Only one instance consumes a PBX at a time; a standby takes over when the holder lets go."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from crmlite.db.engine import create_engine
from cti.leader import consumer_lock, lock_key, run_once_across_instances


def test_lock_keys_are_stable_and_distinct() -> None:
    assert lock_key("pbx-a") == lock_key("pbx-a")
    assert lock_key("pbx-a") != lock_key("pbx-b")


async def test_standby_waits_for_the_holder(engine: AsyncEngine, database_url: str) -> None:
    if engine.dialect.name != "postgresql":
        async with consumer_lock(engine, "pbx") as held:
            assert held is None  # SQLite: single instance, always granted
        return
    other = create_engine(database_url)  # a second instance has its own pool
    try:
        order: list[str] = []
        acquired = asyncio.Event()
        release = asyncio.Event()

        async def holder() -> None:
            async with consumer_lock(engine, "pbx", retry_s=0.05):
                order.append("a-acquired")
                acquired.set()
                await release.wait()
                order.append("a-released")

        async def standby() -> None:
            async with consumer_lock(other, "pbx", retry_s=0.05):
                order.append("b-acquired")

        first = asyncio.create_task(holder())
        await asyncio.wait_for(acquired.wait(), timeout=10)
        second = asyncio.create_task(standby())
        await asyncio.sleep(0.3)
        assert order == ["a-acquired"], "the standby must not consume while the holder lives"
        release.set()
        await asyncio.wait_for(asyncio.gather(first, second), timeout=10)
        assert order == ["a-acquired", "a-released", "b-acquired"]
    finally:
        await other.dispose()


@pytest.mark.parametrize("pbx", ["one", "two"])
async def test_distinct_pbxs_do_not_block_each_other(engine: AsyncEngine, pbx: str) -> None:
    async with consumer_lock(engine, pbx) as first, consumer_lock(engine, pbx + "-other"):
        assert first is None or not first.closed


async def test_a_job_goes_on_after_a_pass_that_failed(engine: AsyncEngine) -> None:
    """A refused connection, a driver error or a bug in one pass costs that pass, not the job."""
    failures: list[BaseException] = [
        ConnectionResetError(104, "Connection reset by peer"),
        ValueError("a bug in one pass"),
    ]
    passes = 0
    done = asyncio.Event()

    async def check() -> None:
        nonlocal passes
        passes += 1
        if failures:
            raise failures.pop(0)
        done.set()

    job = asyncio.create_task(
        run_once_across_instances(engine, "flaky-job", check, 0.01, failed="flaky pass failed")
    )
    try:
        await asyncio.wait_for(done.wait(), timeout=10)
    finally:
        job.cancel()
        with pytest.raises(asyncio.CancelledError):
            await job
    assert passes == 3
