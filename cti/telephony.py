"""Wire the telephony side into the app: the PBX links, the call tracker and the call flow.

For every configured PBX (or the built-in simulator when ``[simulator] enabled`` and no PBX is
configured) one consumer task feeds the AMI client's items through the call flow: the pop service
first, the CRM in per-call lanes, then pops and webhooks with the CRM's outcome. With PostgreSQL
it consumes only while it holds the PBX's lease (``cti.lease``): a standby until then, and back to
standby when the lease is lost (its AMI link closed, what it knew of the PBX's calls forgotten,
nothing sent). A standby watches the PBX it waits for through a link of its own (``cti.witness``)
and, on takeover, has the CRM apply the recent calls' events it saw: the calls that rang and ended
while no instance consumed are not lost. Every instance keeps an originate-only link to each PBX,
so click-to-call works behind a load balancer whoever consumes. With several instances the PBXs
spread over them (``cti.lease_spread``): a lease shed to another instance is released at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import structlog
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from crmlite.db.engine import create_engine
from cti.ami import AmiClient, ClientState
from cti.callflow import CallFlow, OutcomeSink
from cti.calls import CallModelConfig, CallTracker
from cti.calls.events import CallEnded, CallEvent
from cti.fencing import ConsumerFence
from cti.lanes import OrderedLanes
from cti.lease import ConsumerLease, LeaseKeeper, LeaseTimings
from cti.lease_spread import LeaseSpread
from cti.pops.click_to_call import Originator
from cti.pops.service import PopService
from cti.protocol import LinkItem
from cti.rules.call_to_crm import CallToCrm
from cti.settings import PbxSettings, Settings
from cti.sim import PbxSimulator
from cti.web.call_crm import CALL_TO_CRM, WEBHOOK_EVENTS
from cti.web.pops_keys import CONSUMER_FENCE, ORIGINATOR, ORIGINATORS, POP_SERVICE
from cti.witness import CallWitness

log = structlog.get_logger(__name__)

STOP_TIMEOUT_S = 10.0  # how long a shutdown waits for a PBX's consumer task to end
# A takeover's ended witnessed calls go to the CRM beside the live ones, as the live leave room:
REPLAY_AT_ONCE = 1  # events queued or running at a time
# Call events the CRM lanes may hold before the AMI consumer waits for them (about 1 KB each,
# 60 MB in all). The consumer must not wait before: the pops and the call model would fall as
# far behind as the CRM. 10,000 did that within seconds of a 100-call/s peak (ten events a call):
# the ringing cards came 15 s late; with room for a minute of it they come within 0.1 s while
# the CRM catches up behind.
CRM_BACKLOG = 60_000
REPLAY_QUIET_QUEUE = 20  # the live calls keep up: at most this many AMI events wait to be read
REPLAY_MAX_WAIT_S = 0.1  # under a load that never leaves room, one event this often all the same


@dataclass
class PbxLink:
    """One PBX as this instance sees it: its settings, its clients, whether we consume it."""

    settings: PbxSettings
    originator: AmiClient
    consumer: AmiClient | None = None
    consuming: bool = False
    lease: ConsumerLease | None = None
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
            "lease_epoch": self.lease.epoch if self.lease is not None else None,
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
    simulators: list[PbxSimulator] = field(default_factory=list)  # one per simulated office
    # PostgreSQL: the consumer leases of this instance; None (SQLite): one instance consumes all.
    keeper: LeaseKeeper | None = None
    spread: LeaseSpread | None = None  # PostgreSQL: the PBXs spread over the instances
    spread_task: asyncio.Task[None] | None = None
    # With leases: how far back a standby's witness remembers calls (None: no witness).
    witness_window_s: float | None = None
    models: dict[str, CallModelConfig] = field(default_factory=dict)  # each PBX's call model
    crm: CallToCrm | None = None  # checks a witness's calls against what is recorded

    def status(self) -> list[dict[str, object]]:
        return [link.status(self.tracker) for link in self.links]

    def consumed(self) -> dict[str, dict[str, object]]:
        """What this instance reports of the PBXs it consumes (for every instance's admin view)."""
        return {
            link.settings.name: link.status(self.tracker) for link in self.links if link.consuming
        }


TELEPHONY = web.AppKey("telephony", Telephony)


def setup_telephony(app: web.Application, settings: Settings) -> None:
    """Add the telephony cleanup context (after the pops' and the call-to-CRM's)."""

    async def telephony_context(app: web.Application) -> AsyncIterator[None]:
        simulators, pbxs = await _start_simulators(settings)
        models = {p.name: p.call_model(settings.phone.extension_pattern) for p in pbxs}
        tracker = CallTracker(per_pbx=models)
        pops = app[POP_SERVICE]
        pops.expect_crm_outcomes()
        outcome_sinks: list[OutcomeSink] = [pops]
        if WEBHOOK_EVENTS in app:
            outcome_sinks.append(app[WEBHOOK_EVENTS])
        lanes = crm_lanes(settings)
        flow = CallFlow(
            tracker,
            fast_sinks=[pops],
            crm=app[CALL_TO_CRM],
            outcome_sinks=outcome_sinks,
            lanes=lanes,
        )
        telephony = Telephony(
            tracker,
            flow,
            simulator=simulators[0] if simulators else None,
            simulators=simulators,
            keeper=_lease_keeper(settings),
            models=models,
            crm=app[CALL_TO_CRM],
        )
        if telephony.keeper is not None and settings.lease.witness:
            telephony.witness_window_s = settings.lease.witness_window_s
        fence = app[CONSUMER_FENCE]
        for pbx in pbxs:
            link = PbxLink(pbx, originator=AmiClient(pbx, events=False))
            await link.originator.start()
            if telephony.keeper is not None:
                fence.lease_required(pbx.name)
            consumer = _consume(link, telephony, fence, pops)
            link.task = asyncio.create_task(consumer, name=f"consume-{pbx.name}")
            telephony.links.append(link)
        if telephony.keeper is not None:
            telephony.spread = LeaseSpread(telephony.keeper, len(pbxs), telephony.consumed)
            telephony.spread_task = asyncio.create_task(telephony.spread.run(), name="lease-spread")
        if telephony.links:
            # Click-to-call rings from the PBX of the identity it dials from; the first by default.
            app[ORIGINATOR] = telephony.links[0].originator
            originators: dict[str, Originator] = {
                link.settings.name: link.originator for link in telephony.links
            }
            app[ORIGINATORS] = originators
        app[TELEPHONY] = telephony
        yield
        await _stop(telephony, fence)

    app.cleanup_ctx.append(telephony_context)


async def _start_simulators(
    settings: Settings,
) -> tuple[list[PbxSimulator], Sequence[PbxSettings]]:
    """The built-in simulated PBXs: one, or one per office of ``[simulator] offices``."""
    if settings.pbx or not settings.simulator.enabled:
        return [], settings.pbx
    sim_settings = settings.simulator
    simulators: list[PbxSimulator] = []
    for index, office in enumerate(sim_settings.offices or (None,)):
        port = sim_settings.port + index if sim_settings.port else 0
        simulator = PbxSimulator(host=sim_settings.host, port=port, system_name=office)
        simulator.known_callers = sim_settings.known_callers
        await simulator.start()
        if sim_settings.calls_per_minute > 0:
            simulator.start_traffic(sim_settings.calls_per_minute)
        log.info(
            "pbx simulator started",
            pbx=office or "sim",
            port=simulator.port,
            calls_per_minute=sim_settings.calls_per_minute,
        )
        simulators.append(simulator)
    return simulators, tuple(s.client_settings() for s in simulators)


def crm_lanes(settings: Settings) -> OrderedLanes:
    """The per-call lanes of the CRM work: ``crm_concurrency`` calls at once, room for a
    ``CRM_BACKLOG`` of events before the consumer waits."""
    return OrderedLanes(name="crm", max_running=crm_concurrency(settings), max_pending=CRM_BACKLOG)


def crm_concurrency(settings: Settings) -> int:
    """How many calls' CRM work runs at once: the pool's connections (PostgreSQL), or one, as
    SQLite takes one writer at a time and more would only wait on its lock and retry."""
    if settings.database.url.startswith("sqlite"):
        return 1
    return settings.database.pool_size


def _lease_keeper(settings: Settings) -> LeaseKeeper | None:
    """With PostgreSQL, the leases on an engine of their own: busy CRM work never delays them."""
    if not settings.database.url.startswith("postgresql"):
        return None
    lease = settings.lease
    timings = LeaseTimings(lease.deadline_s, lease.renew_interval_s, lease.safety_margin_s)
    return LeaseKeeper(create_engine(settings.database.url, pool_size=1), timings)


async def _consume(
    link: PbxLink, telephony: Telephony, fence: ConsumerFence, pops: PopService
) -> None:
    """Consume one PBX: always (SQLite), or while this instance holds its lease, standby else."""
    keeper = telephony.keeper
    if keeper is None:
        await _consume_while(link, telephony.flow, None, None)
        return
    name = link.settings.name
    while True:
        witness = await _stand_by(link, telephony)
        try:
            lease = await keeper.acquire(name)
        except BaseException:
            if witness is not None:
                await witness.stop()
            raise
        fence.hold(lease)
        link.lease = lease
        try:
            await _consume_while(link, telephony.flow, lease, keeper, witness, telephony.crm)
        except BaseException:
            # Shutting down (cancelled): _stop lets the lanes finish under the lease, then lets go.
            if not _cancelling():
                await _let_go(link, fence, keeper)
            raise
        if not lease.lost.is_set():
            await _let_go(link, fence, keeper)  # the link ended on its own
            return
        fence.drop(lease)
        link.lease = None
        if lease.shed:
            await keeper.release(lease)  # given to another instance: it need not wait a deadline
        # Lost: the new consumer resyncs the PBX's calls and sends their cards from now on.
        telephony.tracker.forget(name)
        pops.forget_pbx(name)
        log.warning("ami consumer back to standby", pbx=name, epoch=lease.epoch)


async def _stand_by(link: PbxLink, telephony: Telephony) -> CallWitness | None:
    """Start watching the PBX this instance waits to consume (when witnesses are on)."""
    if telephony.witness_window_s is None:
        return None
    name = link.settings.name
    witness = CallWitness(
        link.settings,
        telephony.models.get(name, CallModelConfig()),
        window_s=telephony.witness_window_s,
    )
    await witness.start()
    return witness


async def _take_over(
    link: PbxLink, flow: CallFlow, witness: CallWitness, crm: CallToCrm | None
) -> list[CallEvent]:
    """Once our consumer link is up (or did not come up in time), let the CRM apply the calls
    the witness saw, before any of what the consumer reads: each call's effects stay in order.

    Only the calls that may still be up are queued here; the events of the calls that ended while
    witnessed are returned, to be replayed beside the live calls a few at a time: no live event
    will follow theirs, and a takeover's seconds of calls must not hold up the calls ringing now.
    """
    consumer = link.consumer
    settings = link.settings
    if consumer is not None:
        # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancel that comes
        # as the link connects (a lease given away at once), and this task then consumed on,
        # without the lease, while its teardown waited for it.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(settings.connect_timeout_s + settings.action_timeout_s):
                await consumer.wait_connected()
    seen = witness.recent()
    await witness.stop()
    events = seen
    if crm is not None:
        try:
            events = await crm.unsettled(seen)  # most were applied by the previous consumer
        except (SQLAlchemyError, OSError) as err:  # the database is away: all, retried as usual
            log.warning("witnessed calls not checked", pbx=settings.name, error=type(err).__name__)
    ended = {event.linkedid for event in seen if isinstance(event, CallEnded)}
    log.info(
        "witnessed calls handed to the crm",
        pbx=settings.name,
        calls=len({event.linkedid for event in events}),
        ended=len(ended),
        events=len(events),
        seen=len(seen),
    )
    await flow.replay_to_crm([event for event in events if event.linkedid not in ended])
    return [event for event in events if event.linkedid in ended]


async def _room(link: PbxLink, flow: CallFlow) -> None:
    """Return when the live calls leave room (few AMI events and no CRM jobs beyond the replay's
    waiting), or after ``REPLAY_MAX_WAIT_S``: the replay goes on even under a load that never does.
    """
    for _ in range(int(REPLAY_MAX_WAIT_S / 0.005)):
        consumer = link.consumer
        queued = consumer.state.queued if consumer is not None else 0
        if queued <= REPLAY_QUIET_QUEUE and flow.lanes.pending == 0:
            return
        await asyncio.sleep(0.005)


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def _let_go(link: PbxLink, fence: ConsumerFence, keeper: LeaseKeeper) -> None:
    """Stop acting for the PBX and hand its lease to a standby now."""
    lease, link.lease = link.lease, None
    if lease is not None:
        fence.drop(lease)
        await keeper.release(lease)


async def _consume_while(
    link: PbxLink,
    flow: CallFlow,
    lease: ConsumerLease | None,
    keeper: LeaseKeeper | None,
    witness: CallWitness | None = None,
    crm: CallToCrm | None = None,
) -> None:
    """Feed the PBX's items to the call flow until the lease is lost (or the task is cancelled);
    first, on a takeover, the calls ``witness`` saw while standing by go to the CRM."""
    link.consumer = AmiClient(link.settings)
    link.consuming = True
    await link.consumer.start()
    items = link.consumer.items()

    catching_up: list[asyncio.Task[None]] = []

    async def consume() -> None:
        if witness is not None:
            ended = await _take_over(link, flow, witness, crm)
            if ended:
                replay = flow.replay_to_crm(
                    ended, at_once=REPLAY_AT_ONCE, pace=functools.partial(_room, link, flow)
                )
                catching_up.append(asyncio.create_task(replay, name="witnessed-calls"))
        await flow.consume(_fenced(items, lease) if lease else items)

    tasks = [asyncio.create_task(consume())]
    if lease is not None and keeper is not None:
        tasks.append(asyncio.create_task(keeper.keep(lease)))
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()  # a failure of the consumer itself must not pass silently
    finally:
        for task in tasks + catching_up:
            task.cancel()
        await asyncio.gather(*tasks, *catching_up, return_exceptions=True)
        link.consuming = False
        await link.consumer.stop()
        if witness is not None:
            await witness.stop()  # a takeover cut short: stop is idempotent


async def _fenced(items: AsyncIterator[LinkItem], lease: ConsumerLease) -> AsyncIterator[LinkItem]:
    """The PBX's items while the lease holds: past its local deadline, renewed before the next."""
    async for item in items:
        if not lease.valid() and not await lease.confirm():
            return  # lost while we were away (frozen, cut off): not one more event
        yield item


async def _stop(telephony: Telephony, fence: ConsumerFence) -> None:
    for link in telephony.links:
        if link.task is not None:
            link.task.cancel()
            # Bounded: a stop must not wait on a link that does not answer its logoff.
            done, _ = await asyncio.wait({link.task}, timeout=STOP_TIMEOUT_S)
            if not done:
                log.error("pbx consumer did not stop in time", pbx=link.settings.name)
            elif not link.task.cancelled() and link.task.exception() is not None:
                log.error(
                    "pbx consumer failed", pbx=link.settings.name, error=repr(link.task.exception())
                )
        await link.originator.stop()
    # The lanes finish the calls' CRM work under the leases, which are released after it.
    await telephony.flow.lanes.drain(timeout_s=5.0)
    if telephony.spread_task is not None:
        telephony.spread_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await telephony.spread_task
    if telephony.spread is not None:
        await telephony.spread.leave()
    if telephony.keeper is not None:
        for link in telephony.links:
            await _let_go(link, fence, telephony.keeper)
        await telephony.keeper.engine.dispose()
    for simulator in telephony.simulators:
        await simulator.stop()
