"""Stage robots inside the service: prompt on every move, on a schedule once across instances.

Entry robots fire promptly. The prompt loop (every instance) fires the entry robots of deals it is
told entered a stage: by the sessions' commit bell (crmlite.services.stage_entries) the moment a
unit of work on this instance commits a move (a wrap-up, a call-to-deal rule, an API move, another
robot), and by the follower, which reads the stage history every ``follow_interval_s`` (about a
second) and so also sees moves made on other instances or on paths without a session (the board's
one-hop move). The scheduled pass runs only where the robots' advisory lock is held
(cti/leader.py): it sweeps entry robots a stopped instance left undone and runs the stuck robots.
Any two of them may meet on the same step: the effect row's unique key lets only one act
(crmlite.services.robot_effects).

What a fired step tells goes out after its commit: a ``robot.notice`` pop to the owner (or the
heads, for an escalation) and a ``robot.fired`` webhook through the webhook sender, whose
(endpoint, event id) key delivers it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

import structlog
from aiohttp import web
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crmlite.domain.robots import STUCK_TASK_TITLES
from crmlite.services.robot_effects import Notice
from crmlite.services.robot_runs import (
    deals_entered_after,
    newest_stage_change,
    run_entry_robots,
    run_stuck_robots,
)
from crmlite.services.stage_entries import ring_on_commit
from crmlite.web.keys import ENGINE, SESSIONS
from cti.leader import run_once_across_instances
from cti.pops.fanout import FanoutUnavailable
from cti.pops.hub import ScreenPopHub
from cti.pops.messages import ROBOT_NOTICE
from cti.settings import Settings
from cti.web.call_crm import CALL_LANE_SESSIONS, WEBHOOK_SENDER
from cti.web.ws import POP_HUB
from cti.webhooks.events import Publisher, event_id

log = structlog.get_logger(__name__)

LOCK_NAME: Final = "stage-robots"
FOLLOW_LOCK_NAME: Final = "stage-robot-entries"
ROBOT_FIRED: Final = "robot.fired"


def notice_data(notice: Notice) -> dict[str, Any]:
    """The body of a ``robot.notice`` pop and the data of a ``robot.fired`` webhook."""
    return {
        "effect_id": notice.effect_id,
        "robot_id": notice.robot_id,
        "action": notice.action,
        "step": notice.step,
        "outcome": notice.outcome,
        "detail": notice.detail,
        "deal_id": notice.deal_id,
        "deal_title": notice.deal_title,
        "pipeline_id": notice.pipeline_id,
        "stage_id": notice.stage_id,
        "stage": notice.stage_name,
        "owner_id": notice.owner_id,
        "message": notice.message,
        "task_id": notice.task_id,
        "idle_days": notice.idle_days,
        "fired_at": notice.at.isoformat(),
        **notice.extra,
    }


PROMPT_GATHER_S = 0.1


class RobotRunner:
    """Run the robots and tell whom they concern."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        hub: ScreenPopHub | None,
        publisher: Publisher | None,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        locale: str = "en",
        gather_s: float = PROMPT_GATHER_S,
    ) -> None:
        self._sessions = sessions
        self._gather_s = gather_s
        self._stuck_title = STUCK_TASK_TITLES.get(locale, STUCK_TASK_TITLES["en"])
        self._hub = hub
        self._publisher = publisher
        self._clock = clock
        self._entered: set[int] = set()
        self._after_change: int | None = None
        self._bell = asyncio.Event()
        self.fired = 0
        self.passes = 0
        self.prompt_runs = 0

    def wake(self, deal_ids: frozenset[int]) -> None:
        """Deals just entered a stage here (called from a session's commit, on the loop)."""
        self._entered.update(deal_ids)
        self._bell.set()

    async def run_prompt(self) -> None:
        """Fire the entry robots of the deals this instance moved, as they move."""
        while True:
            await self._bell.wait()
            # A moment for the moves committing meanwhile (a call-made deal a call, tens a
            # second under load): one look at the robots for all of them, not one each.
            await asyncio.sleep(self._gather_s)
            self._bell.clear()
            deals, self._entered = frozenset(self._entered), set()
            try:
                await self.tell(
                    await run_entry_robots(self._sessions, now=self._clock(), deal_ids=deals)
                )
            except (OperationalError, DBAPIError, OSError) as err:
                # The database is away (a refused or reset connection surfaces as an OSError):
                # the scheduled pass finds these entries, nothing is lost, only later.
                log.warning("entry robots failed", error=str(err), deals=len(deals))
            self.prompt_runs += 1

    async def check(self) -> list[Notice]:
        """One scheduled pass: entry robots left undone, then the stuck robots."""
        now = self._clock()
        notices = await run_entry_robots(self._sessions, now=now)
        notices += await run_stuck_robots(self._sessions, now=now, stuck_title=self._stuck_title)
        await self.tell(notices)
        self.passes += 1
        return notices

    async def run(self, engine: AsyncEngine, interval_s: float) -> None:
        """Pass every ``interval_s`` while this instance holds the robots' lock."""
        await run_once_across_instances(
            engine, LOCK_NAME, self.check, interval_s, failed="robot pass failed"
        )

    async def follow(self) -> int:
        """Wake the prompt loop for deals moved since the last look, on any instance or path."""
        async with self._sessions() as db:
            if self._after_change is None:
                # Older entries are the scheduled pass's, which runs as the lock is taken.
                self._after_change = await newest_stage_change(db)
                return 0
            deals, self._after_change = await deals_entered_after(db, self._after_change)
        if deals:
            self.wake(deals)
        return len(deals)

    async def run_follower(self, engine: AsyncEngine, interval_s: float) -> None:
        """Follow the stage history every ``interval_s`` while holding the follower's lock."""
        await run_once_across_instances(
            engine, FOLLOW_LOCK_NAME, self.follow, interval_s, failed="robot follower failed"
        )

    async def tell(self, notices: list[Notice]) -> None:
        """Pop and webhook what fired; an outage costs the notice, never the effect."""
        for notice in notices:
            self.fired += 1
            data = notice_data(notice)
            log.info("robot fired", robot_id=notice.robot_id, deal_id=notice.deal_id,
                     step=notice.step, outcome=notice.outcome)  # fmt: skip
            if self._hub is not None and notice.user_ids:
                text = self._hub.encoder.encode(ROBOT_NOTICE, data)
                try:
                    for user_id in notice.user_ids:
                        await self._hub.publish(user_id, text)
                except FanoutUnavailable as err:
                    log.warning("robot notice not delivered", error=str(err))
            if self._publisher is not None:
                ident = event_id(ROBOT_FIRED, notice.effect_id)
                await self._publisher.publish(ROBOT_FIRED, ident, data, notice.at)


ROBOT_RUNNER = web.AppKey("robot_runner", RobotRunner)


def setup_robots(app: web.Application, settings: Settings) -> None:
    """Run the robots after the pops and the webhook sender are up."""
    if not settings.robots.enabled:
        return

    async def robots_context(app: web.Application) -> AsyncIterator[None]:
        runner = RobotRunner(
            app[SESSIONS],
            app.get(POP_HUB),
            app.get(WEBHOOK_SENDER),
            locale=settings.i18n.default_locale,
        )
        app[ROBOT_RUNNER] = runner
        ring_on_commit(app[SESSIONS], runner.wake)
        lane = app.get(CALL_LANE_SESSIONS)
        if lane is not None and lane is not app[SESSIONS]:
            ring_on_commit(lane, runner.wake)  # deals the calls make enter Unsorted there
        tasks = [
            asyncio.create_task(runner.run_prompt(), name="robots-prompt"),
            asyncio.create_task(
                runner.run(app[ENGINE], settings.robots.check_interval_s), name="robots-pass"
            ),
            asyncio.create_task(
                runner.run_follower(app[ENGINE], settings.robots.follow_interval_s),
                name="robots-follow",
            ),
        ]
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app.cleanup_ctx.append(robots_context)
