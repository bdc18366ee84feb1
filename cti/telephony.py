"""Wire the telephony side into the app: the PBX links, the call tracker and the call flow.

For every configured PBX (or the built-in simulator when ``[simulator] enabled`` and no PBX is
configured) one consumer task waits for the PBX's consumer lock (one instance consumes a PBX at a
time), then feeds the AMI client's items through the call flow: the pop service first, the CRM
in per-call lanes, then pops and webhooks with the CRM's outcome. Every instance keeps an
originate-only link to each PBX, so click-to-call works behind a load balancer whoever consumes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import structlog
from aiohttp import web

from crmlite.web.keys import ENGINE
from cti.ami import AmiClient, ClientState
from cti.callflow import CallFlow, OutcomeSink
from cti.calls import CallTracker
from cti.leader import consumer_lock
from cti.settings import PbxSettings, Settings
from cti.sim import PbxSimulator
from cti.web.call_crm import CALL_TO_CRM, WEBHOOK_EVENTS
from cti.web.pops_keys import ORIGINATOR, POP_SERVICE

log = structlog.get_logger(__name__)


@dataclass
class PbxLink:
    """One PBX as this instance sees it: its settings, its clients, whether we consume it."""

    settings: PbxSettings
    originator: AmiClient
    consumer: AmiClient | None = None
    consuming: bool = False
    task: asyncio.Task[None] | None = None

    def status(self, tracker: CallTracker) -> dict[str, object]:
        """What the admin screen shows about this PBX."""
        state: ClientState = (self.consumer or self.originator).state
        return {
            "name": self.settings.name,
            "host": self.settings.host,
            "port": self.settings.port,
            "tls": self.settings.tls,
            "connected": state.connected,
            "consuming": self.consuming,
            "since": state.since,
            "last_error": state.last_error,
            "events": state.events,
            "dropped": state.dropped,
            "connects": state.connects,
            "resyncs": state.resyncs,
            "live_calls": len(tracker.live_calls(self.settings.name)),
        }


@dataclass
class Telephony:
    """The running telephony side of this instance."""

    tracker: CallTracker
    flow: CallFlow
    links: list[PbxLink] = field(default_factory=list)
    simulator: PbxSimulator | None = None

    def status(self) -> list[dict[str, object]]:
        return [link.status(self.tracker) for link in self.links]


TELEPHONY = web.AppKey("telephony", Telephony)


def setup_telephony(app: web.Application, settings: Settings) -> None:
    """Add the telephony cleanup context (after the pops' and the call-to-CRM's)."""

    async def telephony_context(app: web.Application) -> AsyncIterator[None]:
        simulator, pbxs = await _start_simulator(settings)
        tracker = CallTracker(
            per_pbx={p.name: p.call_model(settings.phone.extension_pattern) for p in pbxs}
        )
        pops = app[POP_SERVICE]
        pops.expect_crm_outcomes()
        outcome_sinks: list[OutcomeSink] = [pops]
        if WEBHOOK_EVENTS in app:
            outcome_sinks.append(app[WEBHOOK_EVENTS])
        flow = CallFlow(
            tracker, fast_sinks=[pops], crm=app[CALL_TO_CRM], outcome_sinks=outcome_sinks
        )
        telephony = Telephony(tracker, flow, simulator=simulator)
        for pbx in pbxs:
            link = PbxLink(pbx, originator=AmiClient(pbx, events=False))
            await link.originator.start()
            link.task = asyncio.create_task(_consume(app, link, flow), name=f"consume-{pbx.name}")
            telephony.links.append(link)
        if telephony.links:
            # Click-to-call rings from the first PBX; several PBXs would route by extension.
            app[ORIGINATOR] = telephony.links[0].originator
        app[TELEPHONY] = telephony
        yield
        await _stop(telephony)

    app.cleanup_ctx.append(telephony_context)


async def _start_simulator(settings: Settings) -> tuple[PbxSimulator | None, Sequence[PbxSettings]]:
    if settings.pbx or not settings.simulator.enabled:
        return None, settings.pbx
    sim_settings = settings.simulator
    simulator = PbxSimulator(host=sim_settings.host, port=sim_settings.port)
    simulator.known_callers = sim_settings.known_callers
    await simulator.start()
    if sim_settings.calls_per_minute > 0:
        simulator.start_traffic(sim_settings.calls_per_minute)
    log.info(
        "pbx simulator started", port=simulator.port, calls_per_minute=sim_settings.calls_per_minute
    )
    return simulator, (simulator.client_settings(name="sim"),)


async def _consume(app: web.Application, link: PbxLink, flow: CallFlow) -> None:
    """Consume one PBX while this instance holds its lock; standby otherwise."""
    async with consumer_lock(app[ENGINE], link.settings.name):
        link.consumer = AmiClient(link.settings)
        link.consuming = True
        await link.consumer.start()
        try:
            await flow.consume(link.consumer.items())
        finally:
            link.consuming = False
            await link.consumer.stop()


async def _stop(telephony: Telephony) -> None:
    for link in telephony.links:
        if link.task is not None:
            link.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await link.task
        await link.originator.stop()
    await telephony.flow.lanes.drain(timeout_s=5.0)
    if telephony.simulator is not None:
        await telephony.simulator.stop()
