"""A standby's own view of a PBX it does not consume: the calls a takeover would otherwise miss.

When the consuming instance dies, its PBX's events go nowhere until a standby holds the lease,
logs in and asks for a snapshot; the snapshot shows only the calls still up. A call that rang and
ended in between, or whose last events the dead instance read but never committed, would leave no
contact, deal, call log or call-back task. The witness closes that gap: while an instance stands
by it keeps an AMI link of its own to the PBX, feeds it through a call tracker of its own and
remembers the calls seen in the last ``window_s`` seconds (every event of each). On takeover
those events go through the CRM once more: each effect is recorded under its call's key, so what
the dead consumer committed is found, not made twice, and what it missed is made now.

Only the CRM hears them: their cards were either sent by the dead consumer or belong to calls that
are over (a call still up pops again from the new consumer's snapshot), and a webhook receiver
would get twice what the dead consumer delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Callable

import structlog

from cti.ami import AmiClient
from cti.calls import CallModelConfig, CallTracker
from cti.calls.events import CallEvent
from cti.settings import PbxSettings

log = structlog.get_logger(__name__)

MAX_CALLS = 20_000  # calls remembered at most, whatever the window (a peak minute's calls)


class CallWitness:
    """Watch one PBX without acting on it; hand over the recent calls' events on takeover."""

    def __init__(
        self,
        settings: PbxSettings,
        model: CallModelConfig,
        *,
        window_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_calls: int = MAX_CALLS,
    ) -> None:
        self.pbx = settings.name
        self._client = AmiClient(settings)
        self._tracker = CallTracker(per_pbx={settings.name: model})
        self._window_s = window_s
        self._clock = clock
        self._max_calls = max_calls
        # linkedid -> (when its last event was seen, its events in order); oldest call first.
        self._calls: OrderedDict[str, tuple[float, list[CallEvent]]] = OrderedDict()
        self._task: asyncio.Task[None] | None = None

    @property
    def client(self) -> AmiClient:
        return self._client

    async def start(self) -> None:
        await self._client.start()
        self._task = asyncio.create_task(self._watch(), name=f"witness-{self.pbx}")
        log.info("standing by with a witness link", pbx=self.pbx, window_s=self._window_s)

    async def stop(self) -> None:
        await self._client.stop()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def remember(self, event: CallEvent) -> None:
        """Keep ``event`` with its call's; forget calls quiet for longer than the window."""
        now = self._clock()
        seen = self._calls.pop(event.linkedid, None)
        events = seen[1] if seen is not None else []
        events.append(event)
        self._calls[event.linkedid] = (now, events)
        self._forget_before(now - self._window_s)
        while len(self._calls) > self._max_calls:
            self._calls.popitem(last=False)

    def recent(self) -> list[CallEvent]:
        """Every event of the calls seen within the window, each call's in the PBX's order."""
        self._forget_before(self._clock() - self._window_s)
        return [event for _, events in self._calls.values() for event in events]

    def _forget_before(self, horizon: float) -> None:
        while self._calls:
            last_seen, _ = next(iter(self._calls.values()))
            if last_seen >= horizon:
                return
            self._calls.popitem(last=False)

    async def _watch(self) -> None:
        async for item in self._client.items():
            try:
                events = self._tracker.feed(item)
            except Exception:  # the model is meant never to raise; a witness must not stop
                log.exception("witness tracker failed on an item", pbx=self.pbx)
                continue
            for event in events:
                self.remember(event)
