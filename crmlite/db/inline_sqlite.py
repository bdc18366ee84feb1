"""SQLite on the event loop's own thread, for the call lane's short units of work.

aiosqlite runs every driver call (cursor, execute, fetch, close, commit) on a worker thread and
wakes the loop for each: about 300 µs of CPU a statement on a 2-core machine, against 10 µs for
the statement itself, most of it the two threads handing the GIL back and forth. The CRM work of
one call event is a dozen short statements on indexed rows, so the hops, not SQLite, were most of
its cost.

``lane_engine`` opens a second engine on the same file whose connections run each driver call at
once, in the calling thread. That is safe for the call lane because its transactions are short and
never wait on a lock: the connection's busy timeout is zero, so a write that meets another
writer's lock fails at once with "database is locked" (a transient error the lane retries after a
few milliseconds) instead of holding the event loop while the other writer, which may need that
same loop to finish, waits. In WAL mode readers never wait, and with ``synchronous=NORMAL`` a
commit does not sync the disk (the WAL checkpointer does, off the loop).

Other backends, and SQLite in memory, keep the one engine: ``lane_engine`` answers None.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Generator
from typing import Any

import aiosqlite
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from crmlite.db.engine import background_checkpoints, tune_sqlite


class InlineSqliteConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run in the caller's thread, with no worker thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    async def _connect(self) -> InlineSqliteConnection:
        if self._connection is None:
            self._connection = self._connector()
        return self

    def __await__(self) -> Generator[Any, None, InlineSqliteConnection]:
        return self._connect().__await__()  # no worker thread to start

    def stop(self) -> None:
        self._running = False
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def close(self) -> None:
        self.stop()

    def __del__(self) -> None:
        self.stop()  # nothing to hand to a thread: close the file handle, quietly


def lane_engine(engine: AsyncEngine) -> AsyncEngine | None:
    """An engine on ``engine``'s SQLite file whose statements run on the loop's thread; None for
    other backends and in-memory databases (the caller keeps ``engine``)."""
    path = engine.url.database
    if engine.dialect.name != "sqlite" or not path or path == ":memory:" or "mode=" in path:
        return None

    def connector() -> sqlite3.Connection:
        # timeout=0: a locked database fails at once rather than sleeping on the loop's thread.
        return sqlite3.connect(path, timeout=0, check_same_thread=False)

    async def creator() -> InlineSqliteConnection:
        return await InlineSqliteConnection(connector)

    inline = create_async_engine(
        engine.url, async_creator=creator, hide_parameters=True, pool_size=2, max_overflow=2
    )
    tune_sqlite(inline.sync_engine, background_checkpoints(engine), busy_timeout_ms=0)
    return inline
