"""Read-only units of work in one hop off the event loop, for the lookups made while a phone rings.

Through aiosqlite every statement hops to a worker thread and back several times (cursor, execute,
fetch, close, rollback), each hop contending for the GIL with the event loop. A lookup done on the
plain sqlite3 driver inside one ``asyncio.to_thread`` call costs one hop. Other backends (asyncpg)
run the same read on the async engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine, create_engine
from sqlalchemy.ext.asyncio import AsyncEngine

from crmlite.db.engine import SQLITE_BUSY_TIMEOUT_MS

T = TypeVar("T")


class OneHopReads:
    """Run ``read(connection)`` functions: one worker-thread hop on SQLite, async elsewhere."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sync: Engine | None = None
        if engine.dialect.name == "sqlite":
            self._sync = create_engine(
                engine.url.set(drivername="sqlite"),
                connect_args={
                    "check_same_thread": False,
                    "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
                },
            )

    @property
    def statement_engine(self) -> Engine:
        """The engine the statements run on (to count them, or to log them)."""
        return self._sync if self._sync is not None else self._engine.sync_engine

    async def run(self, read: Callable[[Connection], T]) -> T:
        """Run ``read`` on a connection of its own and return what it returns."""
        sync = self._sync
        if sync is None:
            async with self._engine.connect() as connection:
                return await connection.run_sync(read)

        def in_thread() -> T:
            with sync.connect() as connection:
                return read(connection)

        return await asyncio.to_thread(in_thread)

    def close(self) -> None:
        """Release the worker-thread engine, if any."""
        if self._sync is not None:
            self._sync.dispose()
