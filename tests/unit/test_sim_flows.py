"""Simulated call flows look like the captures: names, fields, ids, every channel ends."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from cti.protocol import AmiFrameDecoder
from cti.sim import IdSource, Step, flows, load_capture
from cti.sim.channels import ChannelRegistry
from cti.sim.wire import render

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "ami"


def events_of(steps: list[Step]) -> list[dict[str, str]]:
    return [dict(e) for step in steps for e in step.events]  # type: ignore[arg-type]


def assert_all_channels_end(events: list[dict[str, str]]) -> None:
    registry = ChannelRegistry()
    for event in events:
        registry.observe(event, 0.0)
    assert len(registry) == 0, [c.fields.get("Channel") for c in registry.channels.values()]


def test_ring_all_queue_call_is_shaped_like_the_capture() -> None:
    steps = flows.queue_call(IdSource(1), caller="+79161234567", answer_by="102")
    events = events_of(steps)
    names = Counter(e["Event"] for e in events)
    assert len(events) > 150
    assert names["VarSet"] > len(events) / 2
    called = [e["MemberName"] for e in events if e["Event"] == "AgentCalled"]
    assert called == ["Agent 101", "Agent 102", "Agent 103"]
    connect = [e for e in events if e["Event"] == "AgentConnect"]
    assert [e["Interface"] for e in connect] == ["PJSIP/102"]
    hangups = [e for e in events if e["Event"] == "Hangup"]
    assert sorted(e["Cause"] for e in hangups) == ["16", "16", "26", "26"]
    linked = {e["Linkedid"] for e in events if "Linkedid" in e}
    first = next(e for e in events if e["Event"] == "Newchannel")
    assert linked == {first["Uniqueid"]}
    assert steps[-1].at == pytest.approx(5.0)
    assert_all_channels_end(events)


def test_field_order_matches_asterisk() -> None:
    capture = [e for _, e in load_capture(FIXTURES / "inbound_answered.timed.jsonl")]
    events = events_of(flows.queue_call(IdSource(1), caller="+79161234567"))
    for name in ("Newchannel", "AgentCalled", "DialEnd", "AgentConnect", "Hangup", "BridgeEnter"):
        real = next(e for e in capture if e["Event"] == name)
        ours = next(e for e in events if e["Event"] == name)
        assert list(ours) == list(real), name


def test_abandoned_and_linear_queue_calls() -> None:
    abandoned = events_of(flows.queue_call(IdSource(1), caller="+7916", answer_by=None, ring_s=8))
    assert any(e["Event"] == "QueueCallerAbandon" for e in abandoned)
    assert not any(e["Event"] == "AgentConnect" for e in abandoned)
    assert_all_channels_end(abandoned)
    linear = events_of(
        flows.queue_call(
            IdSource(1), caller="+7916", queue="service", strategy="linear", answer_by="102"
        )
    )
    no_answer = [e["MemberName"] for e in linear if e["Event"] == "AgentRingNoAnswer"]
    assert no_answer == ["Agent 101"]
    assert [e["MemberName"] for e in linear if e["Event"] == "AgentConnect"] == ["Agent 102"]
    assert_all_channels_end(linear)


def test_direct_busy_and_no_answer() -> None:
    busy = events_of(flows.direct_call(IdSource(1), caller="+7916", outcome="busy"))
    assert [e["DialStatus"] for e in busy if e["Event"] == "DialEnd"] == ["BUSY"]
    assert {e["Cause"] for e in busy if e["Event"] == "Hangup"} == {"17"}
    missed = events_of(flows.direct_call(IdSource(1), caller="+7916", outcome="noanswer"))
    assert [e["DialStatus"] for e in missed if e["Event"] == "DialEnd"] == ["CANCEL"]
    assert_all_channels_end(busy)
    assert_all_channels_end(missed)


def test_transfers_move_the_call() -> None:
    blind = events_of(
        flows.queue_call(IdSource(1), caller="+7916", answer_by="101", transfer_to="103")
    )
    transfer = next(e for e in blind if e["Event"] == "BlindTransfer")
    assert transfer["Extension"] == "103"
    target = [
        e for e in blind if e["Event"] == "Newchannel" and e["Channel"].startswith("PJSIP/103")
    ]
    assert target[-1]["Linkedid"] == transfer["TransfereeLinkedid"]
    assert_all_channels_end(blind)
    attended = events_of(flows.direct_call(IdSource(1), caller="+7916", attended_to="105"))
    event = next(e for e in attended if e["Event"] == "AttendedTransfer")
    assert event["TransferTargetChannel"].startswith("PJSIP/105-")
    assert event["TransferTargetLinkedid"] != event["TransfereeLinkedid"]
    assert_all_channels_end(attended)


def test_outbound_internal_and_click_to_call() -> None:
    out = events_of(flows.outbound_call(IdSource(1), agent="101", number="+79161234567"))
    assert out[0]["Channel"].startswith("PJSIP/101-")
    assert any(e["Event"] == "DialBegin" and e["DialString"] == "+79161234567@trunk" for e in out)
    internal = events_of(flows.internal_call(IdSource(1), agent="101", callee="103"))
    assert {e["Context"] for e in internal if e["Event"] == "Newchannel"} == {"from-internal"}
    request = flows.OriginateRequest("a-1", "PJSIP/101", "+7916", "from-internal", "+7916", "Ivan")
    c2c = events_of(flows.click_to_call(IdSource(1), request))
    response = next(e for e in c2c if e["Event"] == "OriginateResponse")
    assert response["ActionID"] == "a-1"
    assert response["Response"] == "Success"
    for events in (out, internal, c2c):
        assert_all_channels_end(events)


def test_random_calls_have_unique_ids_names_and_all_end() -> None:
    ids = IdSource(1)
    rng = random.Random(3)
    events = [e for _ in range(300) for e in events_of(flows.random_call(ids, rng))]
    names = {e.get("CallerIDName") for e in events}
    assert {"王伟", "Ирина Петрова", "علی رضایی"} <= names
    created = [e["Uniqueid"] for e in events if e["Event"] == "Newchannel"]
    assert len(created) == len(set(created))
    kinds = {e["Event"] for e in events}
    assert {"BlindTransfer", "AttendedTransfer", "QueueCallerAbandon", "AgentRingNoAnswer"} <= kinds
    assert_all_channels_end(events)


def test_render_round_trips_through_the_decoder() -> None:
    event = {"Event": "Newchannel", "Privilege": "call,all", "CallerIDName": "علی رضایی"}
    data = render(event, "Timestamp: 1.5\r\n")
    assert data.startswith(b"Event: Newchannel\r\nPrivilege: call,all\r\nTimestamp: 1.5\r\n")
    message = AmiFrameDecoder().feed(data)[0]
    assert message["CallerIDName"] == "علی رضایی"
    assert message["Timestamp"] == "1.5"


def test_load_capture_keeps_stream_events_only() -> None:
    items = load_capture(FIXTURES / "click_to_call.timed.jsonl")
    names = [e["Event"] for _, e in items]
    assert "FullyBooted" not in names
    assert "OriginateResponse" in names
    assert all("Response" not in e or e["Event"] == "OriginateResponse" for _, e in items)
    offsets = [t for t, _ in items]
    assert offsets == sorted(offsets)
    snapshot = [e["Event"] for _, e in load_capture(FIXTURES / "resync_snapshot.ami")]
    assert "CoreShowChannel" not in snapshot
    assert "Newchannel" in snapshot
