"""A full run of ``cti serve`` logs no secret, and keeps no dialplan token in its database.

The service runs as a real process, logging as in production (JSON) at DEBUG, against the PBX
simulator (AMI login with a secret) and a webhook receiver (signed with a secret). The test logs
in with a password, uses bearer tokens (a full one, one minted through the API, the PBX's
route-lookup one), opens the pop websocket, and plays an inbound call whose dialplan sends the
route-lookup token the way docs/DIALPLAN.md does (``Newexten`` ``AppData`` and a ``VarSet``, as a
real Asterisk reports them). Then every line the process wrote, and every database row, is
searched for each secret.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from crmlite.db.engine import create_engine, session_factory
from crmlite.db.models import Base, ContactPhone, User
from crmlite.domain.principal import SYSTEM, Role
from crmlite.services import auth as auth_service
from crmlite.services import users as users_service
from cti.sim import PbxSimulator, Step, flows
from tests.support.serve import wait_for_url

ROOT = Path(__file__).parents[2]
CALLER = "+79161234567"


@dataclass
class Hooks:
    """A webhook receiver on 127.0.0.1 that records what arrives."""

    url: str = ""
    received: list[bytes] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(await request.read())
        self.arrived.set()
        return web.Response(text="ok")


@pytest.fixture
async def hooks() -> AsyncIterator[Hooks]:
    state = Hooks()
    app = web.Application()
    app.router.add_post("/hook", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}/hook"
    yield state
    await runner.cleanup()


def with_route_lookup(steps: list[Step], token: str) -> list[Step]:
    """The call as Asterisk reports the documented dialplan: the token in AppData and a VarSet."""
    first = steps[0]
    events = list(first.events)
    at = next(i for i, event in enumerate(events) if event.get("Event") == "Newexten")
    noop = events[at]
    dialplan_only = ("Event", "Privilege", "Application", "AppData")
    channel = {k: v for k, v in noop.items() if k not in dialplan_only}
    lookup = [
        {**noop, "Application": "Set", "AppData": f"CTI_TOKEN={token}"},
        {
            "Event": "VarSet",
            "Privilege": "dialplan,all",
            **channel,
            "Variable": "CTI_TOKEN",
            "Value": token,
        },
        {
            **noop,
            "Application": "Set",
            "AppData": f"CURLOPT(httpheader)=Authorization: Bearer {token}",
        },
    ]
    events[at + 1 : at + 1] = lookup
    return [Step(first.at, tuple(events)), *steps[1:]]


async def _drain(stream: asyncio.StreamReader, into: bytearray) -> None:
    while chunk := await stream.read(65536):
        into.extend(chunk)


async def _wait_until_up(http: aiohttp.ClientSession, base: str) -> None:
    for _attempt in range(300):
        try:
            async with http.get(f"{base}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError("cti serve did not come up")


async def _seed(engine: AsyncEngine, password: str) -> dict[str, str]:
    """Users and tokens made before the service starts; returns the secrets handed out."""
    async with session_factory(engine).begin() as db:
        seller = await users_service.create_user(
            db,
            SYSTEM,
            login="olga",
            role=Role.SELLER,
            password=password,
            identities=[users_service.Identity("extension", "102")],
        )
        pbx = await users_service.create_user(db, SYSTEM, login="pbx", role=Role.SELLER)
        full = await auth_service.create_api_token(db, seller.id, "script")
        route = await auth_service.create_api_token(
            db, pbx.id, "dialplan", scope="route-lookup", allowed_ips=["127.0.0.1"]
        )
    return {"full token": full.token, "route-lookup token": route.token}


async def _database_text(engine: AsyncEngine) -> str:
    """Every row of every table, as text."""
    rows: list[str] = []
    async with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            result = await connection.execute(text(f'SELECT * FROM "{table.name}"'))  # noqa: S608
            rows.extend(repr(tuple(row)) for row in result)
    return "\n".join(rows)


async def test_a_full_run_logs_no_secret(database_url: str, tmp_path: Path, hooks: Hooks) -> None:
    ami_secret = "ami-" + secrets.token_urlsafe(18)
    password = "pw-" + secrets.token_urlsafe(18)
    webhook_secret = "whsec-" + secrets.token_urlsafe(18)
    engine = create_engine(database_url)
    handed_out = await _seed(engine, password)
    log = bytearray()
    async with PbxSimulator(port=0, secret=ami_secret) as sim:
        config = tmp_path / "cti.toml"
        config.write_text(
            "\n".join(
                [
                    "[logging]",
                    'level = "DEBUG"',
                    'format = "json"',
                    "[database]",
                    f'url = "{database_url}"',
                    "[[pbx]]",
                    'name = "sim"',
                    'host = "127.0.0.1"',
                    f"port = {sim.port}",
                    f'username = "{sim.username}"',
                    f'secret = "{ami_secret}"',
                    # Every event parsed, Newexten and VarSet included: the decoder must drop.
                    "server_side_filter = false",
                    "client_side_filter = false",
                    "[[webhooks]]",
                    f'url = "{hooks.url}"',
                    f'secret = "{webhook_secret}"',
                ]
            )
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "cti.cli",
            "--config",
            str(config),
            "serve",
            "--port",
            "0",
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        assert process.stderr is not None
        readers = [
            asyncio.create_task(_drain(process.stdout, log)),
            asyncio.create_task(_drain(process.stderr, log)),
        ]
        try:
            base = await wait_for_url(process, lambda: log.decode("utf-8", "replace"))
            seen = await _exercise(base, sim, hooks, password, handed_out, engine)
        finally:
            process.terminate()
            await process.wait()
            await asyncio.gather(*readers)
    async with session_factory(engine)() as db:
        password_hash = await db.scalar(select(User.password_hash).where(User.login == "olga"))
    stored = await _database_text(engine)
    await engine.dispose()

    written = log.decode("utf-8", "replace")
    lines = [line for line in written.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # production format: one JSON object a line
    assert any(r.get("event") == "http_request" for r in records)
    assert any(r.get("event") == "ami.connected" for r in records)
    secrets_used = {
        "AMI secret": ami_secret,
        "password": password,
        "password hash": password_hash or "",
        "webhook secret": webhook_secret,
        **handed_out,
        **seen,
    }
    for what, value in secrets_used.items():
        assert value, what
        assert value not in written, f"the {what} is in the log"
    assert "Bearer cti_" not in written
    # The dialplan's token never reached the database either (stored tokens are digests).
    assert handed_out["route-lookup token"] not in stored
    assert "Authorization" not in stored


async def _exercise(
    base: str,
    sim: PbxSimulator,
    hooks: Hooks,
    password: str,
    handed_out: dict[str, str],
    engine: AsyncEngine,
) -> dict[str, str]:
    """Drive the running service; returns the secrets it handed out on the way."""
    seen: dict[str, str] = {}
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as browser, aiohttp.ClientSession() as http:
        await _wait_until_up(http, base)
        await asyncio.wait_for(sim.wait_for_login(1), 15)
        wrong = await browser.post(
            f"{base}/api/v1/auth/login", json={"login": "olga", "password": "not-" + password}
        )
        assert wrong.status == 401
        login = await browser.post(
            f"{base}/api/v1/auth/login", json={"login": "olga", "password": password}
        )
        assert login.status == 200, await login.text()
        csrf = (await login.json())["csrf_token"]
        seen["CSRF token"] = csrf
        seen["session cookie"] = next(c.value for c in jar if c.key == "cti_session")
        ws = await browser.ws_connect(f"{base}/ws", headers={"Origin": base})
        bearer = {"Authorization": f"Bearer {handed_out['full token']}"}
        minted = await http.post(
            f"{base}/api/v1/auth/tokens", json={"name": "minted"}, headers=bearer
        )
        assert minted.status == 201
        seen["minted token"] = (await minted.json())["token"]
        token_ws = await http.ws_connect(f"{base}/ws")
        await token_ws.send_json({"type": "auth", "token": seen["minted token"]})
        created = await browser.post(
            f"{base}/api/v1/contacts",
            json={"name": "Ann", "phones": [{"raw": "+79990001122"}]},
            headers={"X-CSRF-Token": csrf},
        )
        assert created.status == 201, await created.text()
        route_bearer = {"Authorization": f"Bearer {handed_out['route-lookup token']}"}
        lookup = await http.get(
            f"{base}/api/v1/route", params={"caller": CALLER}, headers=route_bearer
        )
        assert lookup.status in (200, 404)
        refused = await http.get(f"{base}/api/v1/auth/me", headers=route_bearer)
        assert refused.status == 403
        steps = flows.queue_call(sim.ids, caller=CALLER, answer_by="102", ring_s=0.3, talk_s=0.3)
        await sim.play(with_route_lookup(steps, handed_out["route-lookup token"]), 1.0)
        pop = await ws.receive_json(timeout=10)
        assert pop is not None
        await asyncio.wait_for(hooks.arrived.wait(), 20)
        await _wait_for_contact(engine)
        await ws.close()
        await token_ws.close()
    return seen


async def _wait_for_contact(engine: AsyncEngine) -> None:
    """The call reached the CRM: the unknown caller became a contact."""
    for _attempt in range(200):
        async with session_factory(engine)() as db:
            found: Any = await db.scalar(
                select(ContactPhone.id).where(ContactPhone.normalized == CALLER)
            )
        if found is not None:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the call never reached the CRM")
