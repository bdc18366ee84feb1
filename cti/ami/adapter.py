"""panoramisk, walled off: its Manager connects and sends actions; our protocol frames the bytes.

panoramisk 1.4 decodes every TCP read on its own (errors ignored, so a character split across two
reads is lost), re-sends queued actions on FullyBooted, reconnects on a fixed delay and dispatches
events through fnmatch patterns to callbacks it may schedule as tasks. This module keeps what fits
(``Manager.connect`` with an injected protocol, ``Action`` with its ActionID and multi-message
completion, ``AMIProtocol.send``) and replaces the rest: framing on bytes with
:class:`cti.protocol.AmiFrameDecoder`, in-order synchronous delivery to one sink, no re-sends,
and connection loss reported to the client, which owns reconnecting.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from panoramisk import Manager
from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from cti.ami.errors import AmiConnectionLost
from cti.protocol import AmiFrameDecoder, AmiMessage, DecodeProblem, EventSkip


class LinkSink(Protocol):
    """What the protocol hands the client: events in wire order, problems, and the end."""

    def clock(self) -> float: ...

    def on_event(self, message: AmiMessage, at: float) -> None: ...

    def on_frame(self, text: str, at: float) -> None:
        """An event the decoder's ``defer`` picked, as its frame's text (to parse later)."""
        ...

    def on_problems(self, problems: list[DecodeProblem]) -> None: ...

    def on_connection_lost(self, exc: BaseException | None) -> None: ...


class PendingAction:
    """An action sent through panoramisk, plus the whole messages that answered it."""

    def __init__(self, action: Action, on_complete: Callable[[list[AmiMessage]], None] | None):
        self.action = action
        self.messages: list[AmiMessage] = []
        self.on_complete = on_complete
        self.done: asyncio.Future[list[AmiMessage]] = asyncio.get_running_loop().create_future()


class FramedAmiProtocol(AMIProtocol):  # type: ignore[misc]
    """panoramisk's AMIProtocol with byte framing and whole-message decoding."""

    def __init__(
        self,
        sink: LinkSink,
        max_message_bytes: int,
        skip: EventSkip | None = None,
        defer: Callable[[str], bool] | None = None,
    ) -> None:
        self._sink = sink
        self.decoder = AmiFrameDecoder(max_message_bytes=max_message_bytes, skip=skip, defer=defer)
        self.pending: dict[str, PendingAction] = {}
        self.abandoned: deque[str] = deque(maxlen=64)
        self.reads = 0
        self.version: str | None = None
        self.closed = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.reads += 1
        sink = self._sink
        at = sink.clock()
        decoder = self.decoder
        messages = decoder.feed_frames(data)
        if decoder.problems:
            sink.on_problems(list(decoder.problems))
            decoder.problems.clear()
        if self.version is None and decoder.banner:
            self.version = decoder.banner.partition("/")[2].strip()
        pending = self.pending
        answers_expected = bool(pending or self.abandoned)
        for message in messages:
            if isinstance(message, str):  # an event that only waits in the queue: parsed there
                sink.on_frame(message, at)
                continue
            # While no action waits (most of the stream), skip the ActionID lookup altogether.
            action_id = message.get_exact("ActionID") if answers_expected else None
            if action_id is not None:
                waiting = pending.get(action_id)
                if waiting is not None:
                    self._answer(action_id, waiting, message)
                    if message.event != "OriginateResponse":
                        continue
                elif action_id in self.abandoned:
                    continue  # a late answer to an action that already timed out
            sink.on_event(message, at)

    def _answer(self, action_id: str, waiting: PendingAction, message: AmiMessage) -> None:
        waiting.messages.append(message)
        action = waiting.action
        action.add_message(Message(message.as_dict()))
        if action.future.done():
            del self.pending[action_id]
            self.responses.pop(action_id, None)
            if waiting.on_complete is not None:
                waiting.on_complete(waiting.messages)
            if not waiting.done.done():
                waiting.done.set_result(waiting.messages)

    def send_action(
        self,
        fields: dict[str, str],
        *,
        as_list: bool | None = None,
        on_complete: Callable[[list[AmiMessage]], None] | None = None,
    ) -> PendingAction:
        """Write an action; the returned record completes when its last answer arrives."""
        action = Action(fields, as_list=as_list)
        waiting = PendingAction(action, on_complete)
        self.pending[action.id] = waiting
        self.send(action, as_list=as_list)
        return waiting

    def abandon(self, action_id: str) -> None:
        """Forget an action that timed out; its late answers are dropped, not taken as events."""
        self.pending.pop(action_id, None)
        self.responses.pop(action_id, None)
        self.abandoned.append(action_id)

    def fail_pending(self, reason: str) -> None:
        """Fail every waiting action: nothing is ever re-sent on another connection."""
        pending, self.pending = self.pending, {}
        self.responses.clear()
        for waiting in pending.values():
            if not waiting.done.done():
                waiting.done.set_exception(AmiConnectionLost(reason))
                waiting.done.add_done_callback(_mark_retrieved)

    def close(self) -> None:
        self.fail_pending("connection closed")
        if not self.closed:
            self.closed = True
            self.transport.close()

    def abort(self) -> None:
        """Drop the connection now, without flushing (a peer that stopped answering)."""
        self.fail_pending("connection aborted")
        self.closed = True
        self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.fail_pending("connection lost")
        self.closed = True
        self._sink.on_connection_lost(exc)


def _mark_retrieved(future: asyncio.Future[Any]) -> None:
    future.exception()


class LinkManager(Manager):  # type: ignore[misc]
    """panoramisk's Manager without its own reconnect, pinger or login: the client owns those."""

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self.ready: asyncio.Future[FramedAmiProtocol] | None = None
        self._connecting: asyncio.Task[Any] | None = None

    def open(self) -> asyncio.Future[FramedAmiProtocol]:
        """Start connecting; the future gives the protocol once the TCP (or TLS) link is up."""
        self.ready = self.loop.create_future()
        self._connecting = self.connect()
        return self.ready

    def cancel_open(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()

    def connection_made(self, f: asyncio.Future[Any]) -> None:
        ready = self.ready
        if f.cancelled():
            if ready is not None and not ready.done():
                ready.cancel()
            return
        exc = f.exception()
        if exc is not None:
            if ready is not None and not ready.done():
                ready.set_exception(exc)
            return
        super().connection_made(f)
        if ready is not None and not ready.done():
            ready.set_result(self.protocol)
        else:
            self.protocol.close()

    def ping(self) -> None:
        """Disabled: the client pings with a deadline instead."""

    def connection_lost(self, exc: BaseException | None) -> None:
        """Disabled: the protocol reports the loss to the client, which reconnects with backoff."""
