"""Every real AMI capture replays to what its sidecar says happened (pure: no event loop).

Captures come from tests/fixtures/ami and, when present, ../shared/ami-traces (new files there are
picked up automatically). Expectations are derived from each sidecar's ``observed_calls``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from cti.calls import (
    AgentRinging,
    AgentStoppedRinging,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallModelConfig,
    CallSnapshot,
    CallStarted,
    CallTracker,
)
from cti.calls.capture import TimedMessage, timed_messages
from cti.protocol import LinkUp, PbxEvent

FIXTURES = Path(__file__).parents[1] / "fixtures" / "ami"
SHARED = Path(__file__).parents[2].parent / "shared" / "ami-traces"
CONFIG = CallModelConfig()  # the captures' PBX: trunk endpoint "trunk", from-trunk/from-internal
PBX = "pbx"
# Durations come from the .timed.jsonl clock (ms resolution); allow a few ms of event spread.
DURATION_TOLERANCE_S = 0.05


def capture_files() -> list[Path]:
    """Every capture in the fixtures and in ../shared/ami-traces (byte-identical copies once)."""
    found: dict[bytes, Path] = {}
    for folder in (FIXTURES, SHARED):
        if folder.is_dir():
            for path in sorted(folder.glob("*.ami")):
                found.setdefault(path.read_bytes(), path)
    return list(found.values())


CAPTURES = capture_files()
CAPTURE_IDS = [f"{p.parent.name}/{p.stem}" for p in CAPTURES]


@cache
def load(path: Path) -> tuple[list[TimedMessage], dict[str, Any] | None]:
    """The capture's timed messages and its sidecar (None when it has none)."""
    timed = path.with_suffix(".timed.jsonl")
    messages, _ = timed_messages(
        path.read_bytes(), timed.read_text(encoding="utf-8") if timed.exists() else None
    )
    sidecar = path.with_suffix(".json")
    meta = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.exists() else None
    return messages, meta


@dataclass
class Replay:
    """What the model made of a capture."""

    events: list[CallEvent] = field(default_factory=list)
    ended: dict[str, CallSnapshot] = field(default_factory=dict)
    max_live: int = 0
    tracker: CallTracker = field(default_factory=lambda: CallTracker(CONFIG))


def replay(messages: list[TimedMessage]) -> Replay:
    """Feed every message, as the AMI adapter would, and collect the events."""
    result = Replay()
    for timed in messages:
        emitted = result.tracker.feed(PbxEvent(PBX, timed.message, timed.at))
        result.events.extend(emitted)
        if any(isinstance(e, CallStarted) for e in emitted):
            result.max_live = max(result.max_live, len(result.tracker.live_calls()))
        for event in emitted:
            if isinstance(event, CallEnded) and event.call.merged_into is None:
                result.ended[event.linkedid] = event.call
    return result


def extension(interface: str) -> str:
    return interface.split("/", 1)[1]


def is_trunk(interface: str) -> bool:
    return extension(interface) in CONFIG.trunk_endpoints


def expected_direction(observed: dict[str, Any]) -> str:
    if is_trunk(observed["first_channel"].rsplit("-", 1)[0]):
        return "inbound"
    dialled = observed.get("dialled") or "s"
    if any(is_trunk(i) for i in observed["answered_by"]):
        return "outbound"
    if dialled != "s" and not CONFIG.is_extension(dialled):
        return "outbound"
    return "internal"


def expected_outcomes(observed: dict[str, Any]) -> set[str]:
    if observed["answered_by"]:
        return {"answered"}
    if observed.get("abandoned"):
        return {"abandoned"}
    if str(observed.get("hangup_cause") or "").startswith("17 "):
        return {"busy"}
    return {"missed", "no-answer", "failed"}


@pytest.fixture(params=CAPTURES, ids=CAPTURE_IDS)
def capture(request: pytest.FixtureRequest) -> tuple[Path, Replay, dict[str, Any] | None]:
    path: Path = request.param
    messages, meta = load(path)
    return path, replay(messages), meta


def test_capture_has_calls_and_every_call_ends(
    capture: tuple[Path, Replay, dict[str, Any] | None],
) -> None:
    _, result, meta = capture
    assert result.tracker.live_calls() == []
    assert result.tracker.agent_states() == {}
    if meta is not None:
        assert set(result.ended) == {c["linkedid"] for c in meta["observed_calls"]}


def recordings(messages: list[TimedMessage]) -> dict[str, str]:
    """Linkedid -> recording file, as the capture's dial plan announced it."""
    found: dict[str, str] = {}
    for timed in messages:
        message = timed.message
        if message.event == "VarSet" and message.get("Variable") == "MIXMONITOR_FILENAME":
            found.setdefault(message.get("Linkedid") or "", message.get("Value") or "")
    return found


def assert_matches_sidecar(ended: dict[str, CallSnapshot], meta: dict[str, Any], name: str) -> None:
    """Every call the sidecar observed ended as it says (shared with the over-TCP replay)."""
    assert set(ended) == {c["linkedid"] for c in meta["observed_calls"]}, name
    for observed in meta["observed_calls"]:
        assert_call_matches(ended[observed["linkedid"]], observed, f"{name} {observed['linkedid']}")


def assert_call_matches(call: CallSnapshot, observed: dict[str, Any], where: str) -> None:
    """One call against the sidecar's ``observed_calls`` entry for its Linkedid."""
    assert call.direction == expected_direction(observed), where
    assert call.caller == observed["caller"], where
    if observed.get("dialled") not in (None, "s"):
        assert call.called == observed["dialled"], where
    assert call.queue == observed["queue"], where
    agents = [extension(i) for i in observed["answered_by"] if not is_trunk(i)]
    assert list(call.answered_agents) == agents, where
    assert call.answered_by == (agents[-1] if agents else None), where
    assert call.outcome in expected_outcomes(observed), where
    assert (call.outcome == "abandoned") == bool(observed.get("abandoned")), where
    rung = {extension(i) for i in observed["agents_rung"]}
    assert rung <= set(call.agents_rung), where
    if call.queue and not observed["transfers"]:
        assert set(call.agents_rung) == rung, where
    kinds = {"BlindTransfer": "blind", "AttendedTransfer": "attended"}
    transfers = [t for t in observed["transfers"] if t.get("result", "Success") == "Success"]
    assert [t.kind for t in call.transfers] == [kinds[t["type"]] for t in transfers], where
    for mine, theirs in zip(call.transfers, transfers, strict=True):
        if theirs.get("to"):
            assert mine.to_extension == theirs["to"], where
    assert call.duration_s is not None, where
    assert abs(call.duration_s - observed["duration_s"]) <= DURATION_TOLERANCE_S, where
    assert f"{call.hangup_cause} {call.hangup_cause_text}" == observed["hangup_cause"], where


def test_each_call_matches_its_sidecar(
    capture: tuple[Path, Replay, dict[str, Any] | None],
) -> None:
    path, result, meta = capture
    if meta is None:
        pytest.skip(f"{path.name} has no sidecar")
    assert_matches_sidecar(result.ended, meta, path.stem)


def test_recorded_calls_carry_their_file(
    capture: tuple[Path, Replay, dict[str, Any] | None],
) -> None:
    path, result, _ = capture
    expected = recordings(load(path)[0])
    got = {lid: c.recording for lid, c in result.ended.items() if c.recording}
    assert got == expected


def test_event_stream_is_well_formed(
    capture: tuple[Path, Replay, dict[str, Any] | None],
) -> None:
    """One start and one end per call; every ringing card is withdrawn or answered."""
    _, result, _ = capture
    started: dict[str, int] = defaultdict(int)
    ended: dict[str, int] = defaultdict(int)
    ringing: dict[str, set[str]] = defaultdict(set)
    for event in result.events:
        lid = event.linkedid
        assert ended[lid] == 0, f"event after the end of {lid}: {event.kind}"
        if isinstance(event, CallStarted):
            started[lid] += 1
        elif isinstance(event, AgentRinging):
            assert started[lid] == 1
            assert event.extension not in ringing[lid]
            ringing[lid].add(event.extension)
        elif isinstance(event, AgentStoppedRinging):
            ringing[lid].remove(event.extension)
        elif isinstance(event, CallAnswered) and event.extension is not None:
            ringing[lid].discard(event.extension)
        elif isinstance(event, CallEnded):
            assert not ringing[lid], f"{lid} ended with {ringing[lid]} still ringing"
            ended[lid] += 1
    assert set(started) == set(ended)
    assert all(n == 1 for n in started.values())
    assert all(n == 1 for n in ended.values())


def test_snapshots_are_json_ready(capture: tuple[Path, Replay, dict[str, Any] | None]) -> None:
    _, result, _ = capture
    for event in result.events:
        assert json.loads(json.dumps(event.to_dict()))["kind"] == event.kind


def test_replaying_a_capture_twice_adds_nothing(
    capture: tuple[Path, Replay, dict[str, Any] | None],
) -> None:
    path, result, _ = capture
    messages, _ = load(path)
    again = [e for m in messages for e in result.tracker.feed(PbxEvent(PBX, m.message, m.at))]
    assert again == []


def test_a_final_empty_resync_closes_nothing_when_all_ended(
    capture: tuple[Path, Replay, dict[str, Any] | None],
) -> None:
    _, result, _ = capture
    assert result.tracker.feed(LinkUp(PBX, (), 1e9)) == []
