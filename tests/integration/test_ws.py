"""The /ws endpoint over a real socket: cookie or first-message token, Origin, live state."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.services.auth import login
from cti.calls.events import AgentRinging, CallSnapshot, CallStarted
from cti.web.pops_setup import POP_SERVICE
from cti.web.ws import CLOSE_UNAUTHENTICATED, POP_HUB
from tests.integration.pops_support import (
    RunningApp,
    open_tab,
    receive,
    receive_until,
    seed_agents,
    start_app,
)


@pytest.fixture
async def running(database_url: str) -> AsyncIterator[RunningApp]:
    running = await start_app(database_url)
    yield running
    await running.close()


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


CALL = CallSnapshot(
    pbx="pbx",
    linkedid="1700000000.7",
    direction="inbound",
    state="ringing",
    caller="+79161234567",
    called="+74951234567",
    queue="sales",
)


async def test_a_token_in_the_first_message_opens_the_socket_with_the_live_state(
    running: RunningApp, client: aiohttp.ClientSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    agents = await seed_agents(sessions, ["101"])
    ws = await open_tab(client, running.url, agents["101"].token)
    state = await receive(ws)
    assert state["type"] == "state"
    assert state["cards"] == []
    service = running.app[POP_SERVICE]
    await service.on_call_event(CallStarted(pbx="pbx", at=1.0, call=CALL))
    await service.on_call_event(
        AgentRinging(pbx="pbx", at=1.0, call=CALL, extension="101", interface="PJSIP/101")
    )
    ringing = await receive_until(ws, "call.ringing")
    assert ringing["card"]["caller"]["display"] == "8 (916) 123-45-67"
    # A second tab (a laptop that woke up) gets the ringing card at once.
    second = await open_tab(client, running.url, agents["101"].token)
    state = await receive(second)
    assert [card["linkedid"] for card in state["cards"]] == [CALL.linkedid]
    assert state["cards"][0]["status"] == "ringing"
    await ws.close()
    await second.close()


async def test_a_socket_without_credentials_is_closed_at_once(
    running: RunningApp, client: aiohttp.ClientSession
) -> None:
    ws = await client.ws_connect(f"{running.url}/ws")
    await ws.send_str(json.dumps({"type": "hello"}))
    message = await ws.receive(timeout=5)
    assert message.type is aiohttp.WSMsgType.CLOSE
    assert ws.close_code == CLOSE_UNAUTHENTICATED


async def test_a_wrong_token_is_refused(running: RunningApp, client: aiohttp.ClientSession) -> None:
    ws = await client.ws_connect(f"{running.url}/ws")
    await ws.send_str(json.dumps({"type": "auth", "token": "cti_nope"}))
    message = await ws.receive(timeout=5)
    assert message.type is aiohttp.WSMsgType.CLOSE
    assert ws.close_code == CLOSE_UNAUTHENTICATED


async def test_a_token_in_the_query_string_is_refused(
    running: RunningApp, client: aiohttp.ClientSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    agents = await seed_agents(sessions, ["101"])
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(f"{running.url}/ws?token={agents['101'].token}")
    assert caught.value.status == 400


async def test_the_session_cookie_authenticates_and_origin_must_match(
    running: RunningApp, client: aiohttp.ClientSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await seed_agents(sessions, ["102"], password="correct horse battery")
    async with sessions.begin() as db:
        ticket = await login(db, "agent102", "correct horse battery", ttl=dt.timedelta(hours=1))
    cookie = {"Cookie": f"cti_session={ticket.token}"}
    host = running.url.removeprefix("http://")
    with pytest.raises(aiohttp.WSServerHandshakeError) as caught:
        await client.ws_connect(
            f"{running.url}/ws", headers={**cookie, "Origin": "https://evil.example"}
        )
    assert caught.value.status == 403
    ws = await client.ws_connect(
        f"{running.url}/ws", headers={**cookie, "Origin": f"http://{host}"}
    )
    hello = await receive(ws)
    assert hello["type"] == "hello"
    assert hello["user_id"] == ticket.principal.user_id
    await ws.close()


async def test_a_tab_that_stops_answering_pings_is_closed(
    database_url: str, client: aiohttp.ClientSession, sessions: async_sessionmaker[AsyncSession]
) -> None:
    running = await start_app(database_url, heartbeat_s=0.3)
    try:
        agents = await seed_agents(sessions, ["101"])
        # autoping=False: this "browser" never answers the server's pings (a sleeping laptop).
        ws = await client.ws_connect(f"{running.url}/ws", autoping=False)
        await ws.send_str(json.dumps({"type": "auth", "token": agents["101"].token}))
        kinds = []
        pings = 0
        while True:
            message = await ws.receive(timeout=10)
            if message.type is aiohttp.WSMsgType.PING:
                pings += 1  # and no pong
                continue
            if message.type is not aiohttp.WSMsgType.TEXT:
                break
            kinds.append(json.loads(message.data)["type"])
        assert kinds == ["hello", "state"]
        assert pings >= 1
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        hub = running.app[POP_HUB]
        assert hub.connections(agents["101"].user_id) == 0
    finally:
        await running.close()
