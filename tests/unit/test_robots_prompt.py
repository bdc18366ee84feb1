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
    runner = RobotRunner(sessions, None, None)  # type: ignore[arg-type]
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
