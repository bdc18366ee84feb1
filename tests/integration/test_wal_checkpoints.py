"""WAL checkpoints off the request path: no commit checkpoints, a worker thread does."""

from __future__ import annotations

import asyncio
import os
import threading
from pathlib import Path

from sqlalchemy import Connection, text

from crmlite.db.checkpoints import CheckpointResult, WalCheckpointer
from crmlite.db.engine import create_engine
from crmlite.db.one_hop import OneHop


def _wal_bytes(database: str | None) -> int:
    return os.path.getsize(f"{database}-wal")


def _autocheckpoint(connection: Connection) -> int:
    return int(connection.execute(text("PRAGMA wal_autocheckpoint")).scalar_one())


async def test_commits_leave_checkpoints_to_the_checkpointer(database_url: str) -> None:
    engine = create_engine(database_url, background_checkpoints=True)
    units = OneHop(engine)
    checkpointer = WalCheckpointer(engine, interval_s=0.01)
    try:
        if engine.dialect.name != "sqlite":
            assert not checkpointer.active  # PostgreSQL looks after its own WAL
            await checkpointer.start()
            await checkpointer.stop()
            assert checkpointer.checkpoints == 0
            return
        async with engine.connect() as conn:
            assert await conn.run_sync(_autocheckpoint) == 0
        assert await units.read(_autocheckpoint) == 0  # the one-hop twin is tuned the same

        async with engine.begin() as conn:
            await conn.execute(text("CREATE TABLE filler (id INTEGER, pad TEXT)"))
            await conn.execute(
                text("INSERT INTO filler VALUES (:id, :pad)"),
                [{"id": i, "pad": "x" * 500} for i in range(20000)],
            )
        result = await checkpointer.checkpoint()
        assert result.wal_frames > 1000  # past the mark where a commit would have checkpointed
        assert result.checkpointed_frames == result.wal_frames
        assert not result.busy
        await checkpointer.checkpoint(truncate=True)
        assert _wal_bytes(engine.url.database) == 0

        await checkpointer.start()
        async with asyncio.timeout(10):
            while checkpointer.checkpoints < 4:  # noqa: ASYNC110 - counts the task's passes
                await asyncio.sleep(0.01)
        await checkpointer.stop()
        assert checkpointer.failures == 0
        async with engine.connect() as conn:
            count = (await conn.execute(text("SELECT count(*) FROM filler"))).scalar_one()
        assert count == 20000
    finally:
        units.close()
        await checkpointer.stop()
        await engine.dispose()


async def test_a_plain_engine_keeps_sqlite_checkpointing_in_commits(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        if engine.dialect.name == "sqlite":
            async with engine.connect() as conn:
                assert await conn.run_sync(_autocheckpoint) == 1000
            units = OneHop(engine)
            try:
                assert await units.read(_autocheckpoint) == 1000
            finally:
                units.close()
    finally:
        await engine.dispose()


async def test_a_stop_waits_for_the_checkpoint_in_flight(tmp_path: Path) -> None:
    """A stop cancels the task, not the thread: the connection is used by one thread at a time
    and closed after the last (two at once, or a close beside one, crashed SQLite)."""
    engine = create_engine(
        f"sqlite+aiosqlite:///{tmp_path / 'wal.db'}", background_checkpoints=True
    )
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE filler (id INTEGER)"))
    checkpointer = WalCheckpointer(engine, interval_s=0.01)
    started, release = threading.Event(), threading.Event()
    busy: list[int] = []
    most = 0
    real = checkpointer._checkpoint

    def slow(mode: str = "PASSIVE") -> CheckpointResult:
        nonlocal most
        busy.append(1)
        most = max(most, len(busy))
        started.set()
        release.wait(5)
        try:
            return real(mode)
        finally:
            busy.pop()

    checkpointer._checkpoint = slow  # type: ignore[method-assign]
    try:
        await checkpointer.start()
        assert await asyncio.to_thread(started.wait, 5)
        stopping = asyncio.create_task(checkpointer.stop())
        await asyncio.sleep(0.1)
        assert not stopping.done(), "the stop waits for the thread"
        release.set()
        await asyncio.wait_for(stopping, 10)
        assert most == 1, "never two checkpoints on the connection at once"
        assert checkpointer.failures == 0
    finally:
        release.set()
        await engine.dispose()
