"""Two offices, two PBXs, one extension plan: the whole service with two simulated PBXs at once.

Both number their phones from 101. Anna is 101 in the east office, Boris 101 in the west one:
pops, wrap-ups, deals, missed-call tasks, click-to-call and the dialplan's route lookup reach
the right one on each PBX, and a call between the offices over their trunk makes no contact.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Activity, Contact, ContactPhone, Deal
from crmlite.domain.principal import SYSTEM, Role
from crmlite.services.auth import create_api_token
from crmlite.services.contacts import ContactService
from crmlite.services.phones import PhoneInput
from crmlite.services.users import Identity, create_user
from crmlite.web.keys import PBX_NAMES
from cti.app import create_app
from cti.settings import ConfigError, Settings
from cti.sim import PbxSimulator, flows
from cti.telephony import TELEPHONY
from tests.integration.pops_support import RunningApp, open_tab, receive, start_app

Sessions = async_sessionmaker[AsyncSession]
EAST_CALLER = "+79161110001"
WEST_CALLER = "+79162220002"
# Each office's main number, as its [[pbx]] dids give it (any form).
OFFICE_NUMBERS = {"east": "8 (495) 123-00-00", "west": "+7 812 456-00-00"}


@dataclass
class Seller:
    user_id: int
    token: str


@pytest.fixture
async def offices() -> AsyncIterator[dict[str, PbxSimulator]]:
    async with (
        PbxSimulator(port=0, system_name="east") as east,
        PbxSimulator(port=0, system_name="west") as west,
    ):
        east.speed = west.speed = 20.0
        yield {"east": east, "west": west}


@pytest.fixture
async def running(database_url: str, offices: dict[str, PbxSimulator]) -> AsyncIterator[RunningApp]:
    pbx = [
        offices[name]
        .client_settings(office_trunks=(f"office-{other}",), dids=(OFFICE_NUMBERS[name],))
        .model_dump(mode="json")
        | {"secret": offices[name].secret}
        for name, other in (("east", "west"), ("west", "east"))
    ]
    settings = Settings.model_validate({"database": {"url": database_url}, "pbx": pbx})
    app = await start_app(database_url, settings=settings)
    for simulator in offices.values():
        await asyncio.wait_for(simulator.wait_for_login(2), timeout=10)  # consumer + originator
    yield app
    await app.close()


async def _seller(sessions: Sessions, login: str, *identities: Identity) -> Seller:
    async with sessions.begin() as db:
        user = await create_user(db, SYSTEM, login=login, role=Role.SELLER, identities=identities)
        issued = await create_api_token(db, user.id, "pops")
    return Seller(user.id, issued.token)


async def _anna_and_boris(sessions: Sessions) -> tuple[Seller, Seller]:
    anna = await _seller(sessions, "anna", Identity("extension", "101", "east"))
    boris = await _seller(sessions, "boris", Identity("extension", "101", "west"))
    return anna, boris


async def _cards_until_wrapup(tab: aiohttp.ClientWebSocketResponse) -> list[dict[str, Any]]:
    """Every card message the tab gets up to and including its wrap-up."""
    cards = []
    while True:
        message = await receive(tab, wait_s=10)
        if message["type"].startswith("call."):
            cards.append(message)
        if message["type"] == "call.wrapup":
            return cards


async def _settled(running: RunningApp) -> None:
    await running.app[TELEPHONY].flow.lanes.join()


async def test_each_office_pops_wraps_up_and_deals_for_its_own_101(
    running: RunningApp, offices: dict[str, PbxSimulator], sessions: Sessions
) -> None:
    anna, boris = await _anna_and_boris(sessions)
    async with aiohttp.ClientSession() as client:
        tabs = {name: await open_tab(client, running.url, s.token) for name, s in
                (("anna", anna), ("boris", boris))}  # fmt: skip
        for tab in tabs.values():
            assert (await receive(tab))["type"] == "state"
        calls = [
            asyncio.create_task(
                offices[office].ring_queue(
                    caller=caller, answer_by="101", ring_s=1.0, talk_s=1.0, speed=20.0
                )
            )
            for office, caller in (("east", EAST_CALLER), ("west", WEST_CALLER))
        ]
        seen = {name: await _cards_until_wrapup(tab) for name, tab in tabs.items()}
        await asyncio.gather(*calls)
        for tab in tabs.values():
            await tab.close()
    await _settled(running)
    for name, office, caller in (("anna", "east", EAST_CALLER), ("boris", "west", WEST_CALLER)):
        kinds = [card["type"] for card in seen[name]]
        assert kinds[0] == "call.ringing", kinds
        assert "call.answered" in kinds
        assert {card["card"]["pbx"] for card in seen[name]} == {office}
        assert {card["card"]["linkedid"].split("-")[0] for card in seen[name]} == {office}
        assert caller in str(seen[name][0]["card"])
    async with sessions() as db:
        owners = dict(
            (
                await db.execute(
                    select(ContactPhone.normalized, Deal.owner_id)
                    .join(Deal, Deal.contact_id == ContactPhone.contact_id)
                    .where(ContactPhone.normalized.in_([EAST_CALLER, WEST_CALLER]))
                )
            ).all()
        )
        logged = dict(
            (
                await db.execute(
                    select(Activity.agent_id, Activity.pbx).where(Activity.kind == "call")
                )
            ).all()
        )
    assert owners == {EAST_CALLER: anna.user_id, WEST_CALLER: boris.user_id}
    assert logged == {anna.user_id: "east", boris.user_id: "west"}


async def test_a_missed_call_becomes_a_task_for_the_101_of_its_office(
    running: RunningApp, offices: dict[str, PbxSimulator], sessions: Sessions
) -> None:
    _, boris = await _anna_and_boris(sessions)
    west = offices["west"]
    await west.play(
        flows.direct_call(west.ids, caller=WEST_CALLER, agent="101", outcome="noanswer", ring_s=1),
        20.0,
    )
    await asyncio.sleep(0.2)
    await _settled(running)
    async with sessions() as db:
        tasks = (
            await db.execute(select(Activity.assignee_id).where(Activity.kind == "task"))
        ).all()
    assert tasks == [(boris.user_id,)]


async def test_click_to_call_rings_from_the_pbx_of_the_identity(
    running: RunningApp, offices: dict[str, PbxSimulator], sessions: Sessions
) -> None:
    _, boris = await _anna_and_boris(sessions)
    maria = await _seller(
        sessions,
        "maria",
        Identity("extension", "150", "east"),
        Identity("extension", "250", "west"),
    )
    async with aiohttp.ClientSession() as client:
        placed = []
        for seller, body in ((boris, {}), (maria, {"pbx": "west"}), (maria, {"pbx": "east"})):
            async with client.post(
                f"{running.url}/api/v1/calls",
                json={"number": "+79167654321", **body},
                headers={"Authorization": f"Bearer {seller.token}"},
            ) as answer:
                assert answer.status == 202, await answer.text()
                placed.append(await answer.json())
            await asyncio.sleep(0.3)
    assert [(p["pbx"], p["extension"]) for p in placed] == [
        ("west", "101"),
        ("west", "250"),
        ("east", "150"),
    ]
    assert [o.channel for o in offices["west"].originates] == ["PJSIP/101", "PJSIP/250"]
    assert [o.channel for o in offices["east"].originates] == ["PJSIP/150"]


async def test_the_route_lookup_answers_for_the_pbx_that_asks(
    running: RunningApp, sessions: Sessions
) -> None:
    anna, boris = await _anna_and_boris(sessions)
    async with sessions.begin() as db:
        contact = await ContactService(db, SYSTEM).create(
            name="Returning customer", phones=[PhoneInput(WEST_CALLER)], owner_id=boris.user_id
        )
    assert contact.id
    answers = {}
    async with aiohttp.ClientSession() as client:
        for pbx in ("west", "east"):
            async with client.get(
                f"{running.url}/api/v1/route",
                params={"caller": WEST_CALLER, "pbx": pbx},
                headers={"Authorization": f"Bearer {anna.token}"},
            ) as answer:
                answers[pbx] = (answer.status, await answer.text())
        async with client.get(
            f"{running.url}/api/v1/route",
            params={"caller": WEST_CALLER, "pbx": "east", "format": "json"},
            headers={"Authorization": f"Bearer {anna.token}"},
        ) as answer:
            routed = await answer.json()
    # West rings its own 101; east sends the call over the trunk to west's 101 (not anna's).
    assert answers == {"west": (200, "101"), "east": (200, "west:101")}
    assert (routed["user_id"], routed["pbx"], routed["remote"]) == (boris.user_id, "west", True)


async def test_a_call_between_the_offices_makes_no_contact(
    running: RunningApp, offices: dict[str, PbxSimulator], sessions: Sessions
) -> None:
    await _anna_and_boris(sessions)
    east, west = offices["east"], offices["west"]
    # East's 101 dials west over the office trunk; west sees it come in on its trunk from east,
    # with the east office's main number as the caller.
    await asyncio.gather(
        east.play(
            flows.outbound_call(
                east.ids, agent="101", number="+74951230000", trunk_name="PJSIP/office-west",
                ring_s=0.5, talk_s=0.5,
            ),
            20.0,
        ),
        west.play(
            flows.direct_call(
                west.ids, caller="+74959990000", agent="101", trunk_name="PJSIP/office-east",
                ring_s=0.5, talk_s=0.5,
            ),
            20.0,
        ),
    )  # fmt: skip
    await asyncio.sleep(0.2)
    await _settled(running)
    async with sessions() as db:
        contacts = await db.scalar(select(func.count()).select_from(Contact))
        deals = await db.scalar(select(func.count()).select_from(Deal))
    assert (contacts, deals) == (0, 0)


async def test_a_call_from_the_other_offices_number_over_the_public_network_makes_no_contact(
    running: RunningApp, offices: dict[str, PbxSimulator], sessions: Sessions
) -> None:
    _, boris = await _anna_and_boris(sessions)
    west = offices["west"]
    # Over the provider's trunk, from the east office's main number: a colleague all the same.
    await west.play(
        flows.direct_call(west.ids, caller="+74951230000", agent="101", ring_s=0.5, talk_s=0.5),
        20.0,
    )
    # A customer's call the same way is a customer's.
    await west.play(
        flows.direct_call(west.ids, caller=WEST_CALLER, agent="101", ring_s=0.5, talk_s=0.5),
        20.0,
    )
    await asyncio.sleep(0.2)
    await _settled(running)
    async with sessions() as db:
        numbers = (await db.scalars(select(ContactPhone.normalized))).all()
        owners = (await db.scalars(select(Deal.owner_id))).all()
    assert (numbers, owners) == ([WEST_CALLER], [boris.user_id])


def test_an_office_number_that_is_no_phone_number_stops_the_start(database_url: str) -> None:
    settings = Settings.model_validate(
        {
            "database": {"url": database_url},
            "pbx": [{"name": "east", "username": "u", "secret": "s", "dids": ["main line"]}],
        }
    )
    with pytest.raises(ConfigError, match="east: dids: 'main line'"):
        create_app(settings)


async def test_the_built_in_simulator_runs_one_pbx_per_office(
    database_url: str, sessions: Sessions
) -> None:
    settings = Settings.model_validate(
        {
            "database": {"url": database_url},
            "simulator": {
                "enabled": True,
                "port": 0,
                "calls_per_minute": 0,
                "offices": ["east", "west"],
            },
        }
    )
    running = await start_app(database_url, settings=settings)
    try:
        telephony = running.app[TELEPHONY]
        assert [s.system_name for s in telephony.simulators] == ["east", "west"]
        assert [link.settings.name for link in telephony.links] == ["east", "west"]
        assert len({s.port for s in telephony.simulators}) == 2
        assert running.app[PBX_NAMES] == ("east", "west")
        _, boris = await _anna_and_boris(sessions)
        west = telephony.simulators[1]
        await asyncio.wait_for(west.wait_for_login(2), timeout=10)
        async with aiohttp.ClientSession() as client:
            tab = await open_tab(client, running.url, boris.token)
            assert (await receive(tab))["type"] == "state"
            call = asyncio.create_task(
                west.ring_queue(caller=WEST_CALLER, answer_by="101", ring_s=0.5, speed=20.0)
            )
            cards = await _cards_until_wrapup(tab)
            await call
            await tab.close()
        assert {card["card"]["pbx"] for card in cards} == {"west"}
    finally:
        await running.close()


async def test_click_to_call_defaults_to_the_pbx_of_the_users_latest_call(
    running: RunningApp, offices: dict[str, PbxSimulator], sessions: Sessions
) -> None:
    maria = await _seller(
        sessions,
        "maria",
        Identity("extension", "150", "east"),
        Identity("extension", "250", "west"),
    )
    async with aiohttp.ClientSession() as client:

        async def click() -> dict[str, Any]:
            async with client.post(
                f"{running.url}/api/v1/calls",
                json={"number": "+79167654321"},
                headers={"Authorization": f"Bearer {maria.token}"},
            ) as answer:
                assert answer.status == 202, await answer.text()
                placed: dict[str, Any] = await answer.json()
            await asyncio.sleep(0.3)
            return placed

        first = await click()  # no call yet: her first phone, by PBX name
        async with sessions.begin() as db:
            db.add(
                Activity(
                    kind="call",
                    created_at=dt.datetime.now(dt.UTC),
                    started_at=dt.datetime.now(dt.UTC),
                    direction="inbound",
                    agent_id=maria.user_id,
                    pbx="west",
                )
            )
        second = await click()
    assert [(p["pbx"], p["extension"]) for p in (first, second)] == [
        ("east", "150"),
        ("west", "250"),
    ]
    assert [o.channel for o in offices["west"].originates] == ["PJSIP/250"]
