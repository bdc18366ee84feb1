"""The call-back SLA watch: tell the heads of sales about missed calls nobody called back in time.

Every ``check_interval_s`` it asks the CRM which missed calls crossed their deadline since the last
check (each breach is reported once) and pops a ``callback.overdue`` notice to every head. With
PostgreSQL only the instance holding the watch's advisory lock runs it, so nobody is told twice.
The deadline counts the SLA in the office hours of the call's PBX (docs/MULTI_PBX.md).
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

from crmlite.domain.office_hours import SlaClock
from crmlite.domain.reports import Escalation
from crmlite.services.reports_calls import PLAIN_MINUTES, sla_escalations
from crmlite.web.keys import ENGINE, SESSIONS
from cti.leader import run_once_across_instances
from cti.pops.fanout import FanoutUnavailable
from cti.pops.hub import ScreenPopHub
from cti.pops.lookup import format_number
from cti.settings import Settings, sla_clock
from cti.web.ws import POP_HUB

log = structlog.get_logger(__name__)

CALLBACK_OVERDUE: Final = "callback.overdue"
LOCK_NAME: Final = "callback-sla-watch"


class CallbackSlaWatch:
    """Find newly overdue call-backs and pop a notice to the heads of sales."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        hub: ScreenPopHub,
        *,
        sla: dt.timedelta,
        region: str,
        extension_pattern: str,
        hours: SlaClock = PLAIN_MINUTES,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._sessions = sessions
        self._hub = hub
        self._sla = sla
        self._region = region
        self._extension_pattern = extension_pattern
        self._clock = clock
        self._hours = hours
        self._since: dt.datetime | None = None
        self.notified = 0

    async def check(self) -> list[Escalation]:
        """One pass: what became overdue since the last pass, told to who must know."""
        now = self._clock()
        async with self._sessions() as db:
            breaches = await sla_escalations(
                db, now=now, sla=self._sla, since=self._since, clock=self._hours
            )
        try:
            for breach in breaches:
                text = self._hub.encoder.encode(CALLBACK_OVERDUE, self._body(breach))
                for user_id in breach.notify_user_ids:
                    await self._hub.publish(user_id, text)
                    self.notified += 1
        except FanoutUnavailable as err:
            # Redis is away: keep the window, so the next pass tells these breaches again.
            log.warning("call-back notices not delivered", error=str(err), count=len(breaches))
            return breaches
        self._since = now
        if breaches:
            log.info("call-backs overdue", count=len(breaches))
        return breaches

    async def run(self, engine: AsyncEngine, interval_s: float) -> None:
        """Check every ``interval_s`` while this instance holds the watch's lock."""
        # A check that failed on the database leaves the window: the next one covers it again.
        await run_once_across_instances(
            engine, LOCK_NAME, self.check, interval_s, failed="call-back check failed"
        )

    def _body(self, breach: Escalation) -> dict[str, object]:
        number = format_number(breach.caller, self._region, self._extension_pattern)
        return {
            "activity_id": breach.activity_id,
            "caller": {"raw": number.raw, "e164": number.e164, "display": number.display},
            "missed_at": breach.missed_at.isoformat(),
            "deadline": breach.deadline.isoformat(),
            "contact_id": breach.contact_id,
            "sla_minutes": int(self._sla.total_seconds() // 60),
        }


CALLBACK_WATCH = web.AppKey("callback_watch", CallbackSlaWatch)


def setup_callback_watch(app: web.Application, settings: Settings) -> None:
    """Run the watch beside the pops (its cleanup context goes after theirs)."""
    if not settings.callbacks.enabled:
        return

    async def watch_context(app: web.Application) -> AsyncIterator[None]:
        watch = CallbackSlaWatch(
            app[SESSIONS],
            app[POP_HUB],
            sla=dt.timedelta(minutes=settings.callbacks.sla_minutes),
            region=settings.phone.default_region,
            extension_pattern=settings.phone.extension_pattern,
            hours=sla_clock(settings),  # each office's hours; validated when settings load
        )
        app[CALLBACK_WATCH] = watch
        task = asyncio.create_task(
            watch.run(app[ENGINE], settings.callbacks.check_interval_s), name="callback-sla"
        )
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(watch_context)
