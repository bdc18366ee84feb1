"""One AMI client connection to the simulator: reads actions, answers them as Asterisk 22 does."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from cti.protocol import AmiFrameDecoder, AmiMessage
from cti.sim.wire import render

if TYPE_CHECKING:
    from cti.sim.server import PbxSimulator

Fields = Mapping[str, str | list[str]]


class AmiSession(asyncio.Protocol):
    """Server side of one AMI connection."""

    def __init__(self, sim: PbxSimulator) -> None:
        self.sim = sim
        self.decoder = AmiFrameDecoder()
        self.transport: asyncio.Transport | None = None
        self.authenticated = False
        self.username: str | None = None
        self.events_on = True
        self.include: list[re.Pattern[str]] = []
        self.exclude: list[re.Pattern[str]] = []
        self.actions_seen: list[AmiMessage] = []
        self._outbox: asyncio.Queue[bytes] | None = None
        self._writer: asyncio.Task[None] | None = None
        self.closed = False

    # --- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if not isinstance(transport, asyncio.Transport):
            raise TypeError("the AMI simulator needs a stream transport")
        self.transport = transport
        self.sim.sessions.add(self)
        if self.sim.write_chunk_size:
            self.enable_chunking()
        self.write(f"{self.sim.banner}\r\n".encode())

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.sim.sessions.discard(self)
        if self._writer is not None:
            self._writer.cancel()

    def data_received(self, data: bytes) -> None:
        for message in self.decoder.feed(data):
            self.actions_seen.append(message)
            if self.sim.silent:
                continue
            self._handle(message)

    # --- writing ------------------------------------------------------------------------
    @property
    def wants_events(self) -> bool:
        return self.authenticated and self.events_on and not self.closed

    def write(self, data: bytes) -> None:
        if self.closed or self.transport is None:
            return
        if self._outbox is not None:
            self._outbox.put_nowait(data)
        else:
            self.transport.write(data)

    def send(self, fields: Fields) -> None:
        self.write(render(fields))

    def passes_filters(self, text: str) -> bool:
        """Asterisk's Filter semantics: any include must match, no exclude may match."""
        if self.include and not any(p.search(text) for p in self.include):
            return False
        return not any(p.search(text) for p in self.exclude)

    def close(self) -> None:
        if self.transport is not None and not self.closed:
            if self._outbox is not None and self._writer is not None:
                self._outbox.put_nowait(b"")  # flush what is queued, then close
            else:
                self.transport.close()
        self.closed = True

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
        self.closed = True

    def enable_chunking(self) -> None:
        """From now on write in ``sim.write_chunk_size`` pieces, each read on its own."""
        if self._outbox is None:
            self._outbox = asyncio.Queue()
            self._writer = asyncio.get_running_loop().create_task(self._write_chunks())

    async def _write_chunks(self) -> None:
        if self._outbox is None or self.transport is None:
            return
        size = self.sim.write_chunk_size or 1
        while True:
            data = await self._outbox.get()
            if not data:
                self.transport.close()
                return
            for start in range(0, len(data), size):
                self.transport.write(data[start : start + size])
                # Two turns of the loop let a reader in this process take each chunk on its own.
                await asyncio.sleep(0)
                await asyncio.sleep(0)

    # --- actions ------------------------------------------------------------------------
    def _handle(self, message: AmiMessage) -> None:
        action = (message.get("Action") or "").lower()
        reply = _Reply(self, message.action_id)
        if not action:
            reply.error("Missing action in request")
            return
        if action == "login":
            self._login(message, reply)
            return
        if not self.authenticated:
            reply.error("Permission denied")
            return
        handler = self._handlers().get(action)
        if action in self.sim.refuse_actions:
            reply.error("Permission denied")
            return
        if handler is None:
            reply.error("Invalid/unknown command")
            return
        handler(message, reply)

    def _handlers(self) -> dict[str, Callable[[AmiMessage, _Reply], None]]:
        return {
            "ping": self._ping,
            "events": self._events,
            "logoff": self._logoff,
            "filter": self._filter,
            "coreshowchannels": self._core_show_channels,
            "queuestatus": self._queue_status,
            "originate": self._originate,
        }

    def _login(self, message: AmiMessage, reply: _Reply) -> None:
        if not self.sim.check_login(message.get("Username"), message.get("Secret")):
            self.sim.failed_logins += 1
            reply.error("Authentication failed")
            return
        self.authenticated = True
        self.username = message.get("Username")
        self.events_on = (message.get("Events") or "on").lower() not in ("off", "no", "false")
        reply.success(Message="Authentication accepted")
        self.sim.logins += 1
        if self.events_on:
            uptime = str(int(self.sim.clock() - self.sim.started_at))
            self.send(
                {
                    "Event": "FullyBooted",
                    "Privilege": "system,all",
                    "Uptime": uptime,
                    "LastReload": uptime,
                    "Status": "Fully Booted",
                }
            )
        self.sim.notify_login()

    def _ping(self, message: AmiMessage, reply: _Reply) -> None:
        reply.success(Ping="Pong", Timestamp=f"{self.sim.clock():.6f}")

    def _events(self, message: AmiMessage, reply: _Reply) -> None:
        self.events_on = (message.get("EventMask") or "on").lower() not in ("off", "no", "false")
        reply.success(Events="On" if self.events_on else "Off")

    def _logoff(self, message: AmiMessage, reply: _Reply) -> None:
        reply.send({"Response": "Goodbye", "Message": "Thanks for all the fish."})
        self.close()

    def _filter(self, message: AmiMessage, reply: _Reply) -> None:
        if not self.sim.filter_permitted:
            reply.error("Permission denied")
            return
        expression = message.get("Filter") or ""
        if (message.get("Operation") or "Add").lower() != "add" or not expression:
            reply.error("Reached maximum number of filters or invalid filter")
            return
        try:
            pattern = re.compile(posix_to_python(expression.removeprefix("!")), re.DOTALL)
        except re.error:
            reply.error("Filter Not Added: regex compile failure")
            return
        (self.exclude if expression.startswith("!") else self.include).append(pattern)
        reply.success(Message="Filter Added Successfully")

    def _core_show_channels(self, message: AmiMessage, reply: _Reply) -> None:
        action_id = message.action_id or ""
        now = self.sim.clock()
        self.sim.snapshots.append(now)
        items = self.sim.registry.core_show_channels(action_id, now)
        reply.success(EventList="start", Message="Channels will follow")
        for item in items:
            self.send(item)
        self.send(
            {
                "Event": "CoreShowChannelsComplete",
                "ActionID": action_id,
                "EventList": "Complete",
                "ListItems": str(len(items)),
            }
        )

    def _queue_status(self, message: AmiMessage, reply: _Reply) -> None:
        action_id = message.action_id or ""
        items = self.sim.queue_status_events(action_id, message.get("Queue"))
        reply.success(EventList="start", Message="Queue status will follow")
        for item in items:
            self.send(item)
        self.send(
            {
                "Event": "QueueStatusComplete",
                "ActionID": action_id,
                "EventList": "Complete",
                "ListItems": str(len(items)),
            }
        )

    def _originate(self, message: AmiMessage, reply: _Reply) -> None:
        if not message.get("Channel") or not (message.get("Exten") or message.get("Application")):
            reply.error(
                "Channel not specified" if not message.get("Channel") else "Exten not specified"
            )
            return
        is_async = (message.get("Async") or "false").lower() in ("true", "yes", "1")
        if is_async:
            reply.success(Message="Originate successfully queued")
        self.sim.originate(message, None if is_async else reply)


_POSIX_CLASSES = {"[:space:]": r"\s", "[:digit:]": r"\d", "[:alpha:]": "a-zA-Z", "[:alnum:]": r"\w"}


def posix_to_python(expression: str) -> str:
    """Asterisk compiles filters as POSIX ERE (``.`` spans lines); translate the classes."""
    for posix, python in _POSIX_CLASSES.items():
        expression = expression.replace(posix, python)
    return expression


class _Reply:
    """Answers one action, echoing its ActionID like Asterisk."""

    def __init__(self, session: AmiSession, action_id: str | None) -> None:
        self.session = session
        self.action_id = action_id

    def send(self, fields: dict[str, str]) -> None:
        head = {"Response": fields.pop("Response")}
        if self.action_id is not None:
            head["ActionID"] = self.action_id
        self.session.send({**head, **fields})

    def success(self, **fields: str) -> None:
        self.send({"Response": "Success", **fields})

    def error(self, message: str) -> None:
        self.send({"Response": "Error", "Message": message})
