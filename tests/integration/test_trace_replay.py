"""Every real capture, served by the PBX simulator over TCP and read by the real AMI client, ends
in the call model exactly as its sidecar says (the issue's "done when")."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cti.ami import AmiClient
from cti.calls import (
    AgentRinging,
    AgentStoppedRinging,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallSnapshot,
    CallStarted,
    CallTracker,
)
from cti.protocol import LinkUp
from cti.sim import PbxSimulator
from tests.unit.test_calls_traces import (
    CAPTURE_IDS,
    CAPTURES,
    CONFIG,
    assert_matches_sidecar,
    load,
    recordings,
    replay,
)

FAST = {
    "ping_interval_s": 0.5,
    "ping_timeout_s": 2.0,
    "reconnect_min_s": 0.02,
    "reconnect_max_s": 0.1,
    "action_timeout_s": 5.0,
}


async def replay_over_tcp(
    path: Path, expected: set[str], *, replay_at_login: bool = False
) -> tuple[dict[str, CallSnapshot], CallTracker]:
    """Serve the capture from the simulator, read it with AmiClient, feed a tracker."""
    tracker = CallTracker(CONFIG)
    ended: dict[str, CallSnapshot] = {}
    async with PbxSimulator() as sim:
        serving = sim.replay(path, speed=None, timestamps=True) if replay_at_login else None
        async with AmiClient(sim.client_settings(**FAST)) as client:
            async with asyncio.timeout(30):
                async for item in client.items():
                    for event in tracker.feed(item):
                        if isinstance(event, CallEnded) and event.call.merged_into is None:
                            ended[event.linkedid] = event.call
                    if serving is None and isinstance(item, LinkUp):
                        # Connected and resynced: now the PBX starts living the capture.
                        serving = sim.replay(path, speed=None, timestamps=True)
                    finished = serving is not None and serving.done() and not tracker.live_calls()
                    if finished and expected <= set(ended):
                        break
            assert serving is not None
            await serving  # surfaces a simulator failure, if any
    return ended, tracker


@pytest.mark.parametrize("path", CAPTURES, ids=CAPTURE_IDS)
async def test_capture_over_tcp_ends_as_its_sidecar_says(path: Path) -> None:
    messages, meta = load(path)
    pure = replay(messages).ended  # the same capture fed straight to the model
    ended, tracker = await replay_over_tcp(path, set(pure))
    assert {lid: (c.outcome, c.answered_by) for lid, c in ended.items()} == {
        lid: (c.outcome, c.answered_by) for lid, c in pure.items()
    }
    assert tracker.live_calls() == []
    assert tracker.agent_states() == {}
    # The server-side filter drops VarSet noise but must keep the recording's file name.
    assert {lid: c.recording for lid, c in ended.items() if c.recording} == recordings(messages)
    if meta is not None:
        assert_matches_sidecar(ended, meta, path.stem)


@pytest.mark.parametrize(
    "name", ["resync_snapshot", "concurrent_burst", "blind_transfer", "inbound_recorded"]
)
async def test_replay_racing_the_login_resync_still_matches(name: str) -> None:
    """Events start flowing while the client is still resyncing: nothing lost or doubled."""
    path = next((p for p in CAPTURES if p.stem == name), None)
    if path is None:
        pytest.skip(f"capture {name} not present")
    _, meta = load(path)
    assert meta is not None
    expected = {c["linkedid"] for c in meta["observed_calls"]}
    ended, _ = await replay_over_tcp(path, expected, replay_at_login=True)
    assert_matches_sidecar(ended, meta, path.stem)


# -- faults at the call level: the link breaks mid-call, the call model must stay true --------


def fixture_capture(name: str) -> Path:
    path = next((p for p in CAPTURES if p.stem == name), None)
    if path is None:
        pytest.skip(f"capture {name} not present")
    return path


async def run_with_fault(
    path: Path, *, speed: float, trigger: type, fault: str
) -> tuple[list[CallEvent], CallTracker, int]:
    """Replay ``path`` at ``speed``; when the tracker first emits ``trigger``, break the link
    (``drop``: cut the TCP connection; ``restart``: Shutdown, away 1 s, back); collect events
    until the replay is over and no call is live. Returns the events and the LinkUp count."""
    tracker = CallTracker(CONFIG)
    events: list[CallEvent] = []
    ups = 0
    async with PbxSimulator() as sim, AmiClient(sim.client_settings(**FAST)) as client:
        serving: asyncio.Task[None] | None = None
        restarting: asyncio.Task[None] | None = None
        broken = False
        async with asyncio.timeout(30):
            async for item in client.items():
                emitted = tracker.feed(item)
                events += emitted
                if isinstance(item, LinkUp):
                    ups += 1
                    if serving is None:
                        serving = sim.replay(path, speed=speed, timestamps=True)
                if not broken and any(isinstance(e, trigger) for e in emitted):
                    broken = True
                    if fault == "drop":
                        sim.drop_connections()
                    else:
                        restarting = asyncio.create_task(sim.restart(down_s=1.0))
                back = broken and (restarting is None or restarting.done()) and ups >= 2
                if back and serving is not None and serving.done() and not tracker.live_calls():
                    break
        assert serving is not None
        await serving
    return events, tracker, ups


def assert_each_call_once(events: list[CallEvent]) -> dict[str, CallEnded]:
    starts = [e.linkedid for e in events if isinstance(e, CallStarted)]
    ends = [e for e in events if isinstance(e, CallEnded)]
    assert sorted(starts) == sorted({*starts}), "a call started twice"
    assert sorted(e.linkedid for e in ends) == sorted(starts), "a call did not end exactly once"
    ringing: dict[tuple[str, str], int] = {}
    for e in events:
        if isinstance(e, AgentRinging):
            ringing[(e.linkedid, e.extension)] = ringing.get((e.linkedid, e.extension), 0) + 1
        elif isinstance(e, AgentStoppedRinging | CallAnswered) and e.extension is not None:
            ringing.pop((e.linkedid, e.extension), None)
    assert ringing == {}, f"cards left ringing: {ringing}"
    return {e.linkedid: e for e in ends}


async def test_connection_dropped_mid_call_loses_and_doubles_nothing() -> None:
    path = fixture_capture("resync_snapshot")
    events, tracker, ups = await run_with_fault(path, speed=4.0, trigger=CallAnswered, fault="drop")
    assert ups >= 2  # the client came back and resynced
    (ended,) = assert_each_call_once(events).values()
    assert (ended.outcome, ended.call.answered_by, ended.call.queue) == ("answered", "102", "sales")
    assert [e.kind for e in events].count("call-answered") == 1
    assert ended.call.hangup_cause == 16  # still up at the resync, so it ended by its own Hangup
    assert tracker.live_calls() == []


async def test_pbx_restart_while_ringing_closes_the_call_once() -> None:
    path = fixture_capture("inbound_missed")
    events, tracker, _ = await run_with_fault(
        path, speed=20.0, trigger=AgentRinging, fault="restart"
    )
    (ended,) = assert_each_call_once(events).values()
    assert ended.outcome != "answered"
    assert ended.call.caller == "+79162223344"
    assert ended.call.hangup_cause is None  # it ended while the PBX was away: closed by the resync
    assert tracker.live_calls() == []
    assert tracker.agent_states() == {}
