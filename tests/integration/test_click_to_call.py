"""Click-to-call over real TCP: POST /api/v1/calls originates on the simulator from the seller's
own extension; the progress comes back on the seller's websocket."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.ami import AmiClient
from cti.sim import PbxSimulator
from cti.web.pops_keys import ORIGINATOR
from tests.integration.pops_support import (
    RunningApp,
    open_tab,
    pbx_feeding,
    receive,
    receive_until,
    seed_agents,
    start_app,
)


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator(port=0) as simulator:
        yield simulator


@pytest.fixture
async def ami(sim: PbxSimulator) -> AmiClient:
    return AmiClient(sim.client_settings())


@pytest.fixture
async def running(database_url: str, ami: AmiClient) -> AsyncIterator[RunningApp]:
    def prepare(app: aiohttp.web.Application) -> None:
        app[ORIGINATOR] = ami

    running = await start_app(database_url, prepare=prepare)
    yield running
    await running.close()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_click_to_call_rings_my_phone_then_the_customer(
    sim: PbxSimulator,
    ami: AmiClient,
    running: RunningApp,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    agents = await seed_agents(sessions, ["101", "102"])
    async with pbx_feeding(running.app, ami), aiohttp.ClientSession() as client:
        await sim.wait_for_login(1)
        tab = await open_tab(client, running.url, agents["101"].token)
        await receive(tab)
        answer = await client.post(
            f"{running.url}/api/v1/calls",
            json={"number": "8 (916) 765-43-21"},
            headers=_bearer(agents["101"].token),
        )
        assert answer.status == 202, await answer.text()
        call = await answer.json()
        assert call["number"] == "+79167654321"
        assert call["display"] == "8 (916) 765-43-21"
        assert call["extension"] == "101"
        statuses = []
        while not statuses or statuses[-1]["status"] not in ("connected", "failed"):
            message = await receive_until(tab, "click_to_call.status", wait_s=10)

            assert message["request_id"] == call["request_id"]
            statuses.append(message)
        assert [s["status"] for s in statuses] == ["ringing", "answered", "connected"]
        await tab.close()


async def test_a_seller_may_ring_only_from_their_own_extension(
    running: RunningApp, sessions: async_sessionmaker[AsyncSession]
) -> None:
    agents = await seed_agents(sessions, ["101", "102"])
    async with aiohttp.ClientSession() as client:
        answer = await client.post(
            f"{running.url}/api/v1/calls",
            json={"number": "+79167654321", "extension": "102"},
            headers=_bearer(agents["101"].token),
        )
        assert answer.status == 403
        problem = await answer.json()
        assert problem["slug"] == "forbidden"
        both = await client.post(
            f"{running.url}/api/v1/calls",
            json={"number": "+79167654321", "contact_id": 1},
            headers=_bearer(agents["101"].token),
        )
        assert both.status == 422


async def test_a_phone_the_pbx_does_not_know_fails_with_a_reason(
    sim: PbxSimulator,
    ami: AmiClient,
    running: RunningApp,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    agents = await seed_agents(sessions, ["199"])
    async with pbx_feeding(running.app, ami), aiohttp.ClientSession() as client:
        await sim.wait_for_login(1)
        tab = await open_tab(client, running.url, agents["199"].token)
        await receive(tab)
        answer = await client.post(
            f"{running.url}/api/v1/calls",
            json={"number": "+79167654321"},
            headers=_bearer(agents["199"].token),
        )
        assert answer.status == 202
        assert (await receive_until(tab, "click_to_call.status"))["status"] == "ringing"
        failed = await receive_until(tab, "click_to_call.status", wait_s=10)
        assert failed["status"] == "failed"
        assert failed["reason"]
        await tab.close()


async def test_without_a_pbx_click_to_call_is_unavailable(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    agents = await seed_agents(sessions, ["101"])
    running = await start_app(database_url)
    try:
        async with aiohttp.ClientSession() as client:
            answer = await client.post(
                f"{running.url}/api/v1/calls",
                json={"number": "+79167654321"},
                headers=_bearer(agents["101"].token),
            )
            assert answer.status == 503
            assert (await answer.json())["slug"] == "no-pbx"
    finally:
        await running.close()
