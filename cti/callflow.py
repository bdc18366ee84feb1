"""The call path: link items -> the pure call tracker -> pops at once, CRM work in per-call lanes.

A ringing card must not wait for the database, so every call event first goes to the fast sinks
(the pop hub), then, in the call's own ordered lane, to the CRM handler; what the CRM made of it
(contact, deal, task) then goes to the sinks that need it (the card completes, webhooks fire).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Protocol

import structlog

from cti.calls.events import CallEvent
from cti.lanes import OrderedLanes
from cti.protocol import LinkItem, PbxEvent

log = structlog.get_logger(__name__)


class CallTrackerPort(Protocol):
    def feed(self, item: LinkItem) -> Sequence[CallEvent]: ...


class FastSink(Protocol):
    """Told of every call event at once, before any database work; must not block."""

    async def on_call_event(self, event: CallEvent) -> None: ...


class CrmHandler(Protocol):
    """Turns a call event into CRM data; returns what it made (or None)."""

    async def handle(self, event: CallEvent) -> object | None: ...


class OutcomeSink(Protocol):
    """Told of a call event together with what the CRM made of it."""

    async def on_crm_outcome(self, event: CallEvent, outcome: object | None) -> None: ...


class CallFlow:
    """Consume one PBX's link items and fan the resulting call events out."""

    def __init__(
        self,
        tracker: CallTrackerPort,
        *,
        fast_sinks: Sequence[FastSink] = (),
        crm: CrmHandler | None = None,
        outcome_sinks: Sequence[OutcomeSink] = (),
        lanes: OrderedLanes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._tracker = tracker
        self._fast = tuple(fast_sinks)
        self._crm = crm
        self._after = tuple(outcome_sinks)
        self._lanes = lanes or OrderedLanes(name="crm")
        self._clock = clock
        self.items_seen = 0
        self.events_emitted = 0

    @property
    def lanes(self) -> OrderedLanes:
        return self._lanes

    async def consume(self, items: AsyncIterator[LinkItem]) -> None:
        """Run until ``items`` ends (the AMI client stops)."""
        async for item in items:
            await self.process(item)

    async def process(self, item: LinkItem) -> None:
        """Feed one item to the tracker and dispatch the call events it causes."""
        self.items_seen += 1
        try:
            events = self._tracker.feed(item)
        except Exception:  # the model is meant never to raise; if it does, keep consuming
            linkedid = item.message.get("Linkedid") if isinstance(item, PbxEvent) else None
            log.exception("call tracker failed on an item", linkedid=linkedid)
            return
        for event in events:
            self.events_emitted += 1
            await self._dispatch(event)

    async def replay_to_crm(
        self,
        events: Sequence[CallEvent],
        *,
        at_once: int | None = None,
        pace: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Queue ``events`` for the CRM alone, each in its call's lane, ahead of what follows.

        For a takeover's witnessed calls (``cti.witness``): the CRM records each effect once, so
        events a dead consumer already applied change nothing; no card or webhook goes out. They
        run as the lanes' background jobs: the live calls' CRM work never queues behind many.
        ``at_once``: at most that many of these events queued or running at a time (returns when
        the last is queued), so a long replay leaves the lanes and the loop to the live calls;
        ``pace`` is awaited before each (it returns when the live calls leave room).
        """
        if self._crm is None:
            return
        slots = asyncio.Semaphore(at_once) if at_once else None
        for event in events:
            job = functools.partial(self._crm_then_outcome, event, tell=False)
            if slots is not None:
                await slots.acquire()
                job = functools.partial(_releasing, job, slots)
            if pace is not None:
                await pace()
            await self._lanes.submit(event.linkedid, job, background=True)

    async def _dispatch(self, event: CallEvent) -> None:
        for sink in self._fast:
            try:
                await sink.on_call_event(event)
            except Exception:  # one sink's failure must not cost the others their event
                log.exception("call event sink failed", linkedid=event.linkedid, kind=event.kind)
        if self._crm is None and not self._after:
            return
        await self._lanes.submit(event.linkedid, lambda: self._crm_then_outcome(event))

    async def _crm_then_outcome(self, event: CallEvent, *, tell: bool = True) -> None:
        """The CRM's work on ``event``, then (``tell``) the sinks that want its outcome."""
        outcome = None
        if self._crm is not None:
            structlog.contextvars.bind_contextvars(linkedid=event.linkedid)
            try:
                outcome = await self._crm.handle(event)
            finally:
                structlog.contextvars.unbind_contextvars("linkedid")
        if not tell:
            return
        for sink in self._after:
            try:
                await sink.on_crm_outcome(event, outcome)
            except Exception:
                log.exception("crm outcome sink failed", linkedid=event.linkedid, kind=event.kind)


async def _releasing(job: Callable[[], Awaitable[None]], slots: asyncio.Semaphore) -> None:
    try:
        await job()
    finally:
        slots.release()
