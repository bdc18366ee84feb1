"""Hold a PostgreSQL LISTEN for a cache, so other instances' committed changes clear it.

A cache that other processes' writes can make stale keeps answers only while its listener holds
the connection: ``enabled`` is True while listening and False while deaf (no connection yet, or
it was lost), and the cache is cleared on every notification and every (re)connect. A missed
notification therefore never leaves a stale answer, it only costs database reads for a while.
On SQLite there is one writing process, so the cache is enabled and nothing is heard.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Protocol

import structlog
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger(__name__)


class ListeningCache(Protocol):
    enabled: bool

    def invalidate(self) -> None: ...


async def listen_for_changes(
    engine: AsyncEngine, channel: str, cache: ListeningCache, *, retry_s: float = 2.0
) -> None:
    """Clear ``cache`` on each NOTIFY of ``channel`` until cancelled; pass through while deaf."""
    if engine.dialect.name != "postgresql":
        cache.enabled = True
        await asyncio.Event().wait()  # nothing to hear: SQLite has one writer process
    while True:
        try:
            await _listen_once(engine, channel, cache)
            log.warning("cache listener connection lost; retrying", channel=channel)
        except (OperationalError, DBAPIError, OSError) as err:
            log.warning("cache listener cannot listen", channel=channel, error=str(err))
        await asyncio.sleep(retry_s)


async def _listen_once(engine: AsyncEngine, channel: str, cache: ListeningCache) -> None:
    """Hold one LISTEN connection; keep answers while it lives."""
    lost = asyncio.Event()

    def on_notify(*_args: Any) -> None:
        cache.invalidate()

    def on_lost(*_args: Any) -> None:
        lost.set()

    async with engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        if raw is None:
            raise OperationalError("LISTEN", None, ConnectionError("no driver connection"))
        await raw.add_listener(channel, on_notify)
        raw.add_termination_listener(on_lost)
        cache.invalidate()  # whatever changed before we listened
        cache.enabled = True
        try:
            await lost.wait()
        finally:
            cache.enabled = False
            cache.invalidate()
            if not raw.is_closed():
                with contextlib.suppress(OSError, DBAPIError):
                    await raw.remove_listener(channel, on_notify)
