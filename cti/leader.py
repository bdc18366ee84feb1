"""A job that runs once across instances (the call-back SLA watch): whoever holds its lock runs it.

With PostgreSQL the lock is ``pg_try_advisory_lock`` held on a dedicated connection for as long as
this instance runs the job; the others retry every few seconds and take over when the holder dies
(its connection closes and PostgreSQL releases the lock). A frozen holder keeps its connection, and
so the lock, for as long as it is frozen: the AMI consumers, which must not wait that long, run
under a lease instead (``cti.lease``). SQLite is single-instance by nature, so the lock is always
granted there.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import structlog
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = structlog.get_logger(__name__)


def lock_key(pbx: str) -> int:
    """A stable signed 64-bit key for ``pbx`` (the namespace keeps it apart from other locks)."""
    digest = hashlib.sha256(f"cti-ami-consumer:{pbx}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@asynccontextmanager
async def consumer_lock(
    engine: AsyncEngine, pbx: str, *, retry_s: float = 3.0
) -> AsyncIterator[AsyncConnection | None]:
    """Wait until this instance may consume ``pbx``; hold the right until the block exits."""
    if engine.dialect.name != "postgresql":
        yield None
        return
    key = lock_key(pbx)
    while True:
        try:
            connection = await engine.connect()
        except (OperationalError, DBAPIError, OSError) as err:
            log.warning("ami consumer lock unavailable", pbx=pbx, error=str(err))
            await asyncio.sleep(retry_s)
            continue
        try:
            granted = (
                await connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key})
            ).scalar_one()
            if granted:
                await connection.commit()
                log.info("ami consumer lock acquired", pbx=pbx)
                try:
                    yield connection
                finally:
                    await _release(connection, key)
                return
            await connection.rollback()
        except (OperationalError, DBAPIError, OSError) as err:
            log.warning("ami consumer lock unavailable", pbx=pbx, error=str(err))
        finally:
            await connection.close()
        await asyncio.sleep(retry_s)


async def _release(connection: AsyncConnection, key: int) -> None:
    try:
        await connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
        await connection.commit()
    except (OperationalError, DBAPIError) as err:
        # Closing the connection releases the lock anyway.
        log.warning("ami consumer lock release failed", error=str(err))


async def run_once_across_instances(
    engine: AsyncEngine,
    name: str,
    check: Callable[[], Awaitable[object]],
    interval_s: float,
    *,
    failed: str,
) -> None:
    """Call ``check`` every ``interval_s`` while this instance holds ``name``'s lock.

    A database that is briefly away (an error from the driver, or a connection refused or reset
    before the driver wraps it) costs one pass, logged as ``failed``: each job's next pass covers
    what this one missed. Any other error is logged with its traceback and the job goes on, since
    a job that stopped would stop for every instance until this one exits.
    """
    async with consumer_lock(engine, name):
        while True:
            try:
                await check()
            except (OperationalError, DBAPIError, OSError) as err:
                log.warning(failed, error=str(err))
            except Exception:  # logged with its traceback; the next pass retries
                log.exception(failed)
            await asyncio.sleep(interval_s)
