"""Ordered lanes keep each key's jobs in order and never let one slow key hold up another."""

from __future__ import annotations

import asyncio

from cti.lanes import Job, OrderedLanes


async def test_jobs_of_one_key_run_in_order_and_other_keys_beside_them() -> None:
    lanes = OrderedLanes()
    seen: list[str] = []
    slow_gate = asyncio.Event()

    def job(tag: str, gate: asyncio.Event | None = None) -> Job:
        async def run() -> None:
            if gate is not None:
                await gate.wait()
            seen.append(tag)

        return run

    await lanes.submit("call-a", job("a1", slow_gate))
    await lanes.submit("call-a", job("a2"))
    await lanes.submit("call-b", job("b1"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert seen == ["b1"], "call-b must not wait for the slow call-a"
    slow_gate.set()
    await lanes.join()
    assert seen == ["b1", "a1", "a2"]


async def test_a_failing_job_does_not_stop_its_lane() -> None:
    lanes = OrderedLanes()
    seen: list[int] = []

    async def boom() -> None:
        raise RuntimeError("database went away")

    async def ok() -> None:
        seen.append(1)

    await lanes.submit("k", boom)
    await lanes.submit("k", ok)
    await lanes.join()
    assert seen == [1]
    assert lanes.failures == 1
    assert lanes.pending == 0


async def test_submit_waits_when_every_slot_is_taken() -> None:
    lanes = OrderedLanes(max_pending=1)
    gate = asyncio.Event()

    async def blocked() -> None:
        await gate.wait()

    await lanes.submit("k", blocked)
    second = asyncio.create_task(lanes.submit("k", blocked))
    await asyncio.sleep(0.01)
    assert not second.done()
    gate.set()
    await asyncio.wait_for(second, timeout=5)
    await lanes.join()
    await lanes.close()


async def test_at_most_max_running_jobs_run_at_once() -> None:
    lanes = OrderedLanes(max_running=2)
    running = 0
    most = 0
    release = asyncio.Event()

    async def job() -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1

    for call in range(5):
        await lanes.submit(f"call.{call}", job)
    for _ in range(5):
        await asyncio.sleep(0)
    assert running == 2  # the other three calls wait for a slot, not for a pool connection
    release.set()
    await lanes.join()
    assert most == 2


async def test_live_jobs_never_queue_behind_more_than_a_few_background_ones() -> None:
    lanes = OrderedLanes(max_running=1, max_background=1)
    seen: list[str] = []
    gate = asyncio.Event()

    def job(tag: str, wait: bool = False) -> Job:
        async def run() -> None:
            if wait:
                await gate.wait()
            seen.append(tag)

        return run

    await lanes.submit("replayed-1", job("r1", wait=True), background=True)
    await lanes.submit("replayed-2", job("r2"), background=True)
    await lanes.submit("replayed-3", job("r3"), background=True)
    await lanes.submit("replayed-3", job("r3-live"))  # its call's own order still holds
    await asyncio.sleep(0)
    await lanes.submit("live", job("live"))
    await asyncio.sleep(0)
    gate.set()
    await lanes.join()
    assert seen.index("r1") == 0
    assert seen.index("live") < seen.index("r2")
    assert seen.index("live") < seen.index("r3") < seen.index("r3-live")
