"""Every real capture, served by the PBX simulator over TCP and read by the real AMI client, ends
in the call model exactly as its sidecar says (the issue's "done when")."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from cti.ami import AmiClient
from cti.calls import CallEnded, CallSnapshot, CallTracker
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
