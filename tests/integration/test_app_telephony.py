"""The composition root end to end: the app's own PBX link (the built-in simulator), call tracker,
pops and CRM, as `cti serve` / `cti demo` run them — no test-side wiring."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Contact, ContactPhone, Deal, Stage
from crmlite.domain.principal import Role
from cti.settings import Settings
from cti.sim import PbxSimulator
from cti.telephony import TELEPHONY
from tests.integration.pops_support import (
    RunningApp,
    open_tab,
    receive,
    receive_until,
    seed_agents,
    start_app,
)

CALLER = "+79167654321"


@pytest.fixture
async def running(database_url: str) -> AsyncIterator[RunningApp]:
    settings = Settings.model_validate(
        {
            "database": {"url": database_url},
            "simulator": {"enabled": True, "port": 0, "calls_per_minute": 0},
        }
    )
    app = await start_app(database_url, settings=settings)
    yield app
    await app.close()


def _simulator(running: RunningApp) -> PbxSimulator:
    simulator = running.app[TELEPHONY].simulator
    assert simulator is not None
    return simulator


async def test_a_simulated_call_pops_and_lands_in_unsorted(
    running: RunningApp, sessions: async_sessionmaker[AsyncSession]
) -> None:
    agents = await seed_agents(sessions, ["101", "102", "103"])
    sim = _simulator(running)
    await asyncio.wait_for(sim.wait_for_login(1), timeout=10)
    async with aiohttp.ClientSession() as client:
        tab = await open_tab(client, running.url, agents["102"].token)
        assert (await receive(tab))["type"] == "state"
        call = asyncio.create_task(
            sim.ring_queue(caller=CALLER, answer_by="102", ring_s=1.0, talk_s=1.0, speed=20.0)
        )
        ringing = await receive_until(tab, "call.ringing")
        assert ringing["card"]["queue"] == "sales"
        await receive_until(tab, "call.answered")
        await receive_until(tab, "call.wrapup", wait_s=10)
        await call
        await tab.close()
    await running.app[TELEPHONY].flow.lanes.join()

    async with sessions() as db:
        contact_id = (
            await db.execute(
                select(ContactPhone.contact_id).where(ContactPhone.normalized == CALLER)
            )
        ).scalar_one()
        deal = (await db.execute(select(Deal).where(Deal.contact_id == contact_id))).scalar_one()
        stage = await db.get(Stage, deal.stage_id)
        contacts = (await db.execute(select(func.count()).select_from(Contact))).scalar_one()
    assert stage is not None
    assert stage.is_unsorted
    assert deal.owner_id == agents["102"].user_id
    assert deal.source == "call"
    assert contacts == 1


async def test_pbx_status_reports_the_live_link(
    running: RunningApp, sessions: async_sessionmaker[AsyncSession]
) -> None:
    head = (await seed_agents(sessions, ["200"], role=Role.HEAD))["200"]
    seller = (await seed_agents(sessions, ["201"]))["201"]
    await asyncio.wait_for(_simulator(running).wait_for_login(1), timeout=10)
    async with aiohttp.ClientSession() as client:
        async with client.get(
            f"{running.url}/api/v1/pbx", headers={"Authorization": f"Bearer {head.token}"}
        ) as response:
            assert response.status == 200
            items = (await response.json())["items"]
        async with client.get(
            f"{running.url}/api/v1/pbx", headers={"Authorization": f"Bearer {seller.token}"}
        ) as response:
            assert response.status == 403
    assert [item["name"] for item in items] == ["sim"]
    assert items[0]["consuming"] is True
