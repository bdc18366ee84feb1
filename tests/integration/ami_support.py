"""Shared pieces of the AMI client tests: short timings and waiting for a kind of link item."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from cti.protocol import LinkItem

# Timings small enough that reconnects and dead-peer detection happen within a test.
FAST = {
    "ping_interval_s": 0.2,
    "ping_timeout_s": 0.2,
    "reconnect_min_s": 0.02,
    "reconnect_max_s": 0.1,
    "action_timeout_s": 2.0,
}


async def next_item(items: AsyncIterator[LinkItem], kind: type, within_s: float = 5.0) -> LinkItem:
    """Skip items until one of ``kind`` arrives."""
    async with asyncio.timeout(within_s):
        async for item in items:
            if isinstance(item, kind):
                return item
    raise AssertionError("items ended")
