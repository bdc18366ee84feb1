"""End to end over real TCP: the simulator's AMI -> AmiClient -> CallTracker -> CallToCrm.

A ring-all queue call from an unknown caller becomes a contact and an Unsorted deal owned by the
seller who answered; a missed call becomes a call-back task; a transfer hands the deal and the
call log to the new agent; replaying the same capture twice leaves the CRM tables identical.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Activity, Contact, ContactPhone, Deal, Stage
from cti.ami import AmiClient
from cti.callflow import CallFlow
from cti.calls import CallModelConfig
from cti.calls.events import CallEvent
from cti.calls.tracker import CallTracker
from cti.sim import PbxSimulator, flows
from cti.web.call_crm import CALL_TO_CRM
from cti.web.pops_keys import POP_SERVICE
from tests.integration.call_support import snapshot_tables
from tests.integration.pops_support import RunningApp, seed_agents, start_app

CALLER = "+79161234567"
SPEED = 8.0
FIXTURES = Path(__file__).parents[1] / "fixtures" / "ami"
SHARED = Path(__file__).parents[3] / "shared" / "ami-traces"


def captures() -> list[Path]:
    """The fixture captures, plus any extra ones in ../shared/ami-traces."""
    found = {path.name: path for path in sorted(FIXTURES.glob("*.ami"))}
    if SHARED.is_dir():
        for path in sorted(SHARED.glob("*.ami")):
            found.setdefault(path.name, path)
    return list(found.values())


class CallEnds:
    """Outcome sink that counts calls the CRM finished with."""

    def __init__(self) -> None:
        self.ended: list[object] = []
        self.changed = asyncio.Event()

    async def on_crm_outcome(self, event: CallEvent, outcome: object | None) -> None:
        if event.kind == "call-ended":
            self.ended.append(outcome)
            self.changed.set()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(15.0):
            while len(self.ended) < count:
                self.changed.clear()
                await self.changed.wait()


@asynccontextmanager
async def feeding(
    running: RunningApp, sim: PbxSimulator
) -> AsyncIterator[tuple[CallFlow, CallEnds]]:
    """The lead's call path as the composition root wires it: pops first, CRM in lanes."""
    app = running.app
    ends = CallEnds()
    app[POP_SERVICE].expect_crm_outcomes()
    flow = CallFlow(
        CallTracker(CallModelConfig()),
        fast_sinks=[app[POP_SERVICE]],
        crm=app[CALL_TO_CRM],
        outcome_sinks=[app[POP_SERVICE], ends],
    )
    client = AmiClient(sim.client_settings())
    await client.start()
    consumer = asyncio.create_task(flow.consume(client.items()))
    try:
        await sim.wait_for_login(1)
        yield flow, ends
        await flow.lanes.join()
    finally:
        await client.stop()
        await asyncio.wait_for(consumer, timeout=5)
        await flow.lanes.close()


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator(port=0) as simulator:
        yield simulator


@pytest.fixture
async def running(database_url: str) -> AsyncIterator[RunningApp]:
    app = await start_app(database_url)
    yield app
    await app.close()


async def test_ring_all_answered_unknown_caller_becomes_unsorted_deal_of_the_answerer(
    sim: PbxSimulator, running: RunningApp, sessions: async_sessionmaker[AsyncSession]
) -> None:
    agents = await seed_agents(sessions, ["101", "102", "103"])
    async with feeding(running, sim) as (_flow, ends):
        sim.play(flows.queue_call(sim.ids, caller=CALLER, answer_by="102"), SPEED)
        await ends.wait_for(1)
    async with sessions() as session:
        [phone] = (await session.scalars(select(ContactPhone))).all()
        contact = await session.get(Contact, phone.contact_id)
        [deal] = (await session.scalars(select(Deal))).all()
        stage = await session.get(Stage, deal.stage_id)
        [call] = (await session.scalars(select(Activity).where(Activity.kind == "call"))).all()
    assert phone.normalized == CALLER
    assert contact is not None
    assert contact.owner_id == agents["102"].user_id
    assert stage is not None
    assert stage.is_unsorted
    assert deal.source == "call"
    assert deal.contact_id == contact.id
    assert deal.owner_id == agents["102"].user_id
    assert (call.deal_id, call.contact_id) == (deal.id, contact.id)
    assert call.agent_id == agents["102"].user_id
    assert call.outcome == "answered"
    assert call.direction == "inbound"


async def test_missed_queue_call_becomes_call_back_task(
    sim: PbxSimulator, running: RunningApp, sessions: async_sessionmaker[AsyncSession]
) -> None:
    agents = await seed_agents(sessions, ["101", "102", "103"])
    async with feeding(running, sim) as (_flow, ends):
        sim.play(flows.queue_call(sim.ids, caller=CALLER, answer_by=None), SPEED)
        await ends.wait_for(1)
    async with sessions() as session:
        [task] = (await session.scalars(select(Activity).where(Activity.kind == "task"))).all()
        [deal] = (await session.scalars(select(Deal))).all()
        [call] = (await session.scalars(select(Activity).where(Activity.kind == "call"))).all()
    assert task.title.startswith("Missed call from ")
    assert task.title.endswith(": call back")
    assert task.deal_id == deal.id
    assert task.assignee_id in {a.user_id for a in agents.values()}
    assert task.done_at is None
    assert deal.owner_id is None  # nobody answered: still unassigned in Unsorted
    assert call.outcome in {"abandoned", "missed"}


async def test_transfer_hands_deal_and_call_log_to_the_new_agent(
    sim: PbxSimulator, running: RunningApp, sessions: async_sessionmaker[AsyncSession]
) -> None:
    agents = await seed_agents(sessions, ["101", "102", "103", "104"])
    async with feeding(running, sim) as (_flow, ends):
        steps = flows.queue_call(sim.ids, caller=CALLER, answer_by="101", transfer_to="104")
        sim.play(steps, SPEED)
        await ends.wait_for(1)
    async with sessions() as session:
        [deal] = (await session.scalars(select(Deal))).all()
        [call] = (await session.scalars(select(Activity).where(Activity.kind == "call"))).all()
    assert deal.owner_id == agents["104"].user_id
    assert call.agent_id == agents["104"].user_id


@pytest.mark.parametrize("capture", captures(), ids=lambda path: path.stem)
async def test_replaying_a_capture_twice_leaves_the_crm_identical(
    sim: PbxSimulator,
    running: RunningApp,
    sessions: async_sessionmaker[AsyncSession],
    capture: Path,
) -> None:
    await seed_agents(sessions, ["101", "102", "103", "104", "105"])
    async with feeding(running, sim) as (flow, _ends):
        await sim.replay(capture, speed=None, timestamps=True)
        await _settle(flow)
    first = await snapshot_tables(sessions)
    if capture.stem.startswith(("inbound", "blind_transfer", "concurrent_burst")):
        assert first["contacts"], "an inbound capture must leave a contact"
        assert first["call_effects"]
    if capture.stem == "inbound_recorded":
        async with sessions() as session:
            recording = await session.scalar(
                select(Activity.recording_url).where(Activity.kind == "call")
            )
        assert recording, "the call log carries the recording the PBX made"
    async with feeding(running, sim) as (flow, _ends):
        await sim.replay(capture, speed=None, timestamps=True)
        await _settle(flow)
    assert await snapshot_tables(sessions) == first


async def _settle(flow: CallFlow) -> None:
    """Wait until the client has read what the simulator sent and the lanes ran it."""
    seen, quiet = -1, 0
    while quiet < 2:  # nothing new read for two rounds in a row
        quiet = quiet + 1 if seen == flow.items_seen else 0
        seen = flow.items_seen
        await asyncio.sleep(0.15)
        await flow.lanes.join()
