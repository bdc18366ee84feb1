"""The bounded queue between the socket reader and the consumer, and what it counts.

The reader puts events here from ``data_received`` (a plain call: no task per event, so wire
order is kept) and never waits. Most events come as their frame's text and are parsed when taken
off the queue: a backlog holds wire text (about 0.5 KB an event), not parsed headers (about
3.6 KB), so the same memory rides out a burst about seven times as long. Past ``limit`` queued
events, new events are dropped until the next LinkUp: the client resyncs, and the snapshot
brings the consumer back to the PBX's truth. Link items (LinkUp, LinkDown) are never dropped, so
the queue may exceed its limit by a few.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import NamedTuple

from cti.ami.errors import AmiNotConnected
from cti.protocol import AmiMessage, LinkItem, LinkUp, PbxEvent

_STOP = object()


class _Frame(NamedTuple):
    """An event still as its frame's text, read at ``at``."""

    text: str
    at: float


class EventIntake:
    """In-order, bounded, never-blocking hand-over of one PBX's link items."""

    def __init__(
        self,
        pbx: str,
        limit: int,
        on_overflow: Callable[[], None],
        parse: Callable[[str], AmiMessage | None],
    ) -> None:
        self.pbx = pbx
        self.limit = limit
        self._parse = parse  # a queued frame's text to its message, when it is taken
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._on_overflow = on_overflow
        self.events = 0
        self.dropped = 0
        self.dropping = False
        self.sequence_gaps = 0
        self._last_sequence: int | None = None

    def __len__(self) -> int:
        return self._queue.qsize()

    def put_event(self, message: AmiMessage, at: float) -> None:
        """Queue one event; past the limit, drop it and ask for a resync (once)."""
        if self._admits():
            self._queue.put_nowait(PbxEvent(self.pbx, message, at))

    def put_frame(self, text: str, at: float) -> None:
        """The same for an event still as its frame's text: parsed when it is taken."""
        if self._admits():
            self._queue.put_nowait(_Frame(text, at))

    def _admits(self) -> bool:
        if self.dropping:
            self.dropped += 1
            return False
        if self._queue.qsize() >= self.limit:
            self.dropping = True
            self.dropped += 1
            self._on_overflow()
            return False
        self.events += 1
        return True

    def put_link(self, item: LinkItem) -> None:
        """Queue a LinkUp or LinkDown; a LinkUp ends a dropping spell (its snapshot is truth)."""
        if isinstance(item, LinkUp):
            self.dropping = False
        self._queue.put_nowait(item)

    def close(self) -> None:
        """End ``items()`` once what is queued has been read."""
        self._queue.put_nowait(_STOP)

    def sequence_gap(self, raw: str) -> str | None:
        """Describe a jump to Asterisk's SequenceNumber ``raw`` (manager.conf debug=on), if any."""
        if not raw.isdigit():
            return None
        number = int(raw)
        last, self._last_sequence = self._last_sequence, number
        if last is None or number == last + 1:
            return None
        self.sequence_gaps += 1
        return f"SequenceNumber gap: expected {last + 1}, got {number}"

    def new_connection(self) -> None:
        """Numbering starts over with each AMI session."""
        self._last_sequence = None

    async def items(self) -> AsyncIterator[LinkItem]:
        while True:
            item = await self._queue.get()
            if item is _STOP:
                self._queue.put_nowait(_STOP)  # later readers end too
                return
            taken = self._taken(item)
            if taken is not None:
                yield taken

    async def get(self) -> LinkItem:
        while True:
            item = await self._queue.get()
            if item is _STOP:
                self._queue.put_nowait(_STOP)
                raise AmiNotConnected(f"AMI client for {self.pbx} is stopped")
            taken = self._taken(item)
            if taken is not None:
                return taken

    def _taken(self, item: object) -> LinkItem | None:
        """The queued item as the consumer sees it: a frame parsed now (None if it was empty)."""
        if isinstance(item, _Frame):
            message = self._parse(item.text)
            return PbxEvent(self.pbx, message, item.at) if message is not None else None
        return item  # type: ignore[return-value]
