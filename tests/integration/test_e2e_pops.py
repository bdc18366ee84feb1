"""End to end over real TCP and real websockets: the simulator rings a ring-all queue, the cards
follow the call (ringing, answered / answered by X, transfer), and the wrap-up moves the deal."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Activity, Contact, ContactPhone, Deal, DealStageChange, Stage
from cti.ami import AmiClient
from cti.settings import Settings
from cti.sim import PbxSimulator, flows
from tests.integration.pops_support import (
    Agent,
    RunningApp,
    open_tab,
    pbx_feeding,
    receive,
    receive_until,
    seed_agents,
    start_app,
)

CALLER = "+79161234567"
NOW = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
SPEED = 8.0


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator(port=0) as simulator:
        yield simulator


@pytest.fixture
async def running(database_url: str) -> AsyncIterator[RunningApp]:
    running = await start_app(database_url)
    yield running
    await running.close()


async def _seed_caller_with_unsorted_deal(sessions: async_sessionmaker[AsyncSession]) -> int:
    """A known caller with an unassigned deal in Unsorted (as a call-made deal waits)."""
    async with sessions.begin() as db:
        unsorted = await db.scalar(select(Stage).where(Stage.is_unsorted.is_(True)))
        assert unsorted is not None
        contact = Contact(name="Ivan Petrov", company="Romashka")
        contact.created_at = contact.updated_at = NOW
        db.add(contact)
        await db.flush()
        db.add(ContactPhone(contact_id=contact.id, raw=CALLER, normalized=CALLER, kind="e164"))
        deal = Deal(
            title="Inbound call",
            contact_id=contact.id,
            pipeline_id=unsorted.pipeline_id,
            stage_id=unsorted.id,
            source="call",
        )
        deal.created_at = deal.updated_at = deal.stage_entered_at = NOW
        db.add(deal)
        await db.flush()
        return deal.id


async def _tabs(
    client: aiohttp.ClientSession, url: str, agents: dict[str, Agent]
) -> dict[str, aiohttp.ClientWebSocketResponse]:
    tabs = {}
    for ext, agent in agents.items():
        tabs[ext] = await open_tab(client, url, agent.token)
        assert (await receive(tabs[ext]))["type"] == "state"
    return tabs


async def test_ring_all_answer_wrapup_moves_the_deal_with_history(
    sim: PbxSimulator, running: RunningApp, sessions: async_sessionmaker[AsyncSession]
) -> None:
    agents = await seed_agents(sessions, ["101", "102", "103"])
    deal_id = await _seed_caller_with_unsorted_deal(sessions)
    async with (
        pbx_feeding(running.app, AmiClient(sim.client_settings())),
        aiohttp.ClientSession() as client,
    ):
        await sim.wait_for_login(1)
        tabs = await _tabs(client, running.url, agents)
        sim.play(flows.queue_call(sim.ids, caller=CALLER, answer_by="102"), SPEED)
        cards = {ext: (await receive_until(ws, "call.ringing"))["card"] for ext, ws in tabs.items()}
        linkedid = cards["101"]["linkedid"]
        for card in cards.values():
            assert card["linkedid"] == linkedid
            assert card["caller"]["display"] == "8 (916) 123-45-67"
            assert card["queue"] == "sales"
            assert card["did"]["e164"] == flows.SALES_DID
        answered = await receive_until(tabs["102"], "call.answered")
        assert answered["card"]["status"] == "in-call"
        assert answered["card"]["contact"]["name"] == "Ivan Petrov"
        assert answered["card"]["deal"]["id"] == deal_id
        for ext in ("101", "103"):
            elsewhere = await receive_until(tabs[ext], "call.answered_elsewhere")
            assert elsewhere["linkedid"] == linkedid
            assert elsewhere["answered_by"]["user"]["name"] == "Agent 102"
        wrapup = await receive_until(tabs["102"], "call.wrapup", wait_s=10)
        form = wrapup["card"]["wrapup"]
        assert form["outcome"] == "answered"
        assert form["duration_s"] > 0
        qualification = next(s for s in form["stages"] if s["name"] == "Qualification")
        due = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
        # Another seller may not wrap up this call.
        denied = await client.post(
            f"{running.url}/api/v1/wrapups",
            json={"linkedid": linkedid, "stage_id": qualification["id"]},
            headers={"Authorization": f"Bearer {agents['101'].token}"},
        )
        assert denied.status == 403
        saved = await client.post(
            f"{running.url}/api/v1/wrapups",
            json={
                "linkedid": linkedid,
                "stage_id": qualification["id"],
                "note": "Wants a quote for 3 fridges",
                "callback_due_at": due,
                "callback_title": "Send the quote",
            },
            headers={"Authorization": f"Bearer {agents['102'].token}"},
        )
        assert saved.status == 201, await saved.text()
        result = await saved.json()
        assert result["deal_id"] == deal_id
        done = await receive_until(tabs["102"], "call.wrapup_done")
        assert done["linkedid"] == linkedid
        again = await client.post(
            f"{running.url}/api/v1/wrapups",
            json={"linkedid": linkedid, "note": "twice"},
            headers={"Authorization": f"Bearer {agents['102'].token}"},
        )
        assert again.status == 403
        for ws in tabs.values():
            await ws.close()
    async with sessions() as db:
        deal = await db.get(Deal, deal_id)
        assert deal is not None
        assert deal.stage_id == qualification["id"]
        assert deal.owner_id == agents["102"].user_id
        history = (
            await db.scalars(select(DealStageChange).where(DealStageChange.deal_id == deal_id))
        ).all()
        assert [(h.to_stage_id, h.changed_by_id) for h in history][-1] == (
            qualification["id"],
            agents["102"].user_id,
        )
        activities = (await db.scalars(select(Activity).where(Activity.deal_id == deal_id))).all()
        assert {(a.kind, a.body or a.title) for a in activities} == {
            ("note", "Wants a quote for 3 fridges"),
            ("task", "Send the quote"),
        }


async def test_a_transfer_moves_the_card_to_the_new_agent(
    sim: PbxSimulator, running: RunningApp, sessions: async_sessionmaker[AsyncSession]
) -> None:
    agents = await seed_agents(sessions, ["101", "102", "103", "104"])
    async with (
        pbx_feeding(running.app, AmiClient(sim.client_settings())),
        aiohttp.ClientSession() as client,
    ):
        await sim.wait_for_login(1)
        tabs = await _tabs(client, running.url, agents)
        steps = flows.queue_call(sim.ids, caller=CALLER, answer_by="101", transfer_to="104")
        sim.play(steps, SPEED)
        await receive_until(tabs["101"], "call.answered")
        moved = await receive_until(tabs["104"], "call.transferred", wait_s=10)
        assert moved["card"]["caller"]["e164"] == CALLER
        assert moved["card"]["transfers"][-1]["to"] == "104"
        withdrawn = await receive_until(tabs["101"], "call.withdrawn")
        assert withdrawn["reason"] == "transferred"
        wrapup = await receive_until(tabs["104"], "call.wrapup", wait_s=10)
        assert wrapup["card"]["linkedid"] == moved["card"]["linkedid"]
        for ws in tabs.values():
            await ws.close()


async def test_through_the_composition_root_the_crm_deal_reaches_the_card_and_the_wrapup(
    sim: PbxSimulator, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    """The app as `cti serve` builds it: its own AMI consumer, call-to-CRM rules, the pops."""
    settings = Settings.model_validate(
        {
            "database": {"url": database_url},
            "pbx": [sim.client_settings().model_dump(mode="json") | {"secret": sim.secret}],
        }
    )
    agents = await seed_agents(sessions, ["101", "102", "103"])
    running = await start_app(database_url, settings=settings)
    try:
        async with aiohttp.ClientSession() as client:
            await sim.wait_for_login(1)
            tabs = await _tabs(client, running.url, agents)
            caller = "+79035557788"  # nobody knows this number yet
            sim.play(flows.queue_call(sim.ids, caller=caller, answer_by="103"), SPEED)
            ringing = await receive_until(tabs["101"], "call.ringing")
            assert ringing["card"]["caller"]["e164"] == caller
            answered = await receive_until(tabs["103"], "call.answered")
            linkedid = answered["linkedid"]
            wrapup = await receive_until(tabs["103"], "call.wrapup", wait_s=10)
            while wrapup["card"]["deal"] is None:
                # The CRM lane was slower than the wrap-up's wait: the card comes again with it.
                wrapup = await receive_until(tabs["103"], "call.wrapup", wait_s=10)
            deal = wrapup["card"]["deal"]
            assert wrapup["card"]["contact"] is not None
            stage = next(s for s in wrapup["card"]["wrapup"]["stages"] if s["kind"] == "won")
            saved = await client.post(
                f"{running.url}/api/v1/wrapups",
                json={"linkedid": linkedid, "stage_id": stage["id"], "result": "won"},
                headers={"Authorization": f"Bearer {agents['103'].token}"},
            )
            assert saved.status == 201, await saved.text()
            for ws in tabs.values():
                await ws.close()
    finally:
        await running.close()
    async with sessions() as db:
        won = await db.get(Deal, deal["id"])
        assert won is not None
        assert won.stage_id == stage["id"]
        assert won.closed_at is not None
