"""The screen-pop hub: the sockets of every connected user, each with its own queue and writer.

A slow browser never delays the others: publishing only does ``put_nowait`` into each socket's
bounded queue; one writer task per socket sends with a deadline. A full queue or a missed deadline
closes that socket (the browser reconnects and receives its live state again).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from cti.pops.fanout import FanoutBackend, FanoutUnavailable, LiveChange
from cti.pops.messages import HELLO, SCHEMA_VERSION, MessageEncoder, MessageIds

log = structlog.get_logger(__name__)

# Close codes the browser can act on (4000-4999 are the application's own).
CLOSE_SLOW_CONSUMER = 4008  # queue full or send deadline missed: reconnect
CLOSE_SHUTDOWN = 1001  # going away


class PopSocket(Protocol):
    """What the hub needs of a websocket (aiohttp's ``WebSocketResponse`` fits)."""

    @property
    def closed(self) -> bool: ...

    async def send_str(self, data: str, compress: int | None = None) -> None: ...

    async def close(self, *, code: int = 1000, message: bytes = b"", drain: bool = True) -> Any: ...

    def abort(self) -> None:
        """Drop the connection now, without flushing (the peer stopped reading)."""
        ...


@dataclass(frozen=True, slots=True)
class HubLimits:
    """Per-socket queue size and send deadline."""

    queue_size: int = 256
    send_deadline_s: float = 5.0
    close_timeout_s: float = 1.0


class PopConnection:
    """One socket of one user: a bounded queue drained by one writer task."""

    _ids = itertools.count(1)

    def __init__(self, user_id: int, socket: PopSocket, limits: HubLimits) -> None:
        self.id = next(self._ids)
        self.user_id = user_id
        self.socket = socket
        self.limits = limits
        # None tells the writer its socket is done.
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=limits.queue_size)
        self.close_reason: str | None = None
        self.sent = 0
        self.writer: asyncio.Task[None] | None = None
        # While the live state is fetched, fresh messages wait here, to follow the state message.
        self._pending: list[str] | None = []
        self._aborted = False

    @property
    def open(self) -> bool:
        """True until the hub or the writer decided to close it."""
        return self.close_reason is None

    def offer(self, text: str) -> bool:
        """Queue ``text`` without waiting; False when the queue is full (the caller closes it)."""
        if not self.open:
            return True
        if self._pending is not None:
            self._pending.append(text)
            return len(self._pending) <= self.limits.queue_size
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            return False
        return True

    def begin(self, first: list[str]) -> bool:
        """Queue ``first`` then everything that arrived meanwhile, and go live."""
        pending, self._pending = self._pending or [], None
        return all(self.offer(text) for text in (*first, *pending))

    def finish(self, reason: str, *, abort: bool = False) -> None:
        """Ask the writer to close the socket; ``abort`` also stops the send under way."""
        if self.close_reason is not None:
            return
        self.close_reason = reason
        if abort and self.writer is not None and not self.writer.done():
            self._aborted = True
            self.writer.cancel()
        # Drop what is queued: the browser gets the live state again when it reconnects.
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)

    async def run_writer(self) -> None:
        """Send queued messages one by one, each within the deadline; then close the socket."""
        try:
            code = await self._send_queued()
        except asyncio.CancelledError:
            if not self._aborted:
                raise
            # The hub gave up on this socket (its queue filled): close it now.
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            code = CLOSE_SLOW_CONSUMER
        except ConnectionError as err:
            self.close_reason = self.close_reason or f"send-failed: {err}"
            return  # the socket is gone already
        finally:
            self.close_reason = self.close_reason or "writer-stopped"
        if self.close_reason != "client-closed":
            await self._close_socket(code)

    async def _send_queued(self) -> int:
        """Send until told to stop; return the close code to use."""
        while True:
            item = await self.queue.get()
            if item is None:
                return CLOSE_SHUTDOWN if self.close_reason == "shutdown" else CLOSE_SLOW_CONSUMER
            try:
                async with asyncio.timeout(self.limits.send_deadline_s):
                    await self.socket.send_str(item)
            except TimeoutError:
                self.close_reason = self.close_reason or "send-deadline"
                return CLOSE_SLOW_CONSUMER
            self.sent += 1

    async def _close_socket(self, code: int) -> None:
        if self.socket.closed:
            return
        message = self.close_reason.encode()[:120] if self.close_reason else b""
        try:
            async with asyncio.timeout(self.limits.close_timeout_s):
                await self.socket.close(code=code, message=message)
        except (TimeoutError, ConnectionError) as err:
            # A frozen peer would keep the socket (and its unsent buffer) forever: cut it.
            log.info("pops_socket_aborted", user_id=self.user_id, error=repr(err))
            self.socket.abort()


class ScreenPopHub:
    """Local sockets per user; messages arrive from the fan-out backend and go to each socket."""

    def __init__(
        self,
        backend: FanoutBackend,
        *,
        limits: HubLimits | None = None,
        encoder: MessageEncoder | None = None,
        on_close: Callable[[PopConnection], None] | None = None,
    ) -> None:
        self.backend = backend
        self.limits = limits or HubLimits()
        self.encoder = encoder or MessageEncoder(MessageIds())
        self._users: dict[int, set[PopConnection]] = {}
        self._writers: set[asyncio.Task[None]] = set()
        self._on_close = on_close
        self.delivered = 0
        self.closed_slow = 0

    async def start(self) -> None:
        """Start receiving from the backend."""
        await self.backend.start(self.deliver, self.resync)

    async def resync(self) -> None:
        """Send every local tab its current state again (messages may have been lost)."""
        for user_id, connections in list(self._users.items()):
            try:
                cards = await self.backend.live_cards(user_id)
            except FanoutUnavailable as err:
                log.warning("pops_resync_failed", user_id=user_id, error=str(err))
                return
            text = self.encoder.encode_state(user_id, cards)
            for connection in list(connections):
                if not connection.offer(text):
                    self._drop(connection, "queue-full", abort=True)

    async def stop(self) -> None:
        """Close every socket and stop receiving."""
        await self.backend.close()
        for connections in list(self._users.values()):
            for connection in list(connections):
                connection.finish("shutdown")
        if self._writers:
            await asyncio.wait(set(self._writers), timeout=self.limits.close_timeout_s + 1)
        for task in list(self._writers):
            task.cancel()

    def connections(self, user_id: int) -> int:
        """How many sockets the user has open here."""
        return len(self._users.get(user_id, ()))

    def sockets_of(self, user_id: int) -> list[PopConnection]:
        """The user's open connections here."""
        return list(self._users.get(user_id, ()))

    @property
    def connected_users(self) -> int:
        """Users with at least one socket here."""
        return len(self._users)

    async def publish(self, user_id: int, text: str, live: LiveChange | None = None) -> None:
        """Send ``text`` to every socket of ``user_id`` on every instance."""
        await self.backend.publish(user_id, text, live)

    def post(self, user_id: int, text: str, live: LiveChange | None = None) -> bool:
        """The same without waiting for the fan-out (in order all the same); False: dropped."""
        return self.backend.post(user_id, text, live)

    def deliver(self, user_id: int, text: str) -> None:
        """Queue ``text`` on each local socket of the user; close those that cannot keep up."""
        for connection in list(self._users.get(user_id, ())):
            if connection.offer(text):
                self.delivered += 1
            else:
                self.closed_slow += 1
                log.warning("pops_socket_too_slow", user_id=user_id, connection=connection.id)
                self._drop(connection, "queue-full", abort=True)

    async def attach(self, user_id: int, socket: PopSocket) -> PopConnection:
        """Register a socket, queue ``hello`` and the user's live state, start its writer."""
        connection = PopConnection(user_id, socket, self.limits)
        self._users.setdefault(user_id, set()).add(connection)
        try:
            cards = await self.backend.live_cards(user_id)
        except BaseException:
            self._drop(connection, "state-unavailable")
            raise
        hello = self.encoder.encode(
            HELLO,
            {"user_id": user_id, "schema": SCHEMA_VERSION, "connection": connection.id},
        )
        if not connection.begin([hello, self.encoder.encode_state(user_id, cards)]):
            self._drop(connection, "queue-full")
        writer = asyncio.create_task(connection.run_writer(), name=f"pops-writer-{connection.id}")
        connection.writer = writer
        self._writers.add(writer)
        writer.add_done_callback(self._writer_done(connection))
        return connection

    def detach(self, connection: PopConnection, reason: str = "client-closed") -> None:
        """Forget a socket the browser closed."""
        self._drop(connection, reason)

    def _drop(self, connection: PopConnection, reason: str, *, abort: bool = False) -> None:
        connection.finish(reason, abort=abort)
        connections = self._users.get(connection.user_id)
        if connections is not None:
            connections.discard(connection)
            if not connections:
                del self._users[connection.user_id]

    def _writer_done(self, connection: PopConnection) -> Callable[[asyncio.Task[None]], None]:
        def done(task: asyncio.Task[None]) -> None:
            self._writers.discard(task)
            self._drop(connection, connection.close_reason or "writer-stopped")
            if not task.cancelled() and task.exception() is not None:
                log.error("pops_writer_failed", exc_info=task.exception())
            if self._on_close is not None:
                self._on_close(connection)

        return done

    async def wait_closed(self, connection: PopConnection) -> None:
        """Wait until the connection's writer has finished."""
        if connection.writer is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(connection.writer)
