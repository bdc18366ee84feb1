"""``cti serve`` as a child process on port 0, and the URL it reports once bound.

A port picked by probing (bind port 0, close, hand the number to the child) can be taken by
another test in the gap; under pytest-xdist that other test may even be a server that answers
``/healthz``. So the child binds port 0 itself and its ``serving`` log line (JSON, level INFO or
lower) says which port it got.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable


def served_url(log: str) -> str | None:
    """The first URL of the ``serving`` line in a JSON log, or None while there is none yet."""
    for line in log.splitlines():
        if '"serving"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("event") == "serving" and record.get("urls"):
            return str(record["urls"][0])
    return None


async def wait_for_url(
    process: asyncio.subprocess.Process, read_log: Callable[[], str], timeout_s: float = 60.0
) -> str:
    """Poll the child's log until it says where it serves; fail if it exits or stays silent."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        url = served_url(read_log())
        if url is not None:
            return url
        if process.returncode is not None:
            break
        await asyncio.sleep(0.05)
    raise AssertionError(
        f"cti serve reported no address (exit {process.returncode}):\n{read_log()[-2000:]}"
    )
