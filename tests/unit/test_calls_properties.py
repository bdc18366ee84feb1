"""Property-based tests: shuffled, truncated, thinned and duplicated real streams never break the
model, never leak a call, never emit anything twice and never walk an outcome back."""

from __future__ import annotations

import random
from collections import defaultdict

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cti.calls import CallEnded, CallEvent, CallStarted, CallTracker
from cti.calls.capture import TimedMessage
from cti.calls.handlers import HANDLERS
from cti.protocol import AmiMessage, LinkDown, LinkUp, PbxEvent
from tests.unit.test_calls_traces import CAPTURE_IDS, CAPTURES, CONFIG, PBX, load

_STATE_ORDER = {"dialing": 0, "ringing": 1, "answered": 2, "ended": 3}
_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def relevant(index: int) -> list[TimedMessage]:
    """The messages of a capture the model reads (the rest are no-ops: VarSet noise, Cdr...)."""
    messages, _ = load(CAPTURES[index])
    keep = []
    for m in messages:
        event = m.message.event
        if event in HANDLERS and (
            event != "VarSet" or "MIXMONITOR" in (m.message.get("Variable") or "")
        ):
            keep.append(m)
    return keep


def feed(tracker: CallTracker, messages: list[TimedMessage]) -> list[CallEvent]:
    events: list[CallEvent] = []
    for m in messages:
        events.extend(tracker.feed(PbxEvent(PBX, m.message, m.at)))
        assert_no_call_without_channel(tracker)
    return events


def assert_no_call_without_channel(tracker: CallTracker) -> None:
    """Every live call holds at least one live channel, and the channel index agrees."""
    for model in tracker._pbxs.values():
        for call_id, call in model.calls.items():
            assert call.channels, f"call {call_id} has no channel left"
            for uid in call.channels:
                assert model.channel_call[uid] == call_id
        assert set(model.channel_call.values()) <= set(model.calls)


def check_stream(events: list[CallEvent]) -> None:
    """One start and at most one end per call, nothing after the end, states only move on."""
    started: dict[str, int] = defaultdict(int)
    ended: set[str] = set()
    last_state: dict[str, int] = {}
    for event in events:
        lid = event.linkedid
        assert lid not in ended, f"{event.kind} after {lid} ended"
        if isinstance(event, CallStarted):
            started[lid] += 1
            assert started[lid] == 1, f"{lid} started twice"
        else:
            assert started[lid] == 1, f"{event.kind} for {lid} before it started"
        rank = _STATE_ORDER[event.call.state]
        assert rank >= last_state.get(lid, 0), f"{lid} went back to {event.call.state}"
        last_state[lid] = rank
        if isinstance(event, CallEnded):
            ended.add(lid)
            assert event.call.outcome == event.outcome
            if event.call.answered_at is not None:
                assert event.outcome == "answered"


def close_out(tracker: CallTracker, events: list[CallEvent]) -> None:
    """A reconnect that finds the PBX idle must end every remaining call, exactly once."""
    live = {c.linkedid for c in tracker.live_calls()}
    closing = tracker.feed(LinkUp(PBX, (), 1e9))
    events.extend(closing)
    assert {e.linkedid for e in closing if isinstance(e, CallEnded)} == live
    assert tracker.live_calls() == []
    assert tracker.agent_states() == {}
    check_stream(events)


capture_index = st.sampled_from(range(len(CAPTURES)))


@pytest.mark.parametrize("index", range(len(CAPTURES)), ids=CAPTURE_IDS)
def test_each_message_twice_is_the_same_as_once(index: int) -> None:
    messages = relevant(index)
    once = feed(CallTracker(CONFIG), messages)
    twice = feed(CallTracker(CONFIG), [m for m in messages for _ in (0, 1)])
    assert [e.to_dict() for e in twice] == [e.to_dict() for e in once]


@_SETTINGS
@given(index=capture_index, seed=st.randoms(use_true_random=False))
def test_shuffled_streams_never_break_or_leak(index: int, seed: random.Random) -> None:
    messages = relevant(index)
    seed.shuffle(messages)
    tracker = CallTracker(CONFIG)
    events = feed(tracker, messages)
    close_out(tracker, events)


@_SETTINGS
@given(index=capture_index, data=st.data())
def test_truncated_streams_close_out_on_resync(index: int, data: st.DataObject) -> None:
    messages = relevant(index)
    cut = data.draw(st.integers(min_value=0, max_value=len(messages)), label="cut")
    tracker = CallTracker(CONFIG)
    events = feed(tracker, messages[:cut])
    tracker.feed(LinkDown(PBX, "gone", 1e9 - 1))
    close_out(tracker, events)


@_SETTINGS
@given(index=capture_index, data=st.data())
def test_streams_with_gaps_and_repeats_stay_consistent(index: int, data: st.DataObject) -> None:
    """Drop some events (a lossy reconnect), repeat others (a replay), keep the order."""
    messages = relevant(index)
    start = data.draw(st.integers(min_value=0, max_value=len(messages)), label="start")
    rng = data.draw(st.randoms(use_true_random=False), label="rng")
    thinned: list[TimedMessage] = []
    for m in messages[start:]:
        roll = rng.random()
        if roll < 0.15:
            continue
        thinned.append(m)
        if roll > 0.9:
            thinned.append(m)
    tracker = CallTracker(CONFIG)
    events = feed(tracker, thinned)
    close_out(tracker, events)


@_SETTINGS
@given(index=capture_index, data=st.data())
def test_a_resync_mid_stream_never_duplicates(index: int, data: st.DataObject) -> None:
    """A reconnect mid-call whose snapshot is what the model already knows changes nothing."""
    messages = relevant(index)
    cut = data.draw(st.integers(min_value=0, max_value=len(messages)), label="cut")
    whole = CallTracker(CONFIG)
    expected = feed(whole, messages)
    tracker = CallTracker(CONFIG)
    events = feed(tracker, messages[:cut])
    tracker.feed(LinkDown(PBX, "gone", messages[cut - 1].at if cut else 0.0))
    snapshot = tuple(_channel_snapshot(tracker))
    assert tracker.feed(LinkUp(PBX, snapshot, messages[cut - 1].at if cut else 0.0)) == []
    events += feed(tracker, messages[cut:])
    assert [e.to_dict() for e in events] == [e.to_dict() for e in expected]


def _channel_snapshot(tracker: CallTracker) -> list[AmiMessage]:
    """What CoreShowChannels would answer for the model's own live channels."""
    out = []
    for model in tracker._pbxs.values():
        for call in model.calls.values():
            for channel in call.channels.values():
                state = "Up" if channel.up else ("Ringing" if channel.leg else "Ring")
                if channel.leg and call.legs[channel.leg].state == "answered":
                    state = "Up"
                out.append(
                    AmiMessage.of(
                        {
                            "Event": "CoreShowChannel",
                            "Channel": channel.name,
                            "Uniqueid": channel.uniqueid,
                            "Linkedid": channel.linkedid,
                            "ChannelStateDesc": state,
                        }
                    )
                )
    return out


@_SETTINGS
@given(index=capture_index, data=st.data())
def test_a_partial_resync_mid_stream_stays_consistent(index: int, data: st.DataObject) -> None:
    """A reconnect whose snapshot lacks some channels (they hung up while away) closes what is
    gone, keeps the rest, and the stream that follows never duplicates anything."""
    messages = relevant(index)
    cut = data.draw(st.integers(min_value=0, max_value=len(messages)), label="cut")
    tracker = CallTracker(CONFIG)
    events = feed(tracker, messages[:cut])
    at = messages[cut - 1].at if cut else 0.0
    tracker.feed(LinkDown(PBX, "gone", at))
    full = _channel_snapshot(tracker)
    keep = data.draw(st.lists(st.booleans(), min_size=len(full), max_size=len(full)), label="keep")
    snapshot = tuple(m for m, kept in zip(full, keep, strict=True) if kept)
    events += tracker.feed(LinkUp(PBX, snapshot, at))
    assert_no_call_without_channel(tracker)
    assert all(not c.stale for c in tracker.live_calls())
    events += feed(tracker, messages[cut:])
    close_out(tracker, events)
