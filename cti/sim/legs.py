"""Pieces every simulated call shares: the PBX's numbers, channel legs, variable floods, hangup."""

from __future__ import annotations

from cti.sim.builder import CallBuilder, Channel

TRUNK = "PJSIP/trunk"
SALES_DID = "+74951234567"
DIRECT_DID = "+74951234568"
SERVICE_DID = "+74951234560"
AGENTS = ("101", "102", "103", "104", "105")
CALLER_NAMES = ("<unknown>", "Ivan Petrov", "王伟", "Ирина Петрова", "علی رضایی", "<unknown>")


def agent_name(ext: str) -> str:
    return f"Agent {ext}"


def queue_vars(
    queue: str, strategy: str, calls: int, hold: int, talk: int, done: int
) -> list[tuple[str, str]]:
    return [
        ("QUEUENAME", queue),
        ("QUEUEMAX", "0"),
        ("QUEUESTRATEGY", strategy),
        ("QUEUECALLS", str(calls)),
        ("QUEUEHOLDTIME", str(hold)),
        ("QUEUETALKTIME", str(talk)),
        ("QUEUECOMPLETED", str(done)),
        ("QUEUEABANDONED", "0"),
        ("QUEUESRVLEVEL", "0"),
        ("QUEUESRVLEVELPERF", "0.0"),
    ]


def member_vars(ext: str) -> list[tuple[str, str]]:
    return [
        ("MEMBERINTERFACE", f"PJSIP/{ext}"),
        ("MEMBERNAME", agent_name(ext)),
        ("MEMBERCALLS", "0"),
        ("MEMBERLASTCALL", "0"),
        ("MEMBERPENALTY", "0"),
        ("MEMBERDYNAMIC", "0"),
        ("MEMBERREALTIME", "0"),
    ]


def inbound_leg(
    b: CallBuilder, caller: str, caller_name: str, did: str, what: str, trunk_name: str = TRUNK
) -> Channel:
    trunk = b.channel(
        trunk_name, caller_num=caller, caller_name=caller_name, context="from-trunk", exten=did
    )
    b.varset(trunk, "SIPDOMAIN", "127.0.0.1")
    b.newexten(trunk, "NoOp", f"Inbound call from {caller} to {what} {did}", 1)
    b.newexten(trunk, "Set", f"__DID={did}", 2)
    b.varset(trunk, "__DID", did)
    return trunk


def agent_leg(b: CallBuilder, ext: str, caller: Channel, did: str) -> Channel:
    agent = b.channel(
        f"PJSIP/{ext}",
        caller_num=ext,
        caller_name=agent_name(ext),
        context="from-internal",
        exten="s",
        state="0",
    )
    b.varsets(agent, [("__DID", did), ("DIALEDPEERNUMBER", ext)])
    return agent


def end_answered(
    b: CallBuilder, first: Channel, second: Channel, bridge_id: str, talk_s: float
) -> None:
    b.wait(talk_s)
    b.rtp_qos(first)
    b.hangup_request(first)
    b.unbridge(bridge_id, first, second)
    b.cdr(first, second, "ANSWERED", talk_s, talk_s)
    b.rtp_qos(second)
    b.hangup(first)
    b.hangup(second)
    b.device_state(first.device, "NOT_INUSE")
    b.device_state(second.device, "NOT_INUSE")
