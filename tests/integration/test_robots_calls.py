"""A call that makes a deal is a stage entry: the stage's robots act on it at once, and once."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Activity, Deal, Pipeline, RobotEffect, Stage
from crmlite.domain.principal import SYSTEM
from crmlite.services.robots import RobotInput, RobotService
from cti.robots import ROBOT_RUNNER
from cti.settings import Settings
from cti.sim import PbxSimulator, flows
from tests.integration.pops_support import RunningApp, seed_agents, start_app
from tests.integration.robot_support import eventually
from tests.integration.test_e2e_calls_crm import SPEED, feeding

CALLER = "+79161234567"


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator(port=0) as simulator:
        yield simulator


@pytest.fixture
async def running(database_url: str) -> AsyncIterator[RunningApp]:
    # Neither the pass nor the follower of the stage history comes round during the test: only
    # the commit of the call's own deal (on whichever sessions the call lane writes) rings.
    settings = Settings.model_validate(
        {
            "database": {"url": database_url},
            "robots": {"check_interval_s": 3600, "follow_interval_s": 3600},
        }
    )
    app = await start_app(database_url, settings=settings)
    yield app
    await app.close()


async def test_a_deal_a_call_makes_gets_its_stage_robots_once(
    sim: PbxSimulator, running: RunningApp, sessions: async_sessionmaker[AsyncSession]
) -> None:
    agents = await seed_agents(sessions, ["101", "102"])
    async with sessions.begin() as db:
        unsorted = await db.scalar(
            select(Stage.id)
            .join(Pipeline, Pipeline.id == Stage.pipeline_id)
            .where(Pipeline.is_default.is_(True), Stage.is_unsorted.is_(True))
        )
        assert unsorted is not None
        pipeline_id = await db.scalar(select(Stage.pipeline_id).where(Stage.id == unsorted))
        assert pipeline_id is not None
        robots = RobotService(db, SYSTEM)
        await robots.create(
            pipeline_id, unsorted, RobotInput("enter", "create_task", {"title": "Qualify"})
        )
        await robots.create(pipeline_id, unsorted, RobotInput("enter", "notify_owner", {}))
    runner = running.app[ROBOT_RUNNER]
    async with feeding(running, sim) as (_flow, ends):
        sim.play(flows.queue_call(sim.ids, caller=CALLER, answer_by="102"), SPEED)
        await ends.wait_for(1)

    async def fired() -> bool:
        async with sessions() as db:
            return len((await db.scalars(select(RobotEffect.id))).all()) == 2

    await eventually(fired)
    # Fired on the prompt path (the scheduled pass ran at start, before the call, and sleeps).
    assert runner.prompt_runs >= 1
    async with sessions() as db:
        [deal] = (await db.scalars(select(Deal))).all()
        titles = list(
            await db.scalars(
                select(Activity.title).where(Activity.kind == "task", Activity.deal_id == deal.id)
            )
        )
    assert titles == ["Qualify"]
    assert deal.owner_id == agents["102"].user_id
    # The scheduled pass and a second prompt run find nothing left to do.
    assert await runner.check() == []
    runner.wake(frozenset({deal.id}))
    assert await runner.check() == []
    async with sessions() as db:
        assert len((await db.scalars(select(RobotEffect.id))).all()) == 2
