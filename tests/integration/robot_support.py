"""A small world for the stage-robot tests: two pipelines, a seller's deal, robots on a stage."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Activity, RobotEffect, Stage
from crmlite.domain.principal import Principal
from crmlite.services.deal_moves import DealMoveService
from crmlite.services.deals import DealService
from crmlite.services.pipelines import PipelineService, StageInput
from crmlite.services.robots import RobotInput, RobotService
from tests.integration.crm_support import add_users


@dataclass
class RobotWorld:
    sessions: async_sessionmaker[AsyncSession]
    seller: Principal
    other: Principal
    head: Principal
    admin: Principal
    pipeline_id: int
    stages: dict[str, int]
    other_pipeline_id: int
    other_stages: dict[str, int]

    async def robot(self, stage: str, trigger: str, action: str, **params: Any) -> int:
        async with self.sessions.begin() as db:
            robot = await RobotService(db, self.admin, clock=lambda: START).create(
                self.pipeline_id, self.stages[stage], RobotInput(trigger, action, params)
            )
        return robot.id

    async def deal(self, title: str, *, at: dt.datetime, contact_id: int | None = None) -> int:
        async with self.sessions.begin() as db:
            deal = await DealService(db, self.seller, clock=lambda: at).create(
                title, pipeline_id=self.pipeline_id, contact_id=contact_id
            )
        return deal.id

    async def move(self, deal_id: int, stage: str, *, at: dt.datetime) -> None:
        async with self.sessions.begin() as db:
            await DealMoveService(db, self.seller, clock=lambda: at).move(
                deal_id, self.stages[stage]
            )

    async def tasks(self, deal_id: int) -> list[str]:
        async with self.sessions() as db:
            rows = await db.scalars(
                select(Activity.title)
                .where(Activity.deal_id == deal_id, Activity.kind == "task")
                .order_by(Activity.id)
            )
            return [title or "" for title in rows]

    async def effects(self, deal_id: int) -> list[tuple[str, str]]:
        async with self.sessions() as db:
            rows = await db.execute(
                select(RobotEffect.effect, RobotEffect.step)
                .where(RobotEffect.deal_id == deal_id)
                .order_by(RobotEffect.id)
            )
            return [(row[0], row[1]) for row in rows]


START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


async def robot_world(sessions: async_sessionmaker[AsyncSession]) -> RobotWorld:
    seller, other, head, admin = await add_users(sessions)
    async with sessions.begin() as db:
        service = PipelineService(db, admin, clock=lambda: START)
        sales = await service.create(
            "Robots", [StageInput("Qualify"), StageInput("Offer", probability=40)]
        )
        service_line = await service.create("Service", [StageInput("Onboard")])
        stage_rows = await db.execute(select(Stage.pipeline_id, Stage.name, Stage.id))
        by_pipeline: dict[int, dict[str, int]] = {}
        for pipeline_id, name, stage_id in stage_rows:
            by_pipeline.setdefault(pipeline_id, {})[name] = stage_id
    return RobotWorld(
        sessions,
        seller,
        other,
        head,
        admin,
        sales.id,
        by_pipeline[sales.id],
        service_line.id,
        by_pipeline[service_line.id],
    )


async def count_tasks(sessions: async_sessionmaker[AsyncSession]) -> int:
    async with sessions() as db:
        found = await db.scalar(select(func.count(Activity.id)).where(Activity.kind == "task"))
    return found or 0


async def eventually(check: Callable[[], Awaitable[bool]], *, tries: int = 200) -> None:
    """Wait (up to ~10 s) until ``check`` holds; the robots run in the service's own tasks."""
    for _ in range(tries):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the robots did not get there")
