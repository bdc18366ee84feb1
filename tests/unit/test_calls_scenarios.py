"""Hand-written checks on top of the sidecar-driven replays: what the pops and rules rely on."""

from __future__ import annotations

from pathlib import Path

import pytest

from cti.calls import (
    AgentRinging,
    AgentStoppedRinging,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallStarted,
    CallTracker,
    CallTransferred,
)
from cti.calls.capture import TimedMessage
from cti.protocol import AmiMessage, LinkDown, LinkUp, PbxEvent
from tests.unit.test_calls_traces import CONFIG, FIXTURES, PBX, load, replay

_SNAPSHOT_EVENTS = frozenset({"CoreShowChannel", "QueueParams", "QueueMember", "QueueEntry"})


def fixture(name: str) -> list[TimedMessage]:
    path = FIXTURES / f"{name}.ami"
    if not path.exists():
        pytest.skip(f"capture {name} not present")
    return load(Path(path))[0]


def kinds(events: list[CallEvent]) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for e in events:
        ext = getattr(e, "extension", None)
        out.append((e.kind, ext))
    return out


def feed_all(tracker: CallTracker, messages: list[TimedMessage]) -> list[CallEvent]:
    return [e for m in messages for e in tracker.feed(PbxEvent(PBX, m.message, m.at))]


def test_ringall_queue_rings_three_then_withdraws_two() -> None:
    result = replay(fixture("inbound_answered"))
    assert kinds(result.events) == [
        ("call-started", None),
        ("agent-ringing", "101"),
        ("agent-ringing", "102"),
        ("agent-ringing", "103"),
        ("call-answered", "102"),
        ("agent-stopped-ringing", "101"),
        ("agent-stopped-ringing", "103"),
        ("call-ended", None),
    ]
    stops = [e for e in result.events if isinstance(e, AgentStoppedRinging)]
    assert {e.reason for e in stops} == {"answered-elsewhere"}
    ended = result.events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.call.talk_s is not None
    assert 2.9 < ended.call.talk_s < 3.1


def test_agent_states_follow_the_ring_and_the_answer() -> None:
    messages = fixture("inbound_answered")
    tracker = CallTracker(CONFIG)
    seen: list[dict[str, str]] = []
    for m in messages:
        if tracker.feed(PbxEvent(PBX, m.message, m.at)):
            seen.append({ext: s.activity for ext, s in tracker.agent_states().items()})
    assert {"101": "ringing", "102": "ringing", "103": "ringing"} in seen
    assert {"102": "in-call"} in seen
    assert seen[-1] == {}
    assert tracker.agent_state("102").activity == "idle"


def test_linear_queue_card_moves_from_101_to_102() -> None:
    result = replay(fixture("inbound_linear_queue"))
    ring_101 = next(e for e in result.events if isinstance(e, AgentStoppedRinging))
    assert (ring_101.extension, ring_101.reason) == ("101", "no-answer")
    assert kinds(result.events)[1:5] == [
        ("agent-ringing", "101"),
        ("agent-stopped-ringing", "101"),
        ("agent-ringing", "102"),
        ("call-answered", "102"),
    ]


def test_missed_queue_call_is_abandoned_and_every_card_withdrawn() -> None:
    result = replay(fixture("inbound_missed"))
    stops = [e for e in result.events if isinstance(e, AgentStoppedRinging)]
    assert sorted((e.extension, e.reason) for e in stops) == [
        ("101", "caller-gone"),
        ("102", "caller-gone"),
        ("103", "caller-gone"),
    ]
    (call,) = result.ended.values()
    assert call.outcome == "abandoned"
    assert call.answered_at is None


def test_direct_busy_call_is_busy_for_104() -> None:
    result = replay(fixture("inbound_direct_busy"))
    (call,) = result.ended.values()
    assert call.outcome == "busy"
    assert call.agents_rung == ("104",)
    assert call.legs[0].result == "busy"
    assert (call.hangup_cause, call.direction) == (17, "inbound")


def test_direct_call_agent_hangs_up_first() -> None:
    (call,) = replay(fixture("inbound_direct_answered_agent_hangup")).ended.values()
    assert (call.outcome, call.answered_by, call.queue) == ("answered", "104", None)


def test_recorded_call_carries_its_recording() -> None:
    (call,) = replay(fixture("inbound_recorded")).ended.values()
    assert call.recording is not None
    assert call.recording.endswith(f"{call.linkedid}.wav")
    assert call.answered_by == "105"


def test_outbound_call_is_answered_by_the_far_end_for_agent_101() -> None:
    result = replay(fixture("outbound"))
    answered = [e for e in result.events if isinstance(e, CallAnswered)]
    assert [(e.extension, e.by_far_end) for e in answered] == [(None, True)]
    (call,) = result.ended.values()
    assert (call.direction, call.agent, call.called) == ("outbound", "101", "+79161234567")
    assert call.answered_by is None


def test_internal_call_rings_103_only() -> None:
    (call,) = replay(fixture("internal")).ended.values()
    assert (call.direction, call.caller, call.called, call.answered_by) == (
        "internal",
        "101",
        "103",
        "103",
    )


def test_click_to_call_is_outbound_originated_for_101() -> None:
    result = replay(fixture("click_to_call"))
    (call,) = result.ended.values()
    assert call.direction == "outbound"
    assert call.originated
    assert (call.caller, call.agent, call.called) == ("101", "101", "+79165556677")
    # The agent's own phone ringing for an Originate is not a ringing card.
    assert not [e for e in result.events if isinstance(e, AgentRinging)]


def test_blind_transfer_moves_the_call_to_103() -> None:
    result = replay(fixture("blind_transfer"))
    transfers = [e for e in result.events if isinstance(e, CallTransferred)]
    assert [(e.from_extension, e.to_extension, e.transfer_kind) for e in transfers] == [
        ("101", "103", "blind")
    ]
    answered = [e.extension for e in result.events if isinstance(e, CallAnswered)]
    assert answered == ["101", "103"]
    rings = [e.extension for e in result.events if isinstance(e, AgentRinging)]
    assert rings == ["101", "102", "103", "103"]
    (call,) = result.ended.values()
    assert (call.answered_by, call.agent) == ("103", "103")


def test_concurrent_burst_keeps_twenty_calls_apart() -> None:
    result = replay(fixture("concurrent_burst"))
    assert result.max_live == 20
    calls = list(result.ended.values())
    assert len({c.caller for c in calls}) == 20
    outcomes = sorted(c.outcome or "" for c in calls)
    assert outcomes.count("answered") == 4
    assert outcomes.count("abandoned") == 16
    assert {c.answered_by for c in calls if c.answered_by} <= {"101", "103"}


# -- resync after a (re)connect ----------------------------------------------------------------


def split_resync(
    messages: list[TimedMessage],
) -> tuple[list[TimedMessage], tuple[AmiMessage, ...], float, list[TimedMessage]]:
    """Cut the resync capture into: before the resync answers, the snapshot, after it."""
    start = next(i for i, m in enumerate(messages) if m.message.event == "CoreShowChannel")
    end = max(i for i, m in enumerate(messages) if m.message.event == "StatusComplete")
    snapshot = tuple(
        m.message for m in messages[start : end + 1] if m.message.event in _SNAPSHOT_EVENTS
    )
    return messages[: start - 1], snapshot, messages[start].at, messages[end + 1 :]


def test_a_fresh_tracker_rebuilds_the_call_from_the_snapshot() -> None:
    before, snapshot, at, after = split_resync(fixture("resync_snapshot"))
    assert before  # the call was up before the resync
    tracker = CallTracker(CONFIG)
    rebuilt = tracker.feed(LinkUp(PBX, snapshot, at))
    assert kinds(rebuilt) == [
        ("call-started", None),
        ("agent-ringing", "102"),
        ("call-answered", "102"),
    ]
    (live,) = tracker.live_calls()
    assert live.resynced
    assert (live.caller, live.queue, live.answered_by, live.direction) == (
        "+79161112233",
        "sales",
        "102",
        "inbound",
    )
    assert live.started_at is not None
    assert at - live.started_at == pytest.approx(3.0)
    assert tracker.feed(LinkUp(PBX, snapshot, at)) == []  # a second identical resync: nothing
    rest = feed_all(tracker, after)
    assert kinds(rest) == [("call-ended", None)]
    ended = rest[0]
    assert isinstance(ended, CallEnded)
    assert ended.outcome == "answered"
    assert tracker.live_calls() == []


def test_reconnect_with_the_call_still_up_changes_nothing() -> None:
    messages = fixture("resync_snapshot")
    before, snapshot, at, after = split_resync(messages)
    tracker = CallTracker(CONFIG)
    feed_all(tracker, before)
    assert tracker.feed(LinkDown(PBX, "connection lost", at)) == []
    assert tracker.is_stale(PBX)
    assert [c.stale for c in tracker.live_calls()] == [True]
    assert tracker.feed(LinkUp(PBX, snapshot, at)) == []
    assert [c.stale for c in tracker.live_calls()] == [False]
    rest = feed_all(tracker, after)
    plain = replay(messages)
    assert [e.call.to_dict() for e in rest] == [
        e.call.to_dict() for e in plain.events if isinstance(e, CallEnded)
    ]


def test_a_call_gone_during_the_outage_is_closed_once() -> None:
    messages = fixture("resync_snapshot")
    before, _, at, after = split_resync(messages)
    tracker = CallTracker(CONFIG)
    feed_all(tracker, before)
    tracker.feed(LinkDown(PBX, "connection lost", at))
    closed = tracker.feed(LinkUp(PBX, (), at + 5))
    assert kinds(closed) == [("call-ended", None)]
    assert isinstance(closed[0], CallEnded)
    assert closed[0].outcome == "answered"
    assert closed[0].call.ended_at == at + 5
    assert tracker.feed(LinkUp(PBX, (), at + 6)) == []
    assert feed_all(tracker, after) == []  # late events of a closed call resurrect nothing


def test_a_ringing_call_gone_during_the_outage_withdraws_its_cards() -> None:
    messages = fixture("inbound_missed")
    ringing = [m for m in messages if m.at < 2.0]
    tracker = CallTracker(CONFIG)
    feed_all(tracker, ringing)
    assert {s.activity for s in tracker.agent_states().values()} == {"ringing"}
    closed = tracker.feed(LinkUp(PBX, (), 100.0))
    assert [e.kind for e in closed] == ["agent-stopped-ringing"] * 3 + ["call-ended"]
    assert tracker.agent_states() == {}
    assert tracker.live_calls() == []


# -- synthetic streams for shapes the captures don't hold --------------------------------------


def ev(event: str, **headers: str) -> AmiMessage:
    pairs = [("Event", event)] + [(k.replace("_", "-"), v) for k, v in headers.items()]
    return AmiMessage(tuple(pairs))


def chan(prefix: str, name: str, uid: str, lid: str, **extra: str) -> dict[str, str]:
    fields = {"Channel": name, "Uniqueid": uid, "Linkedid": lid, **extra}
    return {prefix + k: v for k, v in fields.items()}


def run(tracker: CallTracker, *messages: AmiMessage) -> list[CallEvent]:
    return [e for i, m in enumerate(messages) for e in tracker.feed(PbxEvent(PBX, m, 10.0 + i))]


def test_local_queue_member_maps_to_its_real_phone() -> None:
    trunk = chan("", "PJSIP/trunk-00000001", "T", "T", CallerIDNum="+79160000001")
    trunk |= {"Context": "from-trunk", "Exten": "+74951234567"}
    l1 = chan("Dest", "Local/101@from-queue-00000001;1", "L1", "T")
    phone = chan("Dest", "PJSIP/101-00000002", "P", "T", CallerIDNum="101")
    tracker = CallTracker(CONFIG)
    events = run(
        tracker,
        ev(
            "QueueMemberStatus",
            Queue="sales",
            Interface="Local/101@from-queue/n",
            StateInterface="PJSIP/101",
        ),
        ev("Newchannel", **trunk),
        ev("QueueCallerJoin", Queue="sales", **trunk),
        ev("Newchannel", **chan("", "Local/101@from-queue-00000001;1", "L1", "T")),
        ev("Newchannel", **chan("", "Local/101@from-queue-00000001;2", "L2", "T")),
        ev("AgentCalled", Queue="sales", Interface="Local/101@from-queue/n", **trunk, **l1),
        ev("DialBegin", **trunk, **l1),
        ev("Newchannel", **chan("", "PJSIP/101-00000002", "P", "T", CallerIDNum="101")),
        ev("DialBegin", **chan("", "Local/101@from-queue-00000001;2", "L2", "T"), **phone),
        ev("Newstate", ChannelStateDesc="Up", **chan("", "PJSIP/101-00000002", "P", "T")),
        ev("DialEnd", DialStatus="ANSWER", **trunk, **l1),
        ev("AgentConnect", Queue="sales", Interface="Local/101@from-queue/n", **trunk, **l1),
        ev("Hangup", Cause="16", **chan("", "Local/101@from-queue-00000001;1", "L1", "T")),
        ev("Hangup", Cause="16", **chan("", "Local/101@from-queue-00000001;2", "L2", "T")),
        ev("Hangup", Cause="16", Cause_txt="Normal Clearing", **trunk),
        ev("Hangup", Cause="16", **chan("", "PJSIP/101-00000002", "P", "T")),
    )
    assert [(e.kind, getattr(e, "interface", None)) for e in events] == [
        ("call-started", None),
        ("agent-ringing", "PJSIP/101"),
        ("call-answered", "PJSIP/101"),
        ("call-ended", None),
    ]
    final = events[-1].call
    assert (final.agents_rung, final.answered_by, final.outcome) == (("101",), "101", "answered")


def _attended_transfer_stream(relink_first: bool) -> list[AmiMessage]:
    trunk = chan("", "PJSIP/trunk-00000001", "A", "A", CallerIDNum="+79160000002")
    trunk |= {"Context": "from-trunk", "Exten": "+74951234568"}
    agent_a = chan("Dest", "PJSIP/101-00000002", "A2", "A", CallerIDNum="101")
    consult = chan("", "PJSIP/101-00000003", "B", "B", CallerIDNum="101")
    consult |= {"Context": "from-internal", "Exten": "103"}
    target = chan("Dest", "PJSIP/103-00000004", "B2", "B", CallerIDNum="103")
    transfer = ev(
        "AttendedTransfer",
        Result="Success",
        DestType="Bridge",
        **chan("OrigTransferer", "PJSIP/101-00000002", "A2", "A"),
        **chan("SecondTransferer", "PJSIP/101-00000003", "B", "B"),
        **chan("Transferee", "PJSIP/trunk-00000001", "A", "A"),
        **chan("TransferTarget", "PJSIP/103-00000004", "B2", "B"),
    )
    relink = ev("BridgeEnter", **chan("", "PJSIP/103-00000004", "B2", "A"))
    return [
        ev("Newchannel", **trunk),
        ev("Newchannel", **chan("", "PJSIP/101-00000002", "A2", "A", CallerIDNum="101")),
        ev("DialBegin", **trunk, **agent_a),
        ev("DialEnd", DialStatus="ANSWER", **trunk, **agent_a),
        ev("Newchannel", **consult),
        ev("Newchannel", **chan("", "PJSIP/103-00000004", "B2", "B", CallerIDNum="103")),
        ev("DialBegin", **consult, **target),
        ev("DialEnd", DialStatus="ANSWER", **consult, **target),
        *([relink, transfer] if relink_first else [transfer, relink]),
        ev("Hangup", Cause="16", **chan("", "PJSIP/101-00000002", "A2", "A")),
        ev("Hangup", Cause="16", **chan("", "PJSIP/101-00000003", "B", "A")),
        ev("Hangup", Cause="16", Cause_txt="Normal Clearing", **trunk),
        ev("Hangup", Cause="16", **chan("", "PJSIP/103-00000004", "B2", "A")),
    ]


@pytest.mark.parametrize("relink_first", [False, True], ids=["event-first", "relink-first"])
def test_attended_transfer_merges_the_consultation_into_the_customer_call(
    relink_first: bool,
) -> None:
    tracker = CallTracker(CONFIG)
    events = run(tracker, *_attended_transfer_stream(relink_first))
    started = [e.linkedid for e in events if isinstance(e, CallStarted)]
    assert started == ["A", "B"]
    ended = [e for e in events if isinstance(e, CallEnded)]
    assert [(e.linkedid, e.call.merged_into) for e in ended] == [("B", "A"), ("A", None)]
    transfers = [e for e in events if isinstance(e, CallTransferred)]
    assert [(e.linkedid, e.from_extension, e.to_extension, e.transfer_kind) for e in transfers] == [
        ("A", "101", "103", "attended")
    ]
    final = ended[-1].call
    assert final.answered_agents == ("101", "103")
    assert (final.answered_by, final.outcome, final.direction) == ("103", "answered", "inbound")
    assert final.merged_linkedids == ("B",)
    assert tracker.live_calls() == []


def test_linkedid_change_to_an_unknown_id_keeps_the_call() -> None:
    tracker = CallTracker(CONFIG)
    trunk = chan("", "PJSIP/trunk-00000001", "X", "X", CallerIDNum="+79160000003")
    events = run(
        tracker,
        ev("Newchannel", Context="from-trunk", **trunk),
        ev("Newstate", ChannelStateDesc="Up", **chan("", "PJSIP/trunk-00000001", "X", "Y")),
    )
    assert [e.kind for e in events] == ["call-started"]
    assert tracker.call("Y") is not None
    assert tracker.call("Y") == tracker.call("X")
    ended = run(tracker, ev("Hangup", Cause="16", **chan("", "PJSIP/trunk-00000001", "X", "Y")))
    assert [e.kind for e in ended] == ["call-ended"]
    assert tracker.live_calls() == []


def test_unknown_events_and_orphan_hangups_change_nothing() -> None:
    tracker = CallTracker(CONFIG)
    events = run(
        tracker,
        ev("SomethingNew", Foo="bar"),
        ev("Hangup", Cause="16", **chan("", "PJSIP/101-000000ff", "Z", "Z")),
        ev("DialEnd", DialStatus="ANSWER", **chan("Dest", "PJSIP/102-1", "Q", "Q")),
        AmiMessage((("Response", "Success"), ("ActionID", "1"))),
        ev("Newstate", ChannelStateDesc="Up", **chan("", "PJSIP/101-000000ff", "Z", "Z")),
    )
    assert events == []
    assert tracker.live_calls() == []


def test_timestamp_header_wins_over_read_time() -> None:
    tracker = CallTracker(CONFIG)
    message = ev("Newchannel", Timestamp="1700000000.250", **chan("", "PJSIP/101-1", "U", "U"))
    (started,) = tracker.feed(PbxEvent(PBX, message, 5.0))
    assert started.at == 1700000000.25
    assert started.call.started_at == 1700000000.25


def test_click_to_call_through_a_local_channel_rings_no_card_for_the_caller() -> None:
    tracker = CallTracker(CONFIG)
    l1 = chan("", "Local/101@from-internal-00000001;1", "O", "O", CallerIDNum="101")
    l2 = chan("", "Local/101@from-internal-00000001;2", "O2", "O")
    phone = chan("Dest", "PJSIP/101-00000002", "P", "O", CallerIDNum="101")
    trunk = chan("Dest", "PJSIP/trunk-00000003", "T", "O")
    events = run(
        tracker,
        ev("Newchannel", Context="from-internal", Exten="s", **l1),
        ev("Newchannel", Context="from-internal", Exten="101", **l2),
        ev("DialBegin", **l2, **phone),
        ev("DialEnd", DialStatus="ANSWER", **l2, **phone),
        ev("OriginateResponse", Response="Success", Uniqueid="O", Exten="+79165556677"),
        ev("DialBegin", Exten="+79165556677", **l1, **trunk),
        ev("DialEnd", DialStatus="ANSWER", **l1, **trunk),
        ev("Hangup", Cause="16", **chan("", "PJSIP/trunk-00000003", "T", "O")),
        ev("Hangup", Cause="16", **chan("", "PJSIP/101-00000002", "P", "O")),
        ev("Hangup", Cause="16", **l2),
        ev("Hangup", Cause="16", Cause_txt="Normal Clearing", **l1),
    )
    assert [e.kind for e in events] == ["call-started", "call-answered", "call-ended"]
    final = events[-1].call
    assert (final.direction, final.caller, final.called, final.agent) == (
        "outbound",
        "101",
        "+79165556677",
        "101",
    )
    assert final.originated
    assert final.agents_rung == ()


def test_two_pbxs_with_the_same_ids_stay_apart() -> None:
    messages = fixture("inbound_answered")
    tracker = CallTracker(CONFIG)
    events: list[CallEvent] = []
    for m in messages:
        events += tracker.feed(PbxEvent("east", m.message, m.at))
        events += tracker.feed(PbxEvent("west", m.message, m.at + 0.5))
        if m.message.event == "AgentConnect":
            assert len(tracker.live_calls()) == 2
            assert len(tracker.live_calls("east")) == 1
            assert tracker.agent_states("west") == {"102": tracker.agent_state("102", "west")}
    ended = [e for e in events if isinstance(e, CallEnded)]
    assert sorted((e.pbx, e.call.pbx, e.outcome) for e in ended) == [
        ("east", "east", "answered"),
        ("west", "west", "answered"),
    ]
    assert tracker.feed(LinkUp("east", (), 99.0)) == []


def test_the_did_is_learnt_when_the_dial_plan_leaves_s() -> None:
    tracker = CallTracker(CONFIG)
    trunk = chan("", "PJSIP/trunk-00000001", "S", "S", CallerIDNum="+79160000004")
    events = run(
        tracker,
        ev("Newchannel", Context="from-trunk", Exten="s", **trunk),
        ev(
            "Newstate", ChannelStateDesc="Ring", Context="from-trunk", Exten="+74951234567", **trunk
        ),
        ev("Hangup", Cause="16", Context="from-trunk", Exten="h", **trunk),
    )
    assert events[0].call.called is None
    assert (events[-1].call.called, events[-1].call.did) == ("+74951234567", "+74951234567")


def test_call_pickup_moves_the_answer_to_the_picking_phone() -> None:
    tracker = CallTracker(CONFIG)
    trunk = chan("", "PJSIP/trunk-00000001", "T", "T", CallerIDNum="+79160000005")
    trunk |= {"Context": "from-trunk", "Exten": "+74951234568"}
    ringing = chan("Dest", "PJSIP/104-00000002", "D", "T", CallerIDNum="104")
    picker = chan("", "PJSIP/102-00000003", "P", "P", CallerIDNum="102")
    events = run(
        tracker,
        ev("Newchannel", **trunk),
        ev("Newchannel", **chan("", "PJSIP/104-00000002", "D", "T", CallerIDNum="104")),
        ev("DialBegin", **trunk, **ringing),
        ev("Newchannel", Context="from-internal", Exten="*8", **picker),
        ev("Pickup", **picker, **chan("Target", "PJSIP/104-00000002", "D", "T")),
        ev("DialEnd", DialStatus="ANSWER", **trunk, **ringing),
        ev("BridgeEnter", **chan("", "PJSIP/102-00000003", "D", "T", CallerIDNum="102")),
        ev("Hangup", Cause="16", **chan("", "PJSIP/102-00000003<ZOMBIE>", "P", "P")),
        ev("Hangup", Cause="16", Cause_txt="Normal Clearing", **trunk),
        ev("Hangup", Cause="16", **chan("", "PJSIP/102-00000003", "D", "T")),
    )
    assert [(e.kind, e.linkedid, getattr(e, "extension", None)) for e in events] == [
        ("call-started", "T", None),
        ("agent-ringing", "T", "104"),
        ("call-started", "P", None),
        ("call-ended", "P", None),
        ("call-answered", "T", "102"),
        ("agent-stopped-ringing", "T", "104"),
        ("call-ended", "T", None),
    ]
    final = events[-1].call
    assert (final.answered_by, final.agents_rung, final.outcome) == ("102", ("104",), "answered")
    assert final.legs[0].result == "answered-elsewhere"
    assert tracker.live_calls() == []
