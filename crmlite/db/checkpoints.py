"""SQLite WAL checkpoints in a worker thread, so no request's commit pays for one.

With ``wal_autocheckpoint`` on (SQLite's default), the commit that grows the WAL past 1,000 pages
copies them into the database file and syncs it before it returns: a move that usually takes a
few milliseconds then takes tens. An engine made with ``background_checkpoints=True`` turns that
off, and this task checkpoints on its own connection instead. A PASSIVE checkpoint waits for no
reader or writer, and SQLite does the copying with the GIL released, so the event loop goes on.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from crmlite.db.engine import SQLITE_BUSY_TIMEOUT_MS

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CheckpointResult:
    """What one ``PRAGMA wal_checkpoint`` reported."""

    busy: bool  # another checkpoint was running, or readers held back part of the WAL
    wal_frames: int
    checkpointed_frames: int


class WalCheckpointer:
    """Checkpoint the WAL of ``engine``'s SQLite file every ``interval_s``; a no-op elsewhere."""

    def __init__(self, engine: AsyncEngine, *, interval_s: float = 1.0) -> None:
        self._path = engine.url.database if engine.dialect.name == "sqlite" else None
        if self._path in ("", ":memory:"):
            self._path = None
        self._interval_s = interval_s
        self._connection: sqlite3.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one checkpoint at a time on the one connection
        self.checkpoints = 0
        self.failures = 0

    @property
    def active(self) -> bool:
        """True when there is a WAL file to look after."""
        return self._path is not None

    async def start(self) -> None:
        if self.active and self._task is None:
            self._task = asyncio.create_task(self._run(), name="sqlite-wal-checkpoints")

    async def stop(self) -> None:
        """Stop, after one last checkpoint so the WAL is not left long."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await self._checkpoint_logged()
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    async def checkpoint(self, *, truncate: bool = False) -> CheckpointResult:
        """Checkpoint once now: PASSIVE (copy what no reader still needs), or TRUNCATE (wait
        for readers and writers, copy everything, and cut the WAL file to nothing: after a
        bulk load)."""
        async with self._lock:
            mode = "TRUNCATE" if truncate else "PASSIVE"
            work = asyncio.ensure_future(asyncio.to_thread(self._checkpoint, mode))
            try:
                return await asyncio.shield(work)
            finally:
                if not work.done():
                    # Cancelled (a stop) while the thread works on the connection: a thread
                    # cannot be stopped, so the lock (and the connection) stays taken until it
                    # is done; a second checkpoint or a close beside it could crash SQLite.
                    await asyncio.wait({work})

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self._checkpoint_logged()

    async def _checkpoint_logged(self) -> None:
        try:
            await self.checkpoint()
        except sqlite3.Error as err:
            # Never fatal: the WAL grows until the next try, and commits still succeed.
            self.failures += 1
            log.warning("sqlite.checkpoint_failed", error=str(err), failures=self.failures)

    def _checkpoint(self, mode: str = "PASSIVE") -> CheckpointResult:
        if self._connection is None:
            assert self._path is not None  # noqa: S101 - only started when active
            self._connection = sqlite3.connect(
                self._path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000, check_same_thread=False
            )
        row = self._connection.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()
        self.checkpoints += 1
        return CheckpointResult(bool(row[0]), int(row[1]), int(row[2]))
