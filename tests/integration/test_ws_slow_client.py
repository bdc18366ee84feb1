"""A browser that stops reading is cut off at the send deadline; the others never wait for it.

The frozen browser is a raw TCP websocket client that authenticates and then never reads, so the
server's socket buffers really fill up (a naive send loop would block on it).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from cti.settings import Settings
from cti.web.ws import POP_HUB
from tests.integration.pops_support import (
    RunningApp,
    open_tab,
    receive,
    receive_until,
    seed_agents,
    start_app,
)

HEALTHY = 20
BIG = "x" * (512 * 1024)


@pytest.fixture
async def running(database_url: str) -> AsyncIterator[RunningApp]:
    settings = Settings.model_validate(
        {
            "database": {"url": database_url},
            "pops": {"send_deadline_s": 0.5, "queue_size": 256, "heartbeat_s": 30},
        }
    )
    running = await start_app(database_url, settings=settings)
    yield running
    await running.close()


def _masked_text_frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes([0x81, 0x80 | len(payload)]) + mask + masked


async def _frozen_browser(url: str, token: str) -> asyncio.StreamWriter:
    """Handshake, authenticate, read the hello, then never read again."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
    reader, writer = await asyncio.open_connection(sock=sock, limit=1 << 20)
    key = base64.b64encode(os.urandom(16)).decode()
    writer.write(
        (
            f"GET /ws HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101"), head
    writer.write(_masked_text_frame(json.dumps({"type": "auth", "token": token})))
    await writer.drain()
    await reader.read(1)  # the hello has started to arrive: authenticated
    return writer


async def test_a_frozen_browser_is_cut_off_and_never_delays_the_others(
    running: RunningApp, sessions: async_sessionmaker[AsyncSession]
) -> None:
    extensions = [str(200 + n) for n in range(HEALTHY + 1)]
    agents = await seed_agents(sessions, extensions)
    frozen_agent, healthy_agents = agents[extensions[0]], [agents[e] for e in extensions[1:]]
    hub = running.app[POP_HUB]
    async with aiohttp.ClientSession() as client:
        frozen = await _frozen_browser(running.url, frozen_agent.token)
        tabs = [await open_tab(client, running.url, a.token) for a in healthy_agents]
        for tab in tabs:
            assert (await receive(tab))["type"] == "state"
        [stuck] = hub.sockets_of(frozen_agent.user_id)
        # Tens of MB for the frozen browser: far more than the socket buffers hold.
        for n in range(48):
            text = hub.encoder.encode("call.updated", {"n": n, "pad": BIG})
            await hub.publish(frozen_agent.user_id, text)
        assert stuck.open  # still trying, within its deadline
        for agent in healthy_agents:
            text = hub.encoder.encode("call.ringing", {"for": agent.login})
            await hub.publish(agent.user_id, text)
        for agent, tab in zip(healthy_agents, tabs, strict=True):
            ringing = await receive_until(tab, "call.ringing")
            assert ringing["for"] == agent.login
        # Every healthy tab had its card; the frozen one is cut off when its deadline passes.
        await asyncio.wait_for(hub.wait_closed(stuck), timeout=10)
        assert stuck.close_reason == "send-deadline"
        assert stuck.sent < 48
        assert hub.connections(frozen_agent.user_id) == 0
        for tab in tabs:
            await tab.close()
        frozen.close()
