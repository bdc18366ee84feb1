"""Real Asterisk captures replayed over TCP: the cards follow what the PBX really did."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.ami import AmiClient
from cti.sim import PbxSimulator
from tests.integration.pops_support import (
    RunningApp,
    open_tab,
    pbx_feeding,
    receive,
    receive_until,
    seed_agents,
    start_app,
)

CAPTURES = Path(__file__).parents[1] / "fixtures" / "ami"

# capture -> for each phone that rang: the messages its tab must see after the ringing card, in
# order (others may come between), ending with the call's last word for that phone.
EXPECTED: dict[str, dict[str, tuple[str, ...]]] = {
    "inbound_answered": {
        "101": ("call.answered_elsewhere",),
        "102": ("call.answered", "call.wrapup"),
        "103": ("call.answered_elsewhere",),
    },
    "inbound_missed": {
        "101": ("call.withdrawn",),
        "102": ("call.withdrawn",),
        "103": ("call.withdrawn",),
    },
    "blind_transfer": {
        "101": ("call.answered", "call.withdrawn"),
        "102": ("call.answered_elsewhere",),
        "103": ("call.answered_elsewhere", "call.transferred", "call.answered", "call.wrapup"),
    },
}


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator(port=0) as simulator:
        yield simulator


@pytest.fixture
async def running(database_url: str) -> AsyncIterator[RunningApp]:
    running = await start_app(database_url)
    yield running
    await running.close()


@pytest.mark.parametrize("capture", sorted(EXPECTED))
async def test_a_replayed_capture_pops_ringing_cards_and_ends_with_the_right_agent(
    capture: str,
    sim: PbxSimulator,
    running: RunningApp,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    expected = EXPECTED[capture]
    agents = await seed_agents(sessions, ["101", "102", "103"])
    async with (
        pbx_feeding(running.app, AmiClient(sim.client_settings())),
        aiohttp.ClientSession() as client,
    ):
        await sim.wait_for_login(1)
        tabs = {ext: await open_tab(client, running.url, a.token) for ext, a in agents.items()}
        for tab in tabs.values():
            await receive(tab)
        sim.replay(CAPTURES / f"{capture}.ami", speed=4.0)
        linkedids = set()
        for ext, steps in expected.items():
            ringing = await receive_until(tabs[ext], "call.ringing", wait_s=15)
            linkedids.add(ringing["linkedid"])
            assert ringing["card"]["queue"] == "sales"
            assert ringing["card"]["caller"]["e164"].startswith("+7916")
            for step in steps:
                message = await receive_until(tabs[ext], step, wait_s=15)
                assert message["linkedid"] in linkedids
        assert len(linkedids) == 1, "one call, one card per phone"
        for tab in tabs.values():
            await tab.close()
