"""One PBX's AMI link: login, keep-alive with a deadline, resync, reconnect forever, in order.

The reader never waits on the consumer: every event is put on a bounded queue from the protocol's
``data_received`` (a plain call, no task per event, so wire order is kept). When the consumer falls
so far behind that the queue is full, events are dropped, a ``LinkDown`` says so, and a fresh
snapshot (``LinkUp``) brings the call model back to the PBX's truth.
"""

from __future__ import annotations

import asyncio
import functools
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from types import TracebackType

import structlog

from cti.ami.adapter import FramedAmiProtocol, LinkManager, PendingAction
from cti.ami.backoff import Backoff
from cti.ami.errors import (
    AmiActionFailed,
    AmiActionTimeout,
    AmiConnectionLost,
    AmiError,
    AmiLoginFailed,
    AmiNotConnected,
)
from cti.ami.intake import EventIntake
from cti.ami.login import check_login, install_filters, login_fields, ssl_context
from cti.ami.originate import OriginateDesk, OriginateResult, originate_fields
from cti.ami.snapshot import SnapshotCollector
from cti.ami.state import ClientState
from cti.protocol import (
    AmiFrameDecoder,
    AmiMessage,
    DecodeProblem,
    EventSkip,
    LinkDown,
    LinkItem,
    LinkUp,
)
from cti.settings import PbxSettings

log = structlog.get_logger(__name__)


class AmiClient:
    """The product's connection to one Asterisk: ``async with AmiClient(settings) as c``."""

    def __init__(
        self,
        settings: PbxSettings,
        *,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        events: bool = True,
        username: str | None = None,
        secret: str | None = None,
    ) -> None:
        self.settings = settings
        self.name = settings.name
        self.clock = clock
        self._events_on = events
        self._username = username or settings.username
        # Kept as a callable so the secret is not an attribute anything might print.
        self._secret: Callable[[], str] = (
            (lambda: secret) if secret else settings.secret.get_secret_value
        )
        self._parser = AmiFrameDecoder()  # parses the frames queued as text, when taken
        self._intake = EventIntake(
            self.name, settings.event_queue_size, self._overflowed, self._parse_frame
        )
        self._backoff = Backoff(settings.reconnect_min_s, settings.reconnect_max_s, rng)
        self._state = ClientState(pbx=self.name)
        self._skip = client_skip(settings)
        self._filtered_before = 0  # skipped on earlier connections
        self._recovering = False
        self._link_up = False
        self._protocol: FramedAmiProtocol | None = None
        self._manager: LinkManager | None = None
        self._lost: asyncio.Future[str] | None = None
        self._booted: asyncio.Event = asyncio.Event()
        self._desk = OriginateDesk(self, self._originate_link)
        self._originator: AmiClient | None = None
        self._task: asyncio.Task[None] | None = None
        self._side_tasks: set[asyncio.Task[None]] = set()
        self._connected_event = asyncio.Event()

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self) -> None:
        """Start connecting in the background (and keep reconnecting until :meth:`stop`)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"ami-{self.name}"
            )

    async def stop(self) -> None:
        """Log off politely if connected, then close; ``items()`` ends after what is queued."""
        if self._originator is not None:
            await self._originator.stop()
        protocol = self._protocol
        if protocol is not None and not protocol.closed:
            try:
                await self._call({"Action": "Logoff"}, deadline_s=1.0)
            except AmiError as err:
                log.debug("ami.logoff_failed", pbx=self.name, error=str(err))
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        for task in list(self._side_tasks):
            task.cancel()
        await asyncio.gather(*self._side_tasks, return_exceptions=True)
        if self._protocol is not None:
            self._protocol.close()
        self._intake.close()

    async def __aenter__(self) -> AmiClient:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def state(self) -> ClientState:
        """A snapshot of the link's health."""
        intake = self._intake
        protocol = self._protocol
        return replace(
            self._state,
            events=intake.events,
            filtered=self._filtered_before + (protocol.decoder.skipped if protocol else 0),
            dropped=intake.dropped,
            sequence_gaps=intake.sequence_gaps,
            queued=len(intake),
        )

    @property
    def reads(self) -> int:
        """TCP reads on the current connection (tests use it to check reads were split)."""
        return self._protocol.reads if self._protocol is not None else 0

    # --- consuming ----------------------------------------------------------------------
    def items(self) -> AsyncIterator[LinkItem]:
        """Link items in PBX order until the client stops."""
        return self._intake.items()

    async def get(self) -> LinkItem:
        """The next link item (raises AmiNotConnected once stopped)."""
        return await self._intake.get()

    # --- actions ------------------------------------------------------------------------
    async def action(
        self,
        fields: Mapping[str, str],
        deadline_s: float | None = None,
        *,
        as_list: bool | None = None,
    ) -> list[AmiMessage]:
        """Send any action and return every message answering it (raises on Error).

        ``as_list`` overrides panoramisk's guess of whether more messages follow the response.
        """
        messages = await self._call(dict(fields), deadline_s=deadline_s, as_list=as_list)
        first = messages[0] if messages else None
        if first is not None and (first.response or "").lower() in ("error", "failure", "fail"):
            raise AmiActionFailed(fields.get("Action", "?"), first.get("Message") or "")
        return messages

    async def ping(self) -> float:
        """Round-trip a Ping; return the seconds it took."""
        started = time.monotonic()
        await self.action({"Action": "Ping"}, deadline_s=self.settings.ping_timeout_s)
        return time.monotonic() - started

    async def originate(
        self,
        channel: str,
        exten: str,
        *,
        context: str | None = None,
        caller_id: str | None = None,
        variables: Mapping[str, str] | None = None,
        ring_timeout_s: float = 30.0,
    ) -> OriginateResult:
        """Click-to-call: ring ``channel`` (e.g. ``PJSIP/101``), then dial ``exten``.

        Always ``Async: true`` with our own ActionID; returns once Asterisk reports the
        OriginateResponse (on the event link, whichever account sent the action).
        """
        fields = originate_fields(
            channel,
            exten,
            context or self.settings.originate_context,
            caller_id,
            variables,
            ring_timeout_s,
        )
        return await self._desk.originate(fields, ring_timeout_s + self.settings.action_timeout_s)

    async def _originate_link(self) -> AmiClient:
        username = self.settings.originate_username
        secret = self.settings.originate_secret
        if not username or secret is None or not self._events_on:
            return self
        if self._originator is None:
            self._originator = AmiClient(
                self.settings.model_copy(update={"name": f"{self.name}/originate"}),
                clock=self.clock,
                events=False,
                username=username,
                secret=secret.get_secret_value(),
            )
            await self._originator.start()
        try:
            await asyncio.wait_for(
                self._originator.wait_connected(), self.settings.connect_timeout_s
            )
        except TimeoutError as err:
            why = self._originator.state.last_error or "no answer"
            raise AmiNotConnected(f"originate account not logged in: {why}") from err
        return self._originator

    async def wait_connected(self) -> None:
        """Wait until logged in (and, for the event link, resynced); wrap in a timeout."""
        while not self._state.connected:
            await self._connected_event.wait()

    async def _call(
        self,
        fields: dict[str, str],
        *,
        deadline_s: float | None = None,
        as_list: bool | None = None,
        on_complete: Callable[[list[AmiMessage]], None] | None = None,
    ) -> list[AmiMessage]:
        protocol = self._protocol
        if protocol is None or protocol.closed:
            raise AmiNotConnected(f"not connected to {self.name}")
        clean = {k: v.replace("\r", " ").replace("\n", " ") for k, v in fields.items()}
        waiting: PendingAction = protocol.send_action(
            clean, as_list=as_list, on_complete=on_complete
        )
        limit = deadline_s if deadline_s is not None else self.settings.action_timeout_s
        try:
            return await asyncio.wait_for(asyncio.shield(waiting.done), limit)
        except TimeoutError as err:
            protocol.abandon(waiting.action.id)
            raise AmiActionTimeout(
                f"{fields.get('Action', '?')} got no answer from {self.name} within {limit:g}s"
            ) from err

    # --- the connection loop ------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            reason = await self._session()
            self._state = replace(self._state, connected=False, last_error=reason)
            self._connected_event.clear()
            if self._link_up:
                self._link_up = False
                self._intake.put_link(LinkDown(self.name, reason, self.clock()))
            delay = self._backoff.next()
            log.warning(
                "ami.disconnected", pbx=self.name, reason=reason, retry_in_s=round(delay, 2)
            )
            await asyncio.sleep(delay)

    async def _session(self) -> str:
        """Connect, log in, resync, keep alive; return why the connection ended."""
        settings = self.settings
        loop = asyncio.get_running_loop()
        self._lost = loop.create_future()
        self._booted = asyncio.Event()
        self._intake.new_connection()
        manager = LinkManager(
            host=settings.host,
            port=settings.port,
            ssl=ssl_context(settings),
            loop=loop,
            protocol_factory=functools.partial(
                FramedAmiProtocol, self, settings.max_message_bytes, self._skip, _deferrable
            ),
        )
        self._manager = manager
        try:
            opening = manager.open()
            try:
                protocol = await asyncio.wait_for(opening, settings.connect_timeout_s)
            except TimeoutError:
                manager.cancel_open()
                return f"connect to {settings.host}:{settings.port} timed out"
            self._protocol = protocol
            await self._login()
            self._backoff.reset()
            self._state = replace(self._state, connects=self._state.connects + 1)
            if self._events_on:
                await self._after_login()
            self._state = replace(self._state, connected=True, since=self.clock(), last_error=None)
            self._connected_event.set()
            log.info("ami.connected", pbx=self.name, host=settings.host, user=self._username)
            return await self._keep_alive()
        except OSError as err:
            why = err.strerror or type(err).__name__
            return f"cannot reach {settings.host}:{settings.port}: {why}"
        except AmiLoginFailed as err:
            return str(err)
        except AmiError as err:
            return f"{type(err).__name__}: {err}"
        finally:
            if self._protocol is not None:
                self._protocol.close()
                self._filtered_before += self._protocol.decoder.skipped
                self._protocol = None

    async def _login(self) -> None:
        fields = login_fields(self._username, self._secret(), self._events_on)
        check_login(await self._call(fields), self.name, self._username)

    async def _after_login(self) -> None:
        try:
            await asyncio.wait_for(self._booted.wait(), self.settings.action_timeout_s)
        except TimeoutError:
            log.warning("ami.no_fully_booted", pbx=self.name)
        if self.settings.server_side_filter:
            await install_filters(self.action, self.settings.filtered_events, self.name)
        await self._resync(reason=None)

    async def _resync(self, reason: str | None) -> None:
        """Ask for the live state; LinkUp goes in the stream where the channel list ends."""
        if reason is not None:
            self._state = replace(self._state, resyncs=self._state.resyncs + 1)
            self._intake.put_link(LinkDown(self.name, reason, self.clock()))
        collector = SnapshotCollector(self._link_is_up)
        calls = []
        if self.settings.queue_status_on_resync:
            calls.append(
                self._call({"Action": "QueueStatus"}, on_complete=collector.queues_answered)
            )
        calls.append(
            self._call({"Action": "CoreShowChannels"}, on_complete=collector.channels_answered)
        )
        await asyncio.gather(*calls)
        collector.raise_if_refused()

    def _link_is_up(self, snapshot: tuple[AmiMessage, ...]) -> None:
        self._link_up = True
        if not self._state.connected:
            self._state = replace(self._state, connected=True, since=self.clock(), last_error=None)
            self._connected_event.set()
        self._intake.put_link(LinkUp(self.name, snapshot, self.clock()))

    async def _keep_alive(self) -> str:
        lost = self._lost
        assert lost is not None  # noqa: S101 - set by _session just before
        settings = self.settings
        while True:
            done, _ = await asyncio.wait({lost}, timeout=settings.ping_interval_s)
            if done:
                return lost.result()
            try:
                await self._call({"Action": "Ping"}, deadline_s=settings.ping_timeout_s)
            except AmiActionTimeout:
                if self._protocol is not None:
                    self._protocol.abort()
                return f"no answer to Ping within {settings.ping_timeout_s:g}s"
            except AmiConnectionLost:
                return await lost

    # --- called by the protocol, in wire order -------------------------------------------
    def on_event(self, message: AmiMessage, at: float) -> None:
        name = message.get_exact("Event")
        if name in _CONTROL_EVENTS:
            self._control(name, message)
        number = message.get_exact("SequenceNumber")
        if number is not None:
            self._check_sequence(number)
        self._intake.put_event(message, at)

    def on_frame(self, text: str, at: float) -> None:
        number = _frame_value(text, _SEQUENCE)  # manager.conf debug=on numbers every event
        if number is not None:
            self._check_sequence(number)
        self._intake.put_frame(text, at)

    def _check_sequence(self, number: str) -> None:
        gap = self._intake.sequence_gap(number)
        if gap is not None and self.settings.resync_on_sequence_gap and self._link_up:
            self._spawn(self._resync(reason=gap))

    def _parse_frame(self, text: str) -> AmiMessage | None:
        message = self._parser.parse(text)
        if self._parser.problems:
            self.on_problems(list(self._parser.problems))
            self._parser.problems.clear()
        return message

    def on_problems(self, problems: list[DecodeProblem]) -> None:
        self._state = replace(
            self._state, decode_problems=self._state.decode_problems + len(problems)
        )
        for problem in problems[:5]:
            log.warning(
                "ami.decode_problem", pbx=self.name, kind=problem.kind, detail=problem.detail
            )

    def on_connection_lost(self, exc: BaseException | None) -> None:
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(
                f"connection lost: {exc}" if exc else "connection closed by the PBX"
            )

    def _control(self, name: str | None, message: AmiMessage) -> None:
        if name == "OriginateResponse":
            self._desk.on_response(message)
        elif name == "FullyBooted":
            already = self._booted.is_set()
            self._booted.set()
            if already and self._link_up:
                self._spawn(self._resync(reason=None))
        elif name == "Reload":
            if self._link_up:
                self._spawn(self._resync(reason=None))
        elif name == "Shutdown":
            if self._lost is not None and not self._lost.done():
                self._lost.set_result(f"PBX shut down ({message.get('Shutdown') or 'no reason'})")
            if self._protocol is not None:
                self._protocol.close()

    def _overflowed(self) -> None:
        log.error("ami.queue_overflow", pbx=self.name, limit=self._intake.limit)
        if not self._recovering:
            self._recovering = True
            self._spawn(self._recover_from_overflow())

    async def _recover_from_overflow(self) -> None:
        # Let the consumer catch up to half the queue, then start over from a snapshot.
        try:
            while len(self._intake) > self._intake.limit // 2:  # noqa: ASYNC110 - no event for it
                await asyncio.sleep(0.05)
            dropped = self._intake.dropped
            await self._resync(reason=f"event queue overflow: {dropped} events dropped so far")
        finally:
            self._recovering = False

    def _spawn(self, coro: object) -> None:
        task = asyncio.get_running_loop().create_task(self._guard(coro))
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _guard(self, coro: object) -> None:
        try:
            await coro  # type: ignore[misc]
        except AmiError as err:
            log.warning("ami.resync_failed", pbx=self.name, error=str(err))


_CONTROL_EVENTS = frozenset({"OriginateResponse", "FullyBooted", "Reload", "Shutdown"})


_SEQUENCE = "\r\nSequenceNumber:"


def _deferrable(frame: str) -> bool:
    """True for an event the reader only queues (parsed when the consumer takes it): not a
    response, not an answer to an action, not a control event."""
    if not frame.startswith("Event: "):
        return False
    end = frame.find("\r\n")
    name = frame[7:end] if end >= 0 else frame[7:]
    return name not in _CONTROL_EVENTS and "ActionID:" not in frame


def _frame_value(frame: str, marker: str) -> str | None:
    """The value of the header ``marker`` ("\\r\\nKey:") opens in ``frame``, unparsed."""
    start = frame.find(marker)
    if start < 0:
        return None
    start += len(marker)
    end = frame.find("\r\n", start)
    return (frame[start:end] if end >= 0 else frame[start:]).strip()


def client_skip(settings: PbxSettings) -> EventSkip | None:
    """The events this link drops unparsed: ``filtered_events``, less those the link needs.

    Off when SequenceNumber gaps are trusted: a skipped event's number would look like a gap.
    """
    if not settings.client_side_filter or settings.resync_on_sequence_gap:
        return None
    return EventSkip(set(settings.filtered_events) - _CONTROL_EVENTS)
