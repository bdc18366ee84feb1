"""The scoring watch on real SQLite and PostgreSQL: a call that ends moves its lead's score."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import ScoreRuleSet
from cti.score_watch import ScoreWatch
from cti.settings import ScoringSettings
from tests.integration.crm_support import StepClock
from tests.integration.scoring_support import NOW, call, lead, stage_ids, stored


async def test_a_call_that_ends_rescores_its_lead_and_new_rules_rescore_all(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    stages = await stage_ids(sessions)
    async with sessions.begin() as db:
        contact_id, deal_id = await lead(db, stages["open"])
        _, quiet_deal = await lead(db, stages["open"])
    clock = StepClock(NOW.replace(hour=4))
    watch = ScoreWatch(sessions, ScoringSettings(nightly_hour_utc=3), clock=clock)
    await watch.check()  # the first pass after a start scores everything
    assert watch.last_full == clock.now
    before = await stored(sessions, "deal", deal_id)
    assert before is not None
    assert [f["rule"] for f in before.factors] == ["never-contacted"]

    clock.advance(seconds=5)
    async with sessions.begin() as db:
        await call(db, contact_id, "inbound", clock.now - dt.timedelta(minutes=8), talk_min=6.0)
    clock.advance(seconds=5)
    await watch.check()
    after = await stored(sessions, "deal", deal_id)
    assert after is not None
    assert after.score > before.score
    assert {"inbound-week", "answered", "long-talk"} <= {f["rule"] for f in after.factors}
    assert watch.last_full == NOW.replace(hour=4)  # a sweep, not a full pass

    async with sessions.begin() as db:
        db.add(ScoreRuleSet(document={"base": 77, "rules": []}, created_at=clock.now))
    clock.advance(seconds=5)
    await watch.check()
    quiet = await stored(sessions, "deal", quiet_deal)
    assert quiet is not None
    assert quiet.score == 77

    clock.now = NOW.replace(hour=3) + dt.timedelta(days=1)
    await watch.check()  # the night: trained (too few deals) and everything again
    assert watch.last_full == clock.now
