"""Real ``cti serve`` processes on PostgreSQL + Redis + the simulator, and tabs that follow them.

Each instance is a subprocess (so it can be frozen with SIGSTOP and killed with SIGKILL), its log
a JSON-lines file the test reads to know what it did. A ``Tab`` is a seller's browser tab: it
keeps every message it receives and, when its instance goes away or stops answering its
heartbeat, reconnects to the next instance, as the browser app does behind a load balancer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import ConsumerLease
from tests.support.serve import wait_for_url

ROOT = Path(__file__).parents[2]

# Short lease timings so a takeover takes about two seconds, not ten.
FAST_LEASE = {"deadline_s": 2.0, "renew_interval_s": 0.4, "safety_margin_s": 0.5}

# A call-back task for every inbound call, so a call's task is counted like its other effects.
RULES_WITH_TASK = """
version = 1
[[rules]]
id = "inbound"
[rules.when]
direction = "inbound"
[rules.then]
deal = true
owner = "answering-agent"
task = { title = "Call back", due_in_minutes = 15, assignee = "answering-agent" }
"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


def write_config(
    path: Path,
    sections: dict[str, dict[str, object]],
    pbx: dict[str, object] | Sequence[dict[str, object]],
) -> Path:
    """A TOML configuration with ``sections`` and one ``[[pbx]]`` per PBX given."""
    lines: list[str] = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {_toml(value)}" for key, value in values.items())
    for table in [pbx] if isinstance(pbx, dict) else pbx:
        lines.append("[[pbx]]")
        lines.extend(f"{key} = {_toml(value)}" for key, value in table.items())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@dataclass
class Instance:
    """One ``cti serve`` process."""

    name: str
    process: asyncio.subprocess.Process
    url: str
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def freeze(self) -> None:
        os.kill(self.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        os.kill(self.pid, signal.SIGCONT)

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def log_events(self) -> list[dict[str, Any]]:
        """The instance's structured log lines so far."""
        found: list[dict[str, Any]] = []
        for line in self.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("{"):
                with contextlib.suppress(ValueError):
                    found.append(json.loads(line))
        return found

    def logged(self, event: str) -> int:
        """How many times the instance logged ``event``."""
        return sum(1 for line in self.log_events() if line.get("event") == event)

    async def wait_logged(self, event: str, timeout_s: float = 15.0) -> None:
        await wait_until(lambda: self.logged(event) > 0, timeout_s, f"{self.name}: {event}")

    async def stop(self) -> None:
        if self.process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGCONT)
            self.process.terminate()
        try:
            await asyncio.wait_for(self.process.wait(), 10)
        except TimeoutError:
            self.kill()
            await self.process.wait()


async def start_instance(name: str, config: Path, log_dir: Path) -> Instance:
    """Start ``cti serve`` on port 0; return once it answers ``/healthz``.

    The configuration must log JSON at INFO (or lower): the ``serving`` line says the port.
    """
    log_path = log_dir / f"{name}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CTI_")}
    with log_path.open("wb") as log_file:
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
            stdout=log_file,
            stderr=asyncio.subprocess.STDOUT,
        )

    def read_log() -> str:
        return log_path.read_text(errors="replace")

    try:
        url = await wait_for_url(process, read_log)
    except AssertionError:
        if process.returncode is None:
            process.kill()
            await process.wait()
        raise
    instance = Instance(name, process, url, log_path)
    async with aiohttp.ClientSession() as http:
        for _attempt in range(300):
            if process.returncode is not None:
                raise AssertionError(f"{name} exited: {log_path.read_text()[-2000:]}")
            try:
                async with http.get(f"{instance.url}/healthz") as response:
                    if response.status == 200:
                        return instance
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    await instance.stop()
    raise AssertionError(f"{name} did not come up: {log_path.read_text()[-2000:]}")


async def wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` after ``timeout_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def lease_holder(sessions: async_sessionmaker[AsyncSession], pbx: str) -> tuple[str, int]:
    """(holder, epoch) of ``pbx``'s consumer lease."""
    async with sessions() as db:
        row = (
            await db.execute(
                select(ConsumerLease.holder, ConsumerLease.epoch).where(ConsumerLease.pbx == pbx)
            )
        ).one_or_none()
    return (row.holder, row.epoch) if row is not None else ("", 0)


async def wait_for_consumer(
    sessions: async_sessionmaker[AsyncSession],
    instances: Sequence[Instance],
    pbx: str,
    timeout_s: float = 15.0,
    *,
    after_epoch: int = 0,
) -> tuple[Instance, int]:
    """The instance holding ``pbx``'s lease (with an epoch above ``after_epoch``), and the epoch."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        holder, epoch = await lease_holder(sessions, pbx)
        for instance in instances:
            if f"/{instance.pid}/" in holder and epoch > after_epoch:
                return instance, epoch
        await asyncio.sleep(0.1)
    raise AssertionError(f"no instance took the lease of {pbx} over epoch {after_epoch}")


@dataclass
class Tab:
    """A seller's tab: every message it got, reconnecting to the next instance when cut off."""

    token: str
    urls: list[str]
    heartbeat_s: float = 1.0
    messages: list[dict[str, Any]] = field(default_factory=list)
    connections: list[str] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    def start(self, http: aiohttp.ClientSession) -> None:
        self._task = asyncio.create_task(self._run(http))

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self, http: aiohttp.ClientSession) -> None:
        index = 0
        while True:
            url = self.urls[index % len(self.urls)]
            index += 1
            with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                await self._session(http, url)
            await asyncio.sleep(0.1)

    async def _session(self, http: aiohttp.ClientSession, url: str) -> None:
        async with http.ws_connect(
            f"{url}/ws", heartbeat=self.heartbeat_s, timeout=aiohttp.ClientWSTimeout(ws_close=1)
        ) as ws:
            await ws.send_str(json.dumps({"type": "auth", "token": self.token}))
            first = await ws.receive(timeout=2)
            if first.type is not aiohttp.WSMsgType.TEXT:
                return
            self.connections.append(url)
            self.messages.append(json.loads(first.data))
            async for message in ws:
                if message.type is aiohttp.WSMsgType.TEXT:
                    self.messages.append(json.loads(message.data))

    def of_call(self, kind: str, linkedid: str) -> list[dict[str, Any]]:
        """The ``kind`` messages about the call ``linkedid``."""
        return [m for m in self.messages if m["type"] == kind and _linkedid(m) == linkedid]

    async def wait_for(
        self, kind: str, linkedid: str | None = None, timeout_s: float = 15.0
    ) -> None:
        def seen() -> bool:
            return any(
                m["type"] == kind and (linkedid is None or _linkedid(m) == linkedid)
                for m in self.messages
            )

        await wait_until(seen, timeout_s, f"{kind} on a tab")

    def linkedids(self, kind: str) -> list[str]:
        """The calls of the ``kind`` messages, in order."""
        return [lid for m in self.messages if m["type"] == kind and (lid := _linkedid(m))]


def _linkedid(message: dict[str, Any]) -> str | None:
    card = message.get("card")
    if isinstance(card, dict) and isinstance(card.get("linkedid"), str):
        return card["linkedid"]
    value = message.get("linkedid")
    return value if isinstance(value, str) else None
