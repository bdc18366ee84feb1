"""Outcome, stop reason and direction rules, table-driven on minimal Asterisk-shaped calls."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from cti.calls import AgentStoppedRinging, CallEnded, CallModelConfig, CallTracker
from cti.protocol import AmiMessage, PbxEvent

CONFIG = CallModelConfig()


@dataclass(frozen=True)
class Case:
    name: str
    caller: str  # channel name of the caller side
    context: str
    exten: str
    dest: str | None  # channel dialled, if any
    status: str | None  # its DialEnd status
    leg_cause: int
    caller_cause: int
    outcome: str
    direction: str
    stop_reason: str | None = None


CASES = [
    Case("ring-timeout", "PJSIP/trunk-1", "from-trunk", "+74951234568", "PJSIP/104-2",
         "NOANSWER", 19, 19, "no-answer", "inbound", "no-answer"),
    Case("busy", "PJSIP/trunk-1", "from-trunk", "+74951234568", "PJSIP/104-2",
         "BUSY", 17, 17, "busy", "inbound", "busy"),
    Case("unreachable", "PJSIP/trunk-1", "from-trunk", "+74951234568", "PJSIP/104-2",
         "CHANUNAVAIL", 20, 20, "failed", "inbound", "failed"),
    Case("caller-gives-up", "PJSIP/trunk-1", "from-trunk", "+74951234568", "PJSIP/104-2",
         "CANCEL", 0, 16, "missed", "inbound", "caller-gone"),
    Case("unknown-did", "PJSIP/trunk-1", "from-trunk", "+74950000000", None,
         None, 0, 1, "failed", "inbound"),
    Case("hangs-up-in-ivr", "PJSIP/trunk-1", "from-trunk", "+74951234567", None,
         None, 0, 16, "missed", "inbound"),
    Case("answered-direct", "PJSIP/trunk-1", "from-trunk", "+74951234568", "PJSIP/104-2",
         "ANSWER", 16, 16, "answered", "inbound"),
    Case("outbound-busy", "PJSIP/101-1", "from-internal", "+79161234567", "PJSIP/trunk-2",
         "BUSY", 17, 17, "busy", "outbound"),
    Case("outbound-gives-up", "PJSIP/101-1", "from-internal", "+79161234567", "PJSIP/trunk-2",
         "CANCEL", 16, 16, "no-answer", "outbound"),
    Case("outbound-congestion", "PJSIP/101-1", "from-internal", "+79161234567",
         "PJSIP/trunk-2", "CONGESTION", 34, 34, "failed", "outbound"),
    Case("outbound-answered", "PJSIP/101-1", "from-internal", "89161234567", "PJSIP/trunk-2",
         "ANSWER", 16, 16, "answered", "outbound"),
    Case("internal-missed", "PJSIP/101-1", "from-internal", "103", "PJSIP/103-2",
         "CANCEL", 0, 16, "missed", "internal", "caller-gone"),
    Case("internal-answered", "PJSIP/101-1", "from-internal", "103", "PJSIP/103-2",
         "ANSWER", 16, 16, "answered", "internal"),
    Case("internal-busy", "PJSIP/101-1", "from-internal", "103", "PJSIP/103-2",
         "BUSY", 17, 16, "busy", "internal", "busy"),
]  # fmt: skip


def msg(event: str, **headers: str) -> AmiMessage:
    return AmiMessage((("Event", event), *((k.replace("_", "-"), v) for k, v in headers.items())))


def stream(case: Case) -> list[AmiMessage]:
    caller = {"Channel": case.caller, "Uniqueid": "C", "Linkedid": "C"}
    caller |= {"Context": case.context, "Exten": case.exten, "CallerIDNum": "+79160000009"}
    if not case.caller.startswith("PJSIP/trunk"):
        caller["CallerIDNum"] = case.caller.split("/")[1].split("-")[0]
    out = [msg("Newchannel", ChannelStateDesc="Ring", **caller)]
    if case.dest is not None:
        dest = {"Channel": case.dest, "Uniqueid": "D", "Linkedid": "C"}
        dest_fields = {"Dest" + k: v for k, v in dest.items()}
        out += [
            msg("Newchannel", ChannelStateDesc="Down", **dest),
            msg("DialBegin", **caller, **dest_fields),
            msg("DialEnd", DialStatus=case.status or "", **caller, **dest_fields),
            msg("Hangup", Cause=str(case.leg_cause), **dest),
        ]
    out.append(msg("Hangup", Cause=str(case.caller_cause), Cause_txt="x", **caller))
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_outcome_direction_and_stop_reason(case: Case) -> None:
    tracker = CallTracker(CONFIG)
    events = [e for i, m in enumerate(stream(case)) for e in tracker.feed(PbxEvent("p", m, i))]
    ended = events[-1]
    assert isinstance(ended, CallEnded)
    assert ended.outcome == case.outcome
    assert ended.call.direction == case.direction
    assert ended.call.hangup_cause == case.caller_cause
    stops = [e.reason for e in events if isinstance(e, AgentStoppedRinging)]
    assert stops == ([case.stop_reason] if case.stop_reason else [])
    assert tracker.live_calls() == []


@pytest.mark.parametrize(
    ("pattern", "number", "internal"),
    [(r"^\d{2,5}$", "101", True), (r"^\d{2,5}$", "+7916", False), (r"^2\d\d$", "101", False)],
)
def test_extension_pattern_is_configurable(pattern: str, number: str, internal: bool) -> None:
    assert CallModelConfig(extension_pattern=pattern).is_extension(number) is internal


PSTN = CallModelConfig(inbound_contexts=("from-pstn",))
PROVIDER = CallModelConfig(trunk_endpoints=("provider",))
PHONES = CallModelConfig(internal_contexts=("phones",))


@pytest.mark.parametrize(
    ("channel", "context", "exten", "config", "direction"),
    [
        ("DAHDI/1-1", "from-pstn", "+74951234567", CONFIG, "unknown"),
        ("DAHDI/1-1", "from-pstn", "+74951234567", PSTN, "inbound"),
        ("SIP/provider-00000001", "default", "+74951234567", PROVIDER, "inbound"),
        ("PJSIP/alice-00000001", "from-internal", "bob", CONFIG, "internal"),
        ("PJSIP/alice-00000001", "phones", "bob", CONFIG, "unknown"),
        ("PJSIP/alice-00000001", "phones", "bob", PHONES, "internal"),
        ("PJSIP/alice-00000001", "phones", "+79161234567", PHONES, "outbound"),
        ("PJSIP/alice-00000001", "phones", "+79161234567", CONFIG, "unknown"),
        ("PJSIP/101-00000001", "phones", "89161234567", CONFIG, "outbound"),
    ],
)
def test_direction_follows_the_configuration(
    channel: str, context: str, exten: str, config: CallModelConfig, direction: str
) -> None:
    tracker = CallTracker(config)
    first = {"Channel": channel, "Uniqueid": "C", "Linkedid": "C", "Context": context}
    (started,) = tracker.feed(PbxEvent("p", msg("Newchannel", Exten=exten, **first), 1.0))
    assert started.call.direction == direction
