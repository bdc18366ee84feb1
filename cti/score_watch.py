"""Lead scores kept current on a schedule, once across instances (cti/leader.py).

Every ``sweep_interval_s`` the holder of the lock rescores the leads whose inputs changed since
its last look (new activities, calls that ended, stage moves, deal edits): one watermark over
every write path (API, call effects, imports, the board's stage mover) instead of a hook in each.
Once a day, at ``nightly_hour_utc``, it trains the learned score again and rescores everything,
since "days since the last contact" moves with the clock alone. A new rules version or model is
applied to every score at the next pass. All of it is idempotent: a second runner after a freeze
writes the same scores again.
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

from crmlite.services.score_changes import ChangeMark, changed_since, current_mark
from crmlite.services.score_training import train_and_record
from crmlite.services.scoring import (
    rescore,
    rescore_everything,
    scorer_in_force,
)
from crmlite.web.keys import ENGINE, SESSIONS
from crmlite.web.scoring import TRAINING_MINIMUMS
from cti.leader import run_once_across_instances
from cti.settings import ScoringSettings, Settings

log = structlog.get_logger(__name__)

LOCK_NAME: Final = "lead-scoring"


class ScoreWatch:
    """Rescore what changed; every night, retrain and rescore everything."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: ScoringSettings,
        *,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._clock = clock
        self._mark: ChangeMark | None = None
        self._versions: tuple[int | None, int | None] | None = None
        self.last_full: dt.datetime | None = None
        self.rescored = 0

    async def check(self) -> None:
        """One pass: the nightly work when due, a full pass on new rules, else what changed."""
        now = self._clock()
        if self._nightly_due(now):
            await self.nightly(now)
            return
        async with self._sessions() as session:
            scorer = await scorer_in_force(session)
            if self._mark is None:
                self._mark = await current_mark(session, now)
            changes = await changed_since(session, self._mark, now)
        versions = (scorer.rules_version, scorer.model_version)
        if self._versions is not None and versions != self._versions:
            self._versions = versions
            await self.full(now)
            self._mark = changes.mark
            return
        self._versions = versions
        if changes.contact_ids or changes.deal_ids:
            async with self._sessions.begin() as session:
                self.rescored += await rescore(
                    session,
                    scorer,
                    now,
                    contact_ids=changes.contact_ids,
                    deal_ids=changes.deal_ids,
                )
        self._mark = changes.mark

    def _nightly_due(self, now: dt.datetime) -> bool:
        today = now.replace(hour=self._settings.nightly_hour_utc, minute=0, second=0, microsecond=0)
        due = today if now >= today else today - dt.timedelta(days=1)
        # After a start the first pass is a full one: the scores may be a night old or missing.
        return self.last_full is None or self.last_full < due

    async def nightly(self, now: dt.datetime) -> None:
        """Train on the history, then score every contact and open deal."""
        try:
            async with self._sessions.begin() as session:
                trained = await train_and_record(
                    session,
                    min_won=self._settings.min_won,
                    min_lost=self._settings.min_lost,
                    now=now,
                )
        except ValueError as err:
            # A history the fit cannot use (one class in the split): the rules stay in force.
            log.warning("lead score training failed", error=str(err))
            await self.full(now)
            return
        log.info(
            "lead score trained",
            status=trained.status,
            won=trained.won,
            lost=trained.lost,
            auc=trained.auc,
            rules_auc=trained.rules_auc,
        )
        await self.full(now)

    async def full(self, now: dt.datetime) -> None:
        """Score every contact and open deal again."""
        async with self._sessions() as session:
            self._mark = await current_mark(session, now)
            scorer = await scorer_in_force(session)
        self._versions = (scorer.rules_version, scorer.model_version)
        counts = await rescore_everything(self._sessions, now)
        self.last_full = now
        self.rescored += counts["contacts"] + counts["deals"]
        log.info("lead scores recomputed", **counts)

    async def run(self, engine: AsyncEngine, interval_s: float) -> None:
        """Pass every ``interval_s`` while this instance holds the scoring's lock."""
        await run_once_across_instances(
            engine, LOCK_NAME, self.check, interval_s, failed="lead scoring pass failed"
        )


SCORE_WATCH = web.AppKey("score_watch", ScoreWatch)


def setup_scoring(app: web.Application, settings: Settings) -> None:
    """Keep the lead scores current once the database is up (when ``[scoring]`` is enabled)."""
    app[TRAINING_MINIMUMS] = (settings.scoring.min_won, settings.scoring.min_lost)
    if not settings.scoring.enabled:
        return

    async def scoring_context(app: web.Application) -> AsyncIterator[None]:
        watch = ScoreWatch(app[SESSIONS], settings.scoring)
        app[SCORE_WATCH] = watch
        task = asyncio.create_task(
            watch.run(app[ENGINE], settings.scoring.sweep_interval_s), name="lead-scoring"
        )
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    app.cleanup_ctx.append(scoring_context)
