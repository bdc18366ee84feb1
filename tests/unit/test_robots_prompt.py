"""The prompt robots outlive a database outage: a refused connection costs one run, not the task."""

from __future__ import annotations

import asyncio
from typing import Any

from cti.robots import RobotRunner


class Unreachable:
    """A session factory whose database resets every connection."""

    def __init__(self) -> None:
        self.tries = 0

    def __call__(self) -> Any:
        self.tries += 1
        raise ConnectionResetError(104, "Connection reset by peer")


async def test_a_reset_connection_does_not_stop_the_prompt_robots() -> None:
    sessions = Unreachable()
    runner = RobotRunner(sessions, None, None, gather_s=0)  # type: ignore[arg-type]
    task = asyncio.create_task(runner.run_prompt())
    try:
        for deal_id in (1, 2):
            runner.wake(frozenset({deal_id}))
            for _ in range(100):
                await asyncio.sleep(0)
                if runner.prompt_runs == deal_id:
                    break
        assert runner.prompt_runs == 2
        assert sessions.tries == 2
        assert not task.done(), "the prompt task is still there for the next entries"
    finally:
        task.cancel()


async def test_the_moves_committed_while_it_gathers_are_looked_at_once() -> None:
    sessions = Unreachable()  # each look at the robots opens one session
    runner = RobotRunner(sessions, None, None, gather_s=0.05)  # type: ignore[arg-type]
    task = asyncio.create_task(runner.run_prompt())
    try:
        for deal_id in (1, 2, 3):
            runner.wake(frozenset({deal_id}))
            await asyncio.sleep(0)
        await _runs(runner, 1)
        assert (runner.prompt_runs, sessions.tries) == (1, 1)
        runner.wake(frozenset({4}))  # a later move: a look of its own
        await _runs(runner, 2)
        assert sessions.tries == 2
    finally:
        task.cancel()


async def _runs(runner: RobotRunner, count: int) -> None:
    for _ in range(500):  # 5 s at most
        if runner.prompt_runs >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{runner.prompt_runs} prompt runs, not {count}")
