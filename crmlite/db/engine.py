"""Engines and sessions: SQLite (WAL, busy timeout, foreign keys) by default, PostgreSQL by URL."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import ConnectionPoolEntry

SQLITE_BUSY_TIMEOUT_MS = 5000
# Remembered on the engine, so the plain-sqlite3 twin (crmlite.db.one_hop) tunes its connections
# the same way.
_BACKGROUND_CHECKPOINTS = "crmlite_background_checkpoints"


def create_engine(
    url: str,
    *,
    pool_size: int = 10,
    echo: bool = False,
    background_checkpoints: bool = False,
    pre_ping: bool = True,
    max_overflow: int | None = None,
    autocommit: bool = False,
) -> AsyncEngine:
    """Create the async engine for ``url``, tuned per backend.

    ``background_checkpoints`` (SQLite): no commit checkpoints the WAL itself; the caller runs a
    :class:`crmlite.db.checkpoints.WalCheckpointer`. A long-lived service wants that: an inline
    checkpoint copies ~1,000 pages and syncs the file inside whichever commit crossed the mark.

    ``pre_ping`` (PostgreSQL): test each connection as it leaves the pool (three round trips with
    asyncpg), so a server restart costs no request an error. A caller that retries a unit of work
    on a lost connection anyway (the call lane) turns it off and saves those round trips.
    ``max_overflow``: connections past ``pool_size`` opened at a peak and closed after (default:
    ``pool_size`` more). ``autocommit`` (PostgreSQL): no transaction around the statements, for
    reads alone: under READ COMMITTED each statement sees its own snapshot either way, and a read
    then costs its statements' round trips, without a BEGIN before and a ROLLBACK after.
    """
    # Parameters never appear in SQL logs or error messages: they include session CSRF tokens,
    # token digests and password hashes.
    kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    else:
        overflow = pool_size if max_overflow is None else max_overflow
        kwargs.update(pool_size=pool_size, max_overflow=overflow, pool_pre_ping=pre_ping)
        if autocommit:
            kwargs["isolation_level"] = "AUTOCOMMIT"
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        engine.sync_engine.update_execution_options(
            **{_BACKGROUND_CHECKPOINTS: background_checkpoints}
        )
        tune_sqlite(engine.sync_engine, background_checkpoints)
    return engine


def background_checkpoints(engine: AsyncEngine) -> bool:
    """True when ``engine``'s SQLite connections leave WAL checkpoints to a background task."""
    options = engine.sync_engine.get_execution_options()
    return bool(options.get(_BACKGROUND_CHECKPOINTS, False))


def sqlite_sync_twin(engine: AsyncEngine) -> Engine:
    """A plain sqlite3 engine on the same file, its connections tuned as ``engine``'s are."""
    sync = create_sync_engine(
        engine.url.set(drivername="sqlite"),
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
    )
    tune_sqlite(sync, background_checkpoints(engine))
    return sync


def tune_sqlite(
    engine: Engine, background_checkpoints: bool, *, busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS
) -> None:
    """Set every new connection of ``engine`` up: WAL, foreign keys, busy timeout, cache."""
    event.listen(
        engine,
        "connect",
        functools.partial(
            _sqlite_pragmas,
            autocheckpoint=not background_checkpoints,
            busy_timeout_ms=busy_timeout_ms,
        ),
    )


def _sqlite_pragmas(
    dbapi_connection: Any,
    _record: ConnectionPoolEntry,
    *,
    autocheckpoint: bool = True,
    busy_timeout_ms: int = SQLITE_BUSY_TIMEOUT_MS,
) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # 64 MiB of page cache per connection: reports and lookups re-read the same index pages.
        cursor.execute("PRAGMA cache_size=-65536")
        if not autocheckpoint:
            cursor.execute("PRAGMA wal_autocheckpoint=0")
    finally:
        cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
