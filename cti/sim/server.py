"""The PBX simulator: an AMI server over real TCP that plays call flows like Asterisk 22.

Use it in-process (``async with PbxSimulator(port=0) as sim: ... sim.port``) from tests and
benchmarks, or standalone with ``cti sim``.
"""

from __future__ import annotations

import asyncio
import random
import ssl
import time
from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from cti.protocol import AmiMessage
from cti.settings import PbxSettings
from cti.sim import flows
from cti.sim.builder import IdSource, Step
from cti.sim.channels import ChannelRegistry
from cti.sim.session import AmiSession, _Reply
from cti.sim.status import queue_status
from cti.sim.wire import load_capture, render, timed_sibling

Event = Mapping[str, str | list[str]]
SentHook = Callable[[Sequence[Event], float], None]

DEFAULT_QUEUES: dict[str, tuple[str, tuple[str, ...]]] = {
    "sales": ("ringall", ("101", "102", "103")),
    "service": ("linear", ("101", "102", "103")),
}


class PbxSimulator:
    """An Asterisk-like AMI server with scripted, generated and replayed calls, and faults."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "cti",
        secret: str = "secret",  # noqa: S107 - the simulator's well-known demo account
        banner: str = "Asterisk Call Manager/11.0.0",
        clock: Callable[[], float] = time.time,
        sent_at_header: str | None = None,
        sequence_numbers: bool = False,
        queues: Mapping[str, tuple[str, tuple[str, ...]]] = DEFAULT_QUEUES,
        agents: Iterable[str] = flows.AGENTS,
        seed: int | None = None,
        accounts: Mapping[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
        system_name: str | None = None,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.port = port
        self.username = username
        self.secret = secret
        # More accounts (e.g. a separate originate account): username -> secret.
        self.accounts = dict(accounts or {})
        self.tls = tls  # AMI over TLS (tlsenable in manager.conf)
        self.banner = banner
        self.clock = clock
        self.sent_at_header = sent_at_header
        self.sequence_numbers = sequence_numbers
        self.queues = dict(queues)
        self.agents = set(agents)
        self.rng = random.Random(seed)
        # One office's PBX among several: its name prefixes every id (asterisk.conf systemname).
        self.system_name = system_name
        self.ids = IdSource(system_name=system_name)
        self.registry = ChannelRegistry()
        self.sessions: set[AmiSession] = set()
        self.on_sent: SentHook | None = None
        self.silent = False
        # Numbers generated traffic calls from half the time (the demo's seeded contacts).
        self.known_callers: tuple[str, ...] = ()
        # Time compression for the calls an Originate starts (tests use 10-50).
        self.speed = 1.0
        self.write_chunk_size: int | None = None
        self.filter_permitted = True
        # Actions answered "Permission denied" (lower-case names), as for a restricted account.
        self.refuse_actions: set[str] = set()
        self.logins = 0
        self.failed_logins = 0
        self.snapshots: list[float] = []  # when each CoreShowChannels was answered (clock())
        self.originates: list[flows.OriginateRequest] = []  # every Originate asked of this PBX
        self.events_sent = 0
        self.started_at = clock()
        self._sequence = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._login_waiters: list[asyncio.Future[None]] = []

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Listen; with port 0 the bound port is in ``self.port`` afterwards."""
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: AmiSession(self), self.host, self.port, ssl=self.tls
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop every flow, close every connection, stop listening."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._close_listener()
        for session in list(self.sessions):
            session.abort()

    async def __aenter__(self) -> PbxSimulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _close_listener(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run ``coro`` as a task the simulator keeps and cancels on stop."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def client_settings(self, **overrides: Any) -> PbxSettings:
        """Settings for an AMI client of this simulator (tests and benches override timings)."""
        values: dict[str, Any] = {
            "name": self.system_name or "sim",
            "host": self.host,
            "port": self.port,
            "username": self.username,
            "secret": self.secret,
        }
        values.update(overrides)
        return PbxSettings(**values)

    def check_login(self, username: str | None, secret: str | None) -> bool:
        if username == self.username:
            return secret == self.secret
        return username is not None and self.accounts.get(username) == secret

    # --- logins -------------------------------------------------------------------------
    def notify_login(self) -> None:
        for waiter in self._login_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._login_waiters.clear()

    async def wait_for_login(self, count: int | None = None) -> None:
        """Return once ``count`` logins have happened in total (default: one more than now)."""
        target = self.logins + 1 if count is None else count
        while self.logins < target:
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._login_waiters.append(waiter)
            await waiter

    # --- sending ------------------------------------------------------------------------
    def send_events(self, events: Sequence[Event], extra: Sequence[str] | None = None) -> None:
        """Send ``events`` now to every logged-in session (one write each); keep the registry."""
        now = self.clock()
        stamp = f"{self.sent_at_header}: {now:.6f}\r\n" if self.sent_at_header else ""
        chunks: list[bytes] = []
        for index, event in enumerate(events):
            self.registry.observe(event, now)
            head = stamp + (extra[index] if extra else "")
            if self.sequence_numbers:
                head += f"SequenceNumber: {self._sequence}\r\n"
                self._sequence += 1
            chunks.append(render(event, head))
        self.events_sent += len(events)
        if not self.silent:
            self._deliver(chunks)
        if self.on_sent is not None:
            self.on_sent(events, now)

    def _deliver(self, chunks: list[bytes]) -> None:
        data: bytes | None = None
        for session in list(self.sessions):
            if not session.wants_events:
                continue
            if session.include or session.exclude:
                session.write(
                    b"".join(
                        c for c in chunks if session.passes_filters(c.decode("utf-8", "replace"))
                    )
                )
                continue
            if data is None:
                data = b"".join(chunks)
            session.write(data)

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are to every logged-in session (malformed frames, junk)."""
        for session in list(self.sessions):
            if session.wants_events:
                session.write(data)

    def skip_sequence(self, count: int) -> None:
        """Leave a gap in SequenceNumber, as if ``count`` events were lost."""
        self._sequence += count

    # --- playing flows ------------------------------------------------------------------
    def play(self, steps: Sequence[Step], speed: float = 1.0) -> asyncio.Task[None]:
        """Play a flow's steps on the clock (``speed`` > 1 compresses time); return its task."""
        return self.spawn(self._play(steps, speed))

    async def _play(self, steps: Sequence[Step], speed: float) -> None:
        loop = asyncio.get_running_loop()
        start = loop.time()
        for step in steps:
            delay = start + step.at / speed - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.send_events(step.events)

    async def ring_queue(
        self,
        *,
        caller: str,
        did: str = flows.SALES_DID,
        agents: Sequence[str] = ("101", "102", "103"),
        answer_by: str | None = "102",
        ring_s: float = 2.0,
        talk_s: float = 3.0,
        caller_name: str = "<unknown>",
        queue: str = "sales",
        strategy: str = "ringall",
        speed: float = 1.0,
    ) -> list[Step]:
        """Play a queue call to its end; return the steps that were sent."""
        steps = flows.queue_call(
            self.ids,
            caller=caller,
            caller_name=caller_name,
            did=did,
            queue=queue,
            agents=tuple(agents),
            answer_by=answer_by,
            ring_s=ring_s,
            talk_s=talk_s,
            strategy=strategy,
        )
        await self.play(steps, speed)
        return steps

    def start_traffic(self, calls_per_minute: float, speed: float = 1.0) -> asyncio.Task[None]:
        """Start random calls (Poisson arrivals at ``calls_per_minute``) until stopped."""
        return self.spawn(self._traffic(calls_per_minute, speed))

    async def _traffic(self, calls_per_minute: float, speed: float) -> None:
        if calls_per_minute <= 0:
            return
        while True:
            await asyncio.sleep(self.rng.expovariate(calls_per_minute / 60.0) / speed)
            self.play(flows.random_call(self.ids, self.rng, self.known_callers), speed)

    def replay(
        self,
        path: str | Path,
        *,
        speed: float | None = 1.0,
        timestamps: bool = False,
        wait_for_login: bool = True,
    ) -> asyncio.Task[None]:
        """Replay a capture once a client has logged in.

        With a ``.ami`` file the timing comes from its ``.timed.jsonl`` sibling when there is one.
        ``speed=None`` sends as fast as possible; ``timestamps`` adds ``Timestamp:`` headers from
        the capture's offsets (as Asterisk's ``timestampevents``), so durations survive.
        """
        source = timed_sibling(path) or Path(path)
        items = load_capture(source)
        return self.spawn(self._replay(items, speed, timestamps, wait_for_login))

    async def _replay(
        self,
        items: list[tuple[float, dict[str, str | list[str]]]],
        speed: float | None,
        timestamps: bool,
        wait_for_login: bool,
    ) -> None:
        if wait_for_login and not any(s.wants_events for s in self.sessions):
            await self.wait_for_login()
        base = self.clock()
        loop = asyncio.get_running_loop()
        start = loop.time()
        batch: list[Event] = []
        extra: list[str] = []
        for index, (offset, event) in enumerate(items):
            if speed is not None:
                delay = start + offset / speed - loop.time()
                if delay > 0:
                    if batch:
                        self.send_events(batch, extra)
                        batch, extra = [], []
                    await asyncio.sleep(delay)
            batch.append(event)
            extra.append(f"Timestamp: {base + offset:.6f}\r\n" if timestamps else "")
            if len(batch) >= 256 or index == len(items) - 1:
                self.send_events(batch, extra)
                batch, extra = [], []
                await asyncio.sleep(0)

    # --- faults on purpose ----------------------------------------------------------------
    def drop_connections(self) -> None:
        """Cut every client connection at once (no Shutdown), as a network failure would."""
        for session in list(self.sessions):
            session.abort()

    async def cut(self, down_s: float) -> None:
        """The network to the PBX fails for ``down_s``: connections cut, new ones refused.

        No ``Shutdown`` is sent and calls go on meanwhile, as when a link between the service
        and a running PBX breaks.
        """
        await self._close_listener()
        self.drop_connections()
        await asyncio.sleep(down_s)
        await self.start()

    async def restart(self, down_s: float = 1.0, *, end_calls: bool = False) -> None:
        """Shutdown event, disconnect everyone, refuse connections for ``down_s``, come back.

        Flows keep playing meanwhile (their events go nowhere), so calls that end during the
        outage are gone from CoreShowChannels afterwards and calls still up are listed.
        ``end_calls`` hangs every live channel up, as a real Asterisk restart does.
        """
        self.send_events(
            [
                {
                    "Event": "Shutdown",
                    "Privilege": "system,all",
                    "Shutdown": "Cleanly",
                    "Restart": "True",
                }
            ]
        )
        await self._close_listener()
        for session in list(self.sessions):
            session.close()
        if end_calls:
            for task in list(self._tasks):
                task.cancel()
            self.registry.clear()
        await asyncio.sleep(down_s)
        self.started_at = self.clock()
        await self.start()

    def send_malformed(self) -> None:
        """Junk a real stream can carry: a line without a colon, invalid UTF-8, a stray blank."""
        self.send_raw(
            b"this line has no colon\r\nEvent: Broken\r\n\r\n"
            b"Event: BadBytes\r\nCallerIDName: \xff\xfe\xfd\r\n\r\n"
            b"\r\n\r\n"
            b"Event: TwoNewlines\r\nChannel: PJSIP/101-000000ff\r\n\n"
        )

    def send_oversized(self, size: int = 1 << 20) -> None:
        """One event far larger than any real one (the client must drop it and carry on)."""
        self.send_raw(
            b"Event: Oversized\r\nPrivilege: call,all\r\nData: " + b"x" * size + b"\r\n\r\n"
        )

    # --- actions the sessions delegate ----------------------------------------------------
    def originate(self, message: AmiMessage, sync_reply: _Reply | None) -> None:
        caller_id = message.get("CallerID") or ""
        name, _, number = caller_id.rpartition("<")
        request = flows.OriginateRequest(
            action_id=message.action_id or "",
            channel=message.get("Channel") or "",
            exten=message.get("Exten") or "",
            context=message.get("Context") or "from-internal",
            caller_id_num=number.rstrip(">").strip() or (message.get("Exten") or ""),
            caller_id_name=name.strip().strip('"') or "<unknown>",
        )
        self.originates.append(request)
        endpoint = request.channel.split("/", 1)[-1]
        if endpoint in self.agents:
            steps = flows.click_to_call(self.ids, request)
        else:
            steps = flows.originate_failure(request)
        if sync_reply is not None:
            # Without Async Asterisk answers only when the phone picks up (or fails).
            ok = endpoint in self.agents
            steps = [
                Step(s.at, tuple(e for e in s.events if e.get("Event") != "OriginateResponse"))
                for s in steps
            ]
            answer_at = (1.5 if ok else 0.5) / self.speed

            async def answer_later() -> None:
                await asyncio.sleep(answer_at)
                if ok:
                    sync_reply.success(Message="Originate successfully queued")
                else:
                    sync_reply.error("Originate failed")

            self.spawn(answer_later())
        self.play(steps, self.speed)

    def queue_status_events(self, action_id: str, only: str | None) -> list[dict[str, str]]:
        """The QueueStatus list events: configured queues, members, callers waiting now."""
        return queue_status(
            self.queues, self.registry, self.ids.epoch, self.clock(), action_id, only
        )
