"""Helpers for the pop tests: agents with extensions and tokens, the app on a real socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.domain.principal import SYSTEM, Role
from crmlite.services.auth import create_api_token
from crmlite.services.users import Identity, create_user
from cti.ami import AmiClient
from cti.app import create_app
from cti.callflow import CallFlow
from cti.calls import CallModelConfig
from cti.calls.tracker import CallTracker
from cti.settings import DatabaseSettings, RedisSettings, ServerSettings, Settings
from cti.web.pops_keys import POP_SERVICE


@dataclass(frozen=True, slots=True)
class Agent:
    user_id: int
    login: str
    extension: str
    token: str


async def seed_agents(
    sessions: async_sessionmaker[AsyncSession],
    extensions: Iterable[str],
    *,
    role: Role = Role.SELLER,
    password: str | None = None,
) -> dict[str, Agent]:
    """One seller per extension, each with an API token."""
    agents: dict[str, Agent] = {}
    async with sessions.begin() as db:
        for ext in extensions:
            user = await create_user(
                db,
                SYSTEM,
                login=f"agent{ext}",
                role=role,
                display_name=f"Agent {ext}",
                password=password,
                identities=[Identity("extension", ext)],
            )
            issued = await create_api_token(db, user.id, "pops")
            agents[ext] = Agent(user.id, user.login, ext, issued.token)
    return agents


@dataclass
class RunningApp:
    app: web.Application
    runner: web.AppRunner
    url: str

    async def close(self) -> None:
        await self.runner.cleanup()


async def start_app(
    database_url: str,
    *,
    redis_url: str | None = None,
    allowed_origins: tuple[str, ...] = (),
    redis_prefix: str = "cti:pops",
    settings: Settings | None = None,
    prepare: Callable[[web.Application], None] | None = None,
    heartbeat_s: float = 5.0,
) -> RunningApp:
    """The whole service on 127.0.0.1, a free port."""
    if settings is None:
        settings = Settings.model_validate(
            {
                "server": ServerSettings(allowed_origins=allowed_origins).model_dump(),
                "database": DatabaseSettings(url=database_url).model_dump(),
                "redis": RedisSettings(url=redis_url).model_dump(),
                "pops": {"redis_prefix": redis_prefix, "heartbeat_s": heartbeat_s},
            }
        )
    app = create_app(settings)
    if prepare is not None:
        prepare(app)
    runner = web.AppRunner(app, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return RunningApp(app, runner, f"http://127.0.0.1:{port}")


async def open_tab(
    client: aiohttp.ClientSession, url: str, token: str
) -> aiohttp.ClientWebSocketResponse:
    """A browser tab: connect, authenticate with the first message, read hello."""
    ws = await client.ws_connect(f"{url}/ws")
    await ws.send_str(json.dumps({"type": "auth", "token": token}))
    hello = await receive(ws)
    assert hello["type"] == "hello", hello
    return ws


async def receive(ws: aiohttp.ClientWebSocketResponse, wait_s: float = 5.0) -> dict[str, Any]:
    """The next JSON message."""
    message = await ws.receive(timeout=wait_s)
    assert message.type is aiohttp.WSMsgType.TEXT, message
    data: dict[str, Any] = json.loads(message.data)
    return data


async def receive_until(
    ws: aiohttp.ClientWebSocketResponse, kind: str, wait_s: float = 5.0
) -> dict[str, Any]:
    """Skip messages until one of type ``kind``."""
    while True:
        data = await receive(ws, wait_s)
        if data["type"] == kind:
            return data


@asynccontextmanager
async def pbx_feeding(app: web.Application, client: AmiClient) -> AsyncIterator[CallFlow]:
    """Consume ``client``'s AMI items into the call tracker and the app's pop service."""
    service = app[POP_SERVICE]
    service.expect_crm_outcomes()
    flow = CallFlow(CallTracker(CallModelConfig()), fast_sinks=[service], outcome_sinks=[service])
    await client.start()
    consumer = asyncio.create_task(flow.consume(client.items()))
    try:
        yield flow
    finally:
        await client.stop()
        await asyncio.wait_for(consumer, timeout=5)
        await flow.lanes.close()
