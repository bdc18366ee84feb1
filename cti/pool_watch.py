"""The pool's idle return on a schedule: once across instances, every ``check_interval_s``.

With PostgreSQL only the instance holding the return's advisory lock (cti/leader.py, as for the AMI
consumers and the call-back watch) runs it. Each pass is idempotent (crmlite.services.pool_return):
a pass cut short by a restart and run again returns nobody twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Final

import structlog
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crmlite.domain.pool import PoolPolicy, RingPolicy
from crmlite.services.pool_return import ReturnPass, return_idle_contacts
from crmlite.web.keys import ENGINE, SESSIONS
from crmlite.web.pool import POOL_POLICY
from cti.leader import run_once_across_instances
from cti.settings import PoolSettings, Settings

log = structlog.get_logger(__name__)

LOCK_NAME: Final = "pool-idle-return"


def pool_policy(settings: PoolSettings) -> PoolPolicy:
    """The ``[pool]`` section as the pool's rules read it."""
    return PoolPolicy(
        idle=dt.timedelta(days=settings.idle_days),
        max_held=settings.max_held,
        reclaim_cooldown=dt.timedelta(days=settings.reclaim_cooldown_days),
        ring=RingPolicy(settings.ring),
    )


class PoolReturnWatch:
    """Return contacts their owners left idle to the pool."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        policy: PoolPolicy,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._sessions = sessions
        self._policy = policy
        self._clock = clock
        self.passes = 0
        self.returned = 0

    async def check(self) -> ReturnPass:
        """One pass over every held contact."""
        done = await return_idle_contacts(self._sessions, now=self._clock(), idle=self._policy.idle)
        self.passes += 1
        self.returned += done.returned
        if done.returned:
            log.info(
                "contacts returned to the pool",
                returned=done.returned,
                deals=done.deals,
                examined=done.examined,
            )
        return done

    async def run(self, engine: AsyncEngine, interval_s: float) -> None:
        """Pass every ``interval_s`` while this instance holds the return's lock."""
        # A pass that failed on the database is picked up where it stopped by the next one.
        await run_once_across_instances(
            engine, LOCK_NAME, self.check, interval_s, failed="pool return failed"
        )


POOL_WATCH = web.AppKey("pool_watch", PoolReturnWatch)


def setup_pool(app: web.Application, settings: Settings) -> None:
    """Give the API the pool's rules, and run the idle return after the database is up."""
    app[POOL_POLICY] = pool_policy(settings.pool)
    if not settings.pool.enabled:
        return

    async def return_context(app: web.Application) -> AsyncIterator[None]:
        watch = PoolReturnWatch(app[SESSIONS], app[POOL_POLICY])
        app[POOL_WATCH] = watch
        task = asyncio.create_task(
            watch.run(app[ENGINE], settings.pool.check_interval_s), name="pool-return"
        )
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(return_context)
