"""A pool contact on the phone: the ringing card says so, [pool] ring picks who takes the call's
deal and where the dialplan routes it, and whoever answers in ``queue`` mode may claim it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Contact, Deal
from crmlite.domain.phones import PhoneRules
from crmlite.domain.pool import PoolPolicy, RingPolicy
from crmlite.domain.principal import SYSTEM, Principal, Role
from crmlite.services.contacts import ContactService
from crmlite.services.phones import PhoneInput
from crmlite.services.pool import PoolService
from crmlite.services.users import Identity, create_user
from cti.rules.book import RuleBook
from cti.rules.call_to_crm import CallToCrm
from cti.rules.executor import RuleExecutor
from cti.settings import Settings
from cti.sim import PbxSimulator, flows
from tests.integration.call_support import add_agents, inbound_call, ring_all_answered
from tests.integration.pops_support import open_tab, receive, receive_until, seed_agents, start_app
from tests.integration.test_e2e_calls_crm import feeding
from tests.support.api import start_api

CALLER = "+79161234567"
PHONES = PhoneRules(default_region="RU")
SPEED = 8.0


async def pooled_contact(
    sessions: async_sessionmaker[AsyncSession], previous_owner: Principal | int, reason: str
) -> int:
    """A caller's contact that ``previous_owner`` held and released into the pool."""
    owner = (
        previous_owner
        if isinstance(previous_owner, Principal)
        else Principal(previous_owner, "owner", Role.SELLER)
    )
    async with sessions.begin() as db:
        contact = await ContactService(db, owner, PHONES).create(
            "Pavel Poolov", company="Romashka", phones=[PhoneInput(CALLER)]
        )
    async with sessions.begin() as db:
        await PoolService(db, owner, PoolPolicy()).release(contact.id, reason)
    return contact.id


async def add_head(sessions: async_sessionmaker[AsyncSession], extension: str) -> int:
    async with sessions.begin() as db:
        head = await create_user(
            db,
            SYSTEM,
            login="helen",
            role=Role.HEAD,
            display_name="Helen",
            identities=[Identity("extension", extension)],
        )
    return head.id


@pytest.fixture
async def sim() -> AsyncIterator[PbxSimulator]:
    async with PbxSimulator(port=0) as simulator:
        yield simulator


async def test_the_ringing_card_says_in_the_pool_and_the_answering_seller_claims(
    database_url: str, sim: PbxSimulator, sessions: async_sessionmaker[AsyncSession]
) -> None:
    settings = Settings.model_validate(
        {"database": {"url": database_url}, "pool": {"ring": "queue"}}
    )
    running = await start_app(database_url, settings=settings)
    try:
        agents = await seed_agents(sessions, ["101", "102", "103"])
        contact_id = await pooled_contact(sessions, agents["101"].user_id, "call me in spring")
        async with feeding(running, sim) as (_flow, ends), aiohttp.ClientSession() as client:
            tabs = {}
            for ext, agent in agents.items():
                tabs[ext] = await open_tab(client, running.url, agent.token)
                assert (await receive(tabs[ext]))["type"] == "state"
            sim.play(flows.queue_call(sim.ids, caller=CALLER, answer_by="102"), SPEED)
            ringing = await receive_until(tabs["103"], "call.ringing")
            card = ringing["card"]
            if card["lookup"] != "done":
                card = (await receive_until(tabs["103"], "call.updated"))["card"]
            assert card["contact"]["id"] == contact_id
            assert card["owner"] is None
            assert card["pool"]["previous_owner"] == {
                "id": agents["101"].user_id,
                "name": "Agent 101",
            }
            assert card["pool"]["reason"] == "call me in spring"
            assert card["pool"]["ring"] == "queue"
            await ends.wait_for(1)

            async with sessions() as db:
                owner = await db.scalar(select(Contact.owner_id).where(Contact.id == contact_id))
                deal_owner = await db.scalar(
                    select(Deal.owner_id).where(Deal.contact_id == contact_id)
                )
            assert owner is None  # the call did not take the contact from the pool
            assert deal_owner == agents["102"].user_id  # queue: whoever answered

            claimed = await client.post(
                f"{running.url}/api/v1/contacts/{contact_id}/claim",
                headers={"Authorization": f"Bearer {agents['102'].token}"},
            )
            assert claimed.status == 200, await claimed.text()
            assert (await claimed.json())["owner_id"] == agents["102"].user_id
    finally:
        await running.close()


@pytest.mark.parametrize("ring", ["previous_owner", "queue", "head"])
async def test_ring_decides_who_takes_the_pool_callers_deal(
    sessions: async_sessionmaker[AsyncSession], ring: str
) -> None:
    agents = await add_agents(sessions)  # ivan 101, olga 102, petr 103
    head_id = await add_head(sessions, "109")
    contact_id = await pooled_contact(sessions, agents["101"], "no budget")
    crm = CallToCrm(sessions, RuleBook(PHONES), RuleExecutor(PHONES, pool_ring=RingPolicy(ring)))

    for event in ring_all_answered(inbound_call(caller=CALLER), answered_by="102"):
        await crm.handle(event)

    async with sessions() as db:
        contact = await db.get_one(Contact, contact_id)
        deal_owners = list(
            await db.scalars(select(Deal.owner_id).where(Deal.contact_id == contact_id))
        )
    expected = {
        "previous_owner": agents["101"].user_id,
        "queue": agents["102"].user_id,
        "head": head_id,
    }[ring]
    assert deal_owners == [expected]
    assert contact.owner_id is None
    assert contact.pooled_at is not None


@pytest.mark.parametrize(
    ("ring", "extension", "via"),
    [
        ("previous_owner", "101", "pool-previous-owner"),
        ("head", "109", "pool-head"),
        ("queue", None, None),
    ],
)
async def test_the_dialplan_routes_a_pool_caller_by_ring(
    database_url: str, ring: str, extension: str | None, via: str | None
) -> None:
    api = await start_api(database_url, settings={"pool": {"ring": ring}})
    try:
        previous = await api.create_user("seller", identities=[("extension", "101")])
        await api.create_user("seller", identities=[("extension", "102")])
        await add_head(api.sessions, "109")
        contact_id = await pooled_contact(api.sessions, previous.id, "lost interest")
        # Somebody else's open deal on the contact does not route it while it is in the pool.
        pbx = await api.client("admin", login="pbx")

        text = await pbx.get("/api/v1/route", params={"caller": "8 916 123-45-67"})
        answer = await pbx.get("/api/v1/route", params={"caller": CALLER, "format": "json"})

        if extension is None:
            assert (text.status, text.text) == (404, "")
            assert answer.json()["found"] is False
        else:
            assert (text.status, text.text) == (200, extension)
            assert answer.json()["via"] == via
            assert answer.json()["contact_id"] == contact_id
    finally:
        await api.close()
