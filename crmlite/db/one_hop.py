"""Units of work in one hop off the event loop: the lookups made while a phone rings, and the
stage move of the board.

Through aiosqlite every statement hops to a worker thread and back several times (cursor, execute,
fetch, close, commit), each hop contending for the GIL with the event loop. A unit of work done on
the plain sqlite3 driver inside one ``asyncio.to_thread`` call costs one hop. Other backends
(asyncpg) run the same function on the async engine; reads there may go to an engine of their own
(``reads``: autocommit, no pre-ping), where a read costs only its statements' round trips instead
of six more (the pre-ping's three, BEGIN, ROLLBACK), and a read that met a lost connection is run
once more on a new one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from crmlite.db.engine import sqlite_sync_twin

T = TypeVar("T")


class OneHop:
    """Run ``work(connection)`` functions: one worker-thread hop on SQLite, async elsewhere."""

    def __init__(self, engine: AsyncEngine, *, reads: AsyncEngine | None = None) -> None:
        self._engine = engine
        self._reads = reads
        self._sync: Engine | None = None
        if engine.dialect.name == "sqlite":
            self._sync = sqlite_sync_twin(engine)

    @property
    def statement_engine(self) -> Engine:
        """The engine the reads' statements run on (to count them, or to log them)."""
        if self._sync is not None:
            return self._sync
        return (self._reads or self._engine).sync_engine

    async def read(self, read: Callable[[Connection], T]) -> T:
        """Run ``read`` on a connection of its own and return what it returns."""
        reads = self._reads
        if reads is None or self._sync is not None:
            return await self._run(read, transaction=False)
        try:
            async with reads.connect() as connection:
                return await connection.run_sync(read)
        except DBAPIError as err:
            if not err.connection_invalidated:
                raise
        # Lost (the server restarted): the pool dropped every connection as old as that one.
        async with reads.connect() as connection:
            return await connection.run_sync(read)

    async def write(self, work: Callable[[Connection], T]) -> T:
        """Run ``work`` in a transaction of its own: committed when it returns, else rolled back."""
        return await self._run(work, transaction=True)

    async def _run(self, work: Callable[[Connection], T], *, transaction: bool) -> T:
        sync = self._sync
        if sync is None:
            opened = self._engine.begin() if transaction else self._engine.connect()
            async with opened as connection:
                return await connection.run_sync(work)

        def in_thread() -> T:
            with sync.begin() if transaction else sync.connect() as connection:
                return work(connection)

        return await asyncio.to_thread(in_thread)

    def close(self) -> None:
        """Release the worker-thread engine, if any (the reads' engine is its owner's)."""
        if self._sync is not None:
            self._sync.dispose()
