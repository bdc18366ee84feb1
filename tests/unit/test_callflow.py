"""The call flow tells the pop hub first and the CRM in per-call order, and survives failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from cti.callflow import CallFlow
from cti.calls.events import CallEvent, CallSnapshot, CallStarted
from cti.protocol import AmiMessage, LinkItem, PbxEvent
from cti.settings import Settings
from cti.telephony import CRM_BACKLOG, crm_lanes


def _event(linkedid: str) -> CallStarted:
    call = CallSnapshot(pbx="pbx", linkedid=linkedid, direction="inbound", state="dialing")
    return CallStarted(pbx="pbx", at=1.0, call=call)


class ScriptedTracker:
    """Answers each item with the events scripted for its Linkedid header."""

    def feed(self, item: LinkItem) -> Sequence[CallEvent]:
        assert isinstance(item, PbxEvent)
        linkedid = item.message.get("Linkedid") or ""
        if linkedid == "boom":
            raise ValueError("unexpected event shape")
        return [_event(linkedid)]


def _item(linkedid: str) -> PbxEvent:
    return PbxEvent("pbx", AmiMessage.of({"Event": "Newchannel", "Linkedid": linkedid}), 1.0)


class Recorder:
    def __init__(self, log: list[str], name: str, gate: asyncio.Event | None = None) -> None:
        self.log, self.name, self.gate = log, name, gate

    async def on_call_event(self, event: CallEvent) -> None:
        self.log.append(f"{self.name}:{event.linkedid}")

    async def handle(self, event: CallEvent) -> object | None:
        if self.gate is not None and event.linkedid == "slow":
            await self.gate.wait()
        self.log.append(f"{self.name}:{event.linkedid}")
        return {"deal": event.linkedid}

    async def on_crm_outcome(self, event: CallEvent, outcome: object | None) -> None:
        self.log.append(f"after:{event.linkedid}:{outcome}")


async def _items(*linkedids: str) -> AsyncIterator[LinkItem]:
    for linkedid in linkedids:
        yield _item(linkedid)


async def test_pops_hear_of_a_call_before_a_slow_crm_finishes() -> None:
    log: list[str] = []
    gate = asyncio.Event()
    crm = Recorder(log, "crm", gate)
    flow = CallFlow(
        ScriptedTracker(),
        fast_sinks=[Recorder(log, "pops")],
        crm=crm,
        outcome_sinks=[crm],
    )
    await flow.consume(_items("slow", "quick"))
    await asyncio.sleep(0.01)
    assert log[:2] == ["pops:slow", "pops:quick"]
    assert "crm:quick" in log
    assert "crm:slow" not in log
    gate.set()
    await flow.lanes.join()
    assert log[-2:] == ["crm:slow", "after:slow:{'deal': 'slow'}"]


async def test_a_tracker_failure_skips_that_item_only() -> None:
    log: list[str] = []
    flow = CallFlow(ScriptedTracker(), fast_sinks=[Recorder(log, "pops")])
    await flow.consume(_items("a", "boom", "b"))
    assert log == ["pops:a", "pops:b"]
    assert flow.items_seen == 3
    assert flow.events_emitted == 2


async def test_a_replay_reaches_the_crm_alone_and_ahead_of_the_calls_later_events() -> None:
    log: list[str] = []
    recorder = Recorder(log, "crm")
    flow = CallFlow(
        ScriptedTracker(),
        fast_sinks=[Recorder(log, "pops")],
        crm=recorder,
        outcome_sinks=[recorder],
    )
    await flow.replay_to_crm([_event("gap"), _event("up")])
    await flow.consume(_items("up"))
    await flow.lanes.join()
    assert "crm:gap" in log
    assert not any(line.endswith(":gap") and not line.startswith("crm:") for line in log), log
    assert log.index("crm:up") < log.index("after:up:{'deal': 'up'}")
    assert [line for line in log if line == "crm:up"] == ["crm:up", "crm:up"]


async def test_a_replay_a_few_at_a_time_leaves_room_for_the_live_calls() -> None:
    log: list[str] = []
    gate = asyncio.Event()
    recorder = Recorder(log, "crm", gate)
    flow = CallFlow(ScriptedTracker(), fast_sinks=[Recorder(log, "pops")], crm=recorder)
    ended = [_event("slow"), _event("ended-1"), _event("ended-2")]
    replay = asyncio.create_task(flow.replay_to_crm(ended, at_once=1))
    await flow.consume(_items("live"))
    await asyncio.sleep(0.01)
    # The first replayed call's CRM work is stuck: the rest of the replay waits, the live goes on.
    assert log == ["pops:live", "crm:live"]
    assert not replay.done()
    gate.set()
    await replay
    await flow.lanes.join()
    assert log[2:] == ["crm:slow", "crm:ended-1", "crm:ended-2"]


async def test_a_crm_far_behind_holds_up_neither_the_pops_nor_the_reader() -> None:
    # The app's lanes: a CRM stuck for as many events as a minute of a 100-call/s peak brings
    # (ten events a call, more than the 10,000 the lanes once held) leaves the pops current.
    settings = Settings.model_validate({"database": {"url": "postgresql+asyncpg://h/db"}})
    log: list[str] = []
    stuck = asyncio.Event()

    class StuckCrm:
        async def handle(self, event: CallEvent) -> object | None:
            await stuck.wait()
            return None

    pops = Recorder(log, "pops")
    flow = CallFlow(ScriptedTracker(), fast_sinks=[pops], crm=StuckCrm(), lanes=crm_lanes(settings))
    events = [str(n % 100) for n in range(15_000)]  # 150 events of each of 100 calls
    assert len(events) < CRM_BACKLOG
    await asyncio.wait_for(flow.consume(_items(*events)), timeout=60)  # a hang guard, not a clock
    assert len(log) == len(events)  # every event reached the pops while the CRM did nothing
    assert flow.lanes.pending == len(events) - 100  # each call's first event is waiting in it
    stuck.set()
    await asyncio.wait_for(flow.lanes.join(), timeout=60)
    assert flow.lanes.pending == 0
