"""Call scenarios as event steps, shaped like the captures in tests/fixtures/ami.

Each function returns the steps of one call (``list[Step]``) with fresh Uniqueids; the simulator
plays them on its clock. Durations are seconds of simulated time (a speed factor compresses them).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from cti.sim.builder import CallBuilder, Channel, IdSource, Step

TRUNK = "PJSIP/trunk"
SALES_DID = "+74951234567"
DIRECT_DID = "+74951234568"
SERVICE_DID = "+74951234560"
AGENTS = ("101", "102", "103", "104", "105")
CALLER_NAMES = ("<unknown>", "Ivan Petrov", "王伟", "Ирина Петрова", "علی رضایی", "<unknown>")


def _agent_name(ext: str) -> str:
    return f"Agent {ext}"


def _queue_vars(
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


def _member_vars(ext: str) -> list[tuple[str, str]]:
    return [
        ("MEMBERINTERFACE", f"PJSIP/{ext}"),
        ("MEMBERNAME", _agent_name(ext)),
        ("MEMBERCALLS", "0"),
        ("MEMBERLASTCALL", "0"),
        ("MEMBERPENALTY", "0"),
        ("MEMBERDYNAMIC", "0"),
        ("MEMBERREALTIME", "0"),
    ]


def _inbound_leg(b: CallBuilder, caller: str, caller_name: str, did: str, what: str) -> Channel:
    trunk = b.channel(
        TRUNK, caller_num=caller, caller_name=caller_name, context="from-trunk", exten=did
    )
    b.varset(trunk, "SIPDOMAIN", "127.0.0.1")
    b.newexten(trunk, "NoOp", f"Inbound call from {caller} to {what} {did}", 1)
    b.newexten(trunk, "Set", f"__DID={did}", 2)
    b.varset(trunk, "__DID", did)
    return trunk


def _agent_leg(b: CallBuilder, ext: str, caller: Channel, did: str) -> Channel:
    agent = b.channel(
        f"PJSIP/{ext}",
        caller_num=ext,
        caller_name=_agent_name(ext),
        context="from-internal",
        exten="s",
        state="0",
    )
    b.varsets(agent, [("__DID", did), ("DIALEDPEERNUMBER", ext)])
    return agent


def _end_answered(
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


def queue_call(
    ids: IdSource,
    *,
    caller: str,
    caller_name: str = "<unknown>",
    did: str = SALES_DID,
    queue: str = "sales",
    agents: tuple[str, ...] | list[str] = ("101", "102", "103"),
    answer_by: str | None = "102",
    ring_s: float = 2.0,
    talk_s: float = 3.0,
    strategy: str = "ringall",
    member_timeout_s: float = 5.0,
    transfer_to: str | None = None,
) -> list[Step]:
    """A queue call: ring-all (every agent at once) or linear (one after another), answered by
    ``answer_by`` after ``ring_s`` or abandoned by the caller then (``answer_by=None``)."""
    b = CallBuilder(ids)
    trunk = _inbound_leg(b, caller, caller_name, did, f"{queue} DID")
    b.newexten(trunk, "Queue", f"{queue},rt,,,60", 3)
    b.varsets(
        trunk,
        [
            (v, "")
            for v in (
                "ANSWEREDTIME",
                "ANSWEREDTIME_MS",
                "DIALEDTIME",
                "DIALEDTIME_MS",
                "QUEUEWAIT",
                "QUEUEWAIT_MS",
            )
        ],
    )
    b.device_state(f"Queue:{queue}", "RINGING")
    b.queue_event("QueueCallerJoin", trunk, queue, Position="1", Count="1")
    b.device_state(TRUNK, "INUSE")
    ringing: list[tuple[str, Channel]] = []
    rounds = [list(agents)] if strategy == "ringall" else [[a] for a in agents]
    answered: tuple[str, Channel] | None = None
    waited = 0.0
    for group in rounds:
        for ext in group:
            agent = _agent_leg(b, ext, trunk, did)
            agent.exten = did
            b.agent_event("AgentCalled", trunk, agent, queue, _agent_name(ext))
            b.dial_begin(trunk, agent, f"PJSIP/{ext}")
            b.newstate(agent, "5")
            b.newexten(agent, "AppQueue", "(Outgoing Line)")
            b.connected_line(agent, trunk.caller_num, trunk.caller_name)
            b.device_state(f"PJSIP/{ext}", "RINGING")
            b.member_status(queue, f"PJSIP/{ext}", _agent_name(ext), "6", "0")
            ringing.append((ext, agent))
        for _ext, agent in ringing:
            b.dial_state(trunk, agent)
        if answer_by is not None and answer_by in group:
            b.wait(max(0.0, ring_s - waited))
            answered = next(pair for pair in ringing if pair[0] == answer_by)
            break
        step = member_timeout_s if strategy != "ringall" else ring_s
        if answer_by is None and waited + step >= ring_s:
            b.wait(max(0.0, ring_s - waited))
            waited = ring_s
            break
        b.wait(step)
        waited += step
        for ext, agent in ringing:
            b.dial_end(trunk, agent, "NOANSWER")
            b.agent_event(
                "AgentRingNoAnswer",
                trunk,
                agent,
                queue,
                _agent_name(ext),
                RingTime=str(round(step)),
            )
            b.hangup(agent, "16", "Normal Clearing")
            b.device_state(f"PJSIP/{ext}", "NOT_INUSE")
        ringing = []
    if answered is None:
        for ext, agent in ringing:
            b.dial_end(trunk, agent, "CANCEL")
            b.hangup(agent, "16", "Normal Clearing")
            b.device_state(f"PJSIP/{ext}", "NOT_INUSE")
            b.member_status(queue, f"PJSIP/{ext}", _agent_name(ext), "1", "0")
        b.queue_event(
            "QueueCallerAbandon",
            trunk,
            queue,
            Position="1",
            OriginalPosition="1",
            HoldTime=str(round(ring_s)),
        )
        b.queue_event("QueueCallerLeave", trunk, queue, Position="1", Count="0")
        b.varsets(trunk, _queue_vars(queue, strategy, 0, round(ring_s), 0, 0))
        b.hangup_request(trunk)
        b.cdr(trunk, None, "NO ANSWER", ring_s, 0)
        b.hangup(trunk, "16", "Normal Clearing")
        b.device_state(f"Queue:{queue}", "NOT_INUSE")
        b.device_state(TRUNK, "NOT_INUSE")
        return b.build()
    ext, agent = answered
    b.newstate(agent, "6")
    for _other_ext, other in ringing:
        b.dial_end(trunk, other, "ANSWER" if other is agent else "CANCEL")
    b.connected_line(trunk, ext, _agent_name(ext))
    for var_chan in (trunk, agent):
        b.varsets(var_chan, _member_vars(ext))
    for var_chan in (trunk, agent):
        b.varsets(var_chan, [("QEHOLDTIME", str(round(ring_s))), ("QEORIGINALPOS", "1")])
    for var_chan in (trunk, agent):
        b.varsets(var_chan, _queue_vars(queue, strategy, 1, round(ring_s), 0, 0))
    b.device_state(f"Queue:{queue}", "NOT_INUSE")
    b.queue_event("QueueCallerLeave", trunk, queue, Position="1", Count="0")
    b.varsets(
        trunk,
        [
            ("QUEUEPOSITION", "1"),
            ("QUEUEWAIT", str(round(ring_s))),
            ("QUEUEWAIT_MS", str(round(ring_s * 1000))),
        ],
    )
    hold = str(round(ring_s))
    b.agent_event(
        "AgentConnect", trunk, agent, queue, _agent_name(ext), HoldTime=hold, RingTime=hold
    )
    b.newstate(trunk, "6")
    for other_ext, other in ringing:
        if other is not agent:
            b.hangup(other, "26", "Answered elsewhere")
            b.device_state(f"PJSIP/{other_ext}", "NOT_INUSE")
            b.member_status(queue, f"PJSIP/{other_ext}", _agent_name(other_ext), "1", "0")
    b.device_state(f"PJSIP/{ext}", "INUSE")
    b.member_status(queue, f"PJSIP/{ext}", _agent_name(ext), "2", "1")
    bridge_id = b.bridge(agent, trunk)
    if transfer_to is not None:
        return _blind_transfer(b, trunk, agent, bridge_id, ext, transfer_to, queue, talk_s)
    b.wait(talk_s)
    b.rtp_qos(trunk)
    b.hangup_request(trunk)
    talk = str(round(talk_s))
    b.agent_event(
        "AgentComplete",
        trunk,
        agent,
        queue,
        _agent_name(ext),
        HoldTime=hold,
        TalkTime=talk,
        Reason="caller",
    )
    b.unbridge(bridge_id, trunk, agent)
    b.varsets(trunk, _queue_vars(queue, strategy, 0, round(ring_s), round(talk_s), 1) * 2)
    b.varsets(trunk, [("ANSWEREDTIME", talk), ("DIALEDTIME", str(round(ring_s + talk_s)))])
    for _other_ext, other in ringing:
        b.cdr(
            trunk,
            other,
            "ANSWERED" if other is agent else "NO ANSWER",
            ring_s + talk_s,
            talk_s if other is agent else 0,
        )
    b.rtp_qos(agent)
    b.hangup(trunk)
    b.hangup(agent)
    b.device_state(TRUNK, "NOT_INUSE")
    b.device_state(f"PJSIP/{ext}", "NOT_INUSE")
    b.member_status(queue, f"PJSIP/{ext}", _agent_name(ext), "1", "0")
    return b.build()


def _blind_transfer(
    b: CallBuilder,
    trunk: Channel,
    agent: Channel,
    bridge_id: str,
    ext: str,
    to: str,
    queue: str,
    talk_s: float,
) -> list[Step]:
    b.wait(talk_s / 2)
    b.emit(
        "BlindTransfer",
        "call,all",
        {
            "Result": "Success",
            **agent.block("Transferer"),
            **trunk.block("Transferee"),
            "BridgeUniqueid": bridge_id,
            "BridgeType": "basic",
            "BridgeTechnology": "simple_bridge",
            "BridgeCreator": "<unknown>",
            "BridgeName": "<unknown>",
            "BridgeNumChannels": "2",
            "BridgeVideoSourceMode": "none",
            "IsExternal": "Yes",
            "Context": "from-internal",
            "Extension": to,
        },
    )
    b.agent_event(
        "AgentComplete",
        trunk,
        agent,
        queue,
        _agent_name(ext),
        HoldTime="0",
        TalkTime=str(round(talk_s / 2)),
        Reason="transfer",
    )
    b.unbridge(bridge_id, trunk, agent)
    trunk.context, trunk.exten = "from-internal", to
    b.newexten(trunk, "Dial", f"PJSIP/{to},30,tT", 1)
    b.hangup(agent)
    b.device_state(f"PJSIP/{ext}", "NOT_INUSE")
    target = b.channel(
        f"PJSIP/{to}",
        caller_num=to,
        caller_name=_agent_name(to),
        context="from-internal",
        exten="s",
        state="0",
    )
    b.newexten(target, "AppDial", "(Outgoing Line)")
    b.connected_line(target, trunk.caller_num, trunk.caller_name)
    b.newstate(target, "5")
    b.device_state(f"PJSIP/{to}", "RINGING")
    b.dial_begin(trunk, target, to)
    b.connected_line(trunk, to, _agent_name(to))
    b.dial_state(trunk, target)
    b.wait(2.0)
    b.newstate(target, "6")
    b.device_state(f"PJSIP/{to}", "INUSE")
    b.dial_end(trunk, target, "ANSWER")
    new_bridge = b.bridge(target, trunk)
    _end_answered(b, trunk, target, new_bridge, talk_s / 2)
    return b.build()


def direct_call(
    ids: IdSource,
    *,
    caller: str,
    caller_name: str = "<unknown>",
    did: str = DIRECT_DID,
    agent: str = "104",
    outcome: str = "answer",
    ring_s: float = 2.0,
    talk_s: float = 3.0,
    attended_to: str | None = None,
) -> list[Step]:
    """A DID routed straight to one phone: ``outcome`` is answer, busy or noanswer."""
    b = CallBuilder(ids)
    trunk = _inbound_leg(b, caller, caller_name, did, "direct DID")
    b.newexten(trunk, "Dial", f"PJSIP/{agent},30,t", 3)
    phone = _agent_leg(b, agent, trunk, did)
    b.newexten(phone, "AppDial", "(Outgoing Line)")
    b.connected_line(phone, trunk.caller_num, trunk.caller_name)
    b.dial_begin(trunk, phone, agent)
    b.connected_line(trunk, agent, _agent_name(agent))
    if outcome == "busy":
        b.emit("HangupRequest", "call,all", {**phone.block(), "Cause": "17"})
        b.dial_end(trunk, phone, "BUSY")
        b.hangup(phone, "17", "User busy")
        b.newexten(trunk, "Hangup", "", 4)
        b.emit("SoftHangupRequest", "call,all", {**trunk.block(), "Cause": "16"})
        b.cdr(trunk, phone, "BUSY", 0, 0)
        b.hangup(trunk, "17", "User busy")
        return b.build()
    b.newstate(phone, "5")
    b.device_state(f"PJSIP/{agent}", "RINGING")
    b.dial_state(trunk, phone)
    b.wait(ring_s)
    if outcome == "noanswer":
        b.dial_end(trunk, phone, "CANCEL")
        b.hangup(phone, "16", "Normal Clearing")
        b.hangup_request(trunk)
        b.cdr(trunk, phone, "NO ANSWER", ring_s, 0)
        b.hangup(trunk, "16", "Normal Clearing")
        b.device_state(f"PJSIP/{agent}", "NOT_INUSE")
        return b.build()
    b.newstate(phone, "6")
    b.dial_end(trunk, phone, "ANSWER")
    b.newstate(trunk, "6")
    b.device_state(f"PJSIP/{agent}", "INUSE")
    bridge_id = b.bridge(phone, trunk)
    if attended_to is not None:
        _attended_transfer(b, trunk, phone, bridge_id, agent, attended_to, talk_s)
        return b.build()
    _end_answered(b, phone, trunk, bridge_id, talk_s)
    return b.build()


def _attended_transfer(
    b: CallBuilder,
    trunk: Channel,
    phone: Channel,
    bridge_id: str,
    agent: str,
    to: str,
    talk_s: float,
) -> None:
    """``agent`` puts the caller on hold, calls ``to`` (a call of its own), then joins them."""
    b.wait(talk_s / 3)
    b.emit("Hold", "call,all", {**phone.block(), "MusicClass": "default"})
    consult = b.channel(
        f"PJSIP/{agent}",
        caller_num=agent,
        caller_name=_agent_name(agent),
        context="from-internal",
        exten=to,
        linkedid="",
    )
    consult.linkedid = consult.uniqueid  # a new call: its own Linkedid
    target = b.channel(
        f"PJSIP/{to}",
        caller_num=to,
        caller_name=_agent_name(to),
        context="from-internal",
        exten="s",
        state="0",
        linkedid=consult.linkedid,
    )
    b.dial_begin(consult, target, to)
    b.newstate(target, "5")
    b.wait(1.5)
    b.newstate(target, "6")
    b.dial_end(consult, target, "ANSWER")
    consult_bridge = b.bridge(consult, target)
    b.wait(talk_s / 3)
    b.emit(
        "AttendedTransfer",
        "call,all",
        {
            "Result": "Success",
            **phone.block("OrigTransferer"),
            "OrigBridgeUniqueid": bridge_id,
            "OrigBridgeType": "basic",
            "OrigBridgeTechnology": "simple_bridge",
            "OrigBridgeCreator": "<unknown>",
            "OrigBridgeName": "<unknown>",
            "OrigBridgeNumChannels": "2",
            "OrigBridgeVideoSourceMode": "none",
            **consult.block("SecondTransferer"),
            "SecondBridgeUniqueid": consult_bridge,
            "SecondBridgeType": "basic",
            "SecondBridgeTechnology": "simple_bridge",
            "SecondBridgeCreator": "<unknown>",
            "SecondBridgeName": "<unknown>",
            "SecondBridgeNumChannels": "2",
            "SecondBridgeVideoSourceMode": "none",
            **trunk.block("Transferee"),
            **target.block("TransferTarget"),
            "IsExternal": "No",
            "DestType": "Bridge",
            "DestBridgeUniqueid": bridge_id,
        },
    )
    b.emit(
        "BridgeLeave",
        "call,all",
        {"BridgeUniqueid": consult_bridge, "BridgeNumChannels": "1", **target.block()},
    )
    b.emit(
        "BridgeLeave",
        "call,all",
        {"BridgeUniqueid": bridge_id, "BridgeNumChannels": "1", **phone.block()},
    )
    b.emit(
        "BridgeEnter",
        "call,all",
        {"BridgeUniqueid": bridge_id, "BridgeNumChannels": "2", **target.block()},
    )
    b.connected_line(target, trunk.caller_num, trunk.caller_name)
    b.connected_line(trunk, to, _agent_name(to))
    b.hangup(phone)
    b.hangup(consult)
    b.emit(
        "BridgeDestroy", "call,all", {"BridgeUniqueid": consult_bridge, "BridgeNumChannels": "0"}
    )
    _end_answered(b, trunk, target, bridge_id, talk_s / 3)


def outbound_call(
    ids: IdSource,
    *,
    agent: str = "101",
    number: str,
    ring_s: float = 3.0,
    talk_s: float = 4.0,
    answered: bool = True,
) -> list[Step]:
    """An agent dials a customer out through the trunk."""
    b = CallBuilder(ids)
    phone = b.channel(
        f"PJSIP/{agent}",
        caller_num=agent,
        caller_name=_agent_name(agent),
        context="from-internal",
        exten=number,
    )
    b.newexten(phone, "NoOp", f"Outbound call {agent} -> {number}", 1)
    b.newexten(phone, "Dial", f"PJSIP/{number}@trunk,60,tT", 2)
    trunk = b.channel(TRUNK, caller_num="<unknown>", context="from-trunk", exten="s", state="0")
    b.newexten(trunk, "AppDial", "(Outgoing Line)")
    b.new_callerid(trunk, number)
    b.connected_line(trunk, agent, _agent_name(agent))
    b.newstate(trunk, "5")
    b.dial_begin(phone, trunk, f"{number}@trunk")
    b.connected_line(phone, number)
    b.dial_state(phone, trunk)
    b.device_state(TRUNK, "RINGING")
    b.device_state(f"PJSIP/{agent}", "INUSE")
    b.wait(ring_s)
    if not answered:
        b.dial_end(phone, trunk, "NOANSWER")
        b.hangup(trunk, "19", "No answer")
        b.hangup_request(phone)
        b.cdr(phone, trunk, "NO ANSWER", ring_s, 0)
        b.hangup(phone)
        b.device_state(f"PJSIP/{agent}", "NOT_INUSE")
        return b.build()
    b.newstate(trunk, "6")
    b.dial_end(phone, trunk, "ANSWER")
    b.newstate(phone, "6")
    b.device_state(TRUNK, "INUSE")
    bridge_id = b.bridge(trunk, phone)
    _end_answered(b, phone, trunk, bridge_id, talk_s)
    return b.build()


def internal_call(
    ids: IdSource,
    *,
    agent: str = "101",
    callee: str = "103",
    ring_s: float = 2.0,
    talk_s: float = 3.0,
) -> list[Step]:
    """One agent calls a colleague's extension."""
    b = CallBuilder(ids)
    phone = b.channel(
        f"PJSIP/{agent}",
        caller_num=agent,
        caller_name=_agent_name(agent),
        context="from-internal",
        exten=callee,
    )
    b.newexten(phone, "Dial", f"PJSIP/{callee},30,tT", 1)
    other = b.channel(
        f"PJSIP/{callee}",
        caller_num=callee,
        caller_name=_agent_name(callee),
        context="from-internal",
        exten="s",
        state="0",
    )
    b.connected_line(other, agent, _agent_name(agent))
    b.newstate(other, "5")
    b.dial_begin(phone, other, callee)
    b.dial_state(phone, other)
    b.device_state(f"PJSIP/{callee}", "RINGING")
    b.wait(ring_s)
    b.newstate(other, "6")
    b.dial_end(phone, other, "ANSWER")
    b.newstate(phone, "6")
    bridge_id = b.bridge(other, phone)
    _end_answered(b, phone, other, bridge_id, talk_s)
    return b.build()


@dataclass(frozen=True, slots=True)
class OriginateRequest:
    """What an Originate action asked for (channel such as ``PJSIP/101``, the number to dial)."""

    action_id: str
    channel: str
    exten: str
    context: str
    caller_id_num: str
    caller_id_name: str


def click_to_call(
    ids: IdSource,
    request: OriginateRequest,
    *,
    agent_answers_s: float = 1.5,
    ring_s: float = 3.0,
    talk_s: float = 5.0,
) -> list[Step]:
    """Originate: ring the agent's phone first, report OriginateResponse, then dial the customer."""
    b = CallBuilder(ids)
    ext = request.channel.split("/", 1)[-1]
    phone = b.channel(
        request.channel,
        caller_num=ext,
        caller_name=_agent_name(ext),
        context=request.context,
        exten="s",
        state="0",
    )
    b.newexten(phone, "AppDial2", "(Outgoing Line)")
    b.new_callerid(phone, request.caller_id_num, request.caller_id_name)
    b.connected_line(phone, request.caller_id_num, request.caller_id_name)
    b.newstate(phone, "5")
    b.dial_begin(None, phone, ext)
    b.device_state(request.channel, "RINGING")
    b.dial_state(None, phone)
    b.wait(agent_answers_s)
    b.newstate(phone, "6")
    b.emit(
        "OriginateResponse",
        "call,all",
        {
            "ActionID": request.action_id,
            "Response": "Success",
            "Channel": phone.name,
            "Context": request.context,
            "Exten": request.exten,
            "Reason": "4",
            "Uniqueid": phone.uniqueid,
            "CallerIDNum": request.caller_id_num,
            "CallerIDName": request.caller_id_name,
        },
    )
    b.dial_end(None, phone, "ANSWER")
    phone.exten = request.exten
    b.newexten(phone, "Dial", f"PJSIP/{request.exten}@trunk,60,tT", 2)
    b.device_state(request.channel, "INUSE")
    trunk = b.channel(TRUNK, caller_num="<unknown>", context="from-trunk", exten="s", state="0")
    b.new_callerid(trunk, request.exten, request.caller_id_name)
    b.dial_begin(phone, trunk, f"{request.exten}@trunk")
    b.newstate(trunk, "5")
    b.dial_state(phone, trunk)
    b.wait(ring_s)
    b.newstate(trunk, "6")
    b.dial_end(phone, trunk, "ANSWER")
    bridge_id = b.bridge(trunk, phone)
    _end_answered(b, phone, trunk, bridge_id, talk_s)
    return b.build()


def originate_failure(request: OriginateRequest, reason: str = "0") -> list[Step]:
    """The phone to ring does not exist: only a failed OriginateResponse."""
    return [
        Step(
            0.5,
            (
                {
                    "Event": "OriginateResponse",
                    "Privilege": "call,all",
                    "ActionID": request.action_id,
                    "Response": "Failure",
                    "Channel": request.channel,
                    "Context": request.context,
                    "Exten": request.exten,
                    "Reason": reason,
                    "Uniqueid": "<null>",
                    "CallerIDNum": request.caller_id_num,
                    "CallerIDName": request.caller_id_name,
                },
            ),
        )
    ]


def random_caller(rng: random.Random) -> tuple[str, str]:
    """A Russian mobile number and, sometimes, a name in Latin, Chinese, Cyrillic or Persian."""
    return f"+7916{rng.randrange(10**7):07d}", rng.choice(CALLER_NAMES)


def random_call(ids: IdSource, rng: random.Random) -> list[Step]:
    """One call of a mix like a sales line's day: mostly queue calls, some direct, out, internal."""
    caller, name = random_caller(rng)
    roll = rng.random()
    ring = rng.uniform(1.0, 8.0)
    talk = rng.uniform(5.0, 60.0)
    if roll < 0.45:
        answer = rng.choice(("101", "102", "103", None))
        return queue_call(
            ids, caller=caller, caller_name=name, answer_by=answer, ring_s=ring, talk_s=talk
        )
    if roll < 0.55:
        return queue_call(
            ids,
            caller=caller,
            caller_name=name,
            did=SERVICE_DID,
            queue="service",
            strategy="linear",
            answer_by=rng.choice(("101", "102", "103")),
            ring_s=ring,
            talk_s=talk,
        )
    if roll < 0.65:
        outcome = rng.choice(("answer", "answer", "busy", "noanswer"))
        return direct_call(
            ids, caller=caller, caller_name=name, outcome=outcome, ring_s=ring, talk_s=talk
        )
    if roll < 0.72:
        return queue_call(
            ids,
            caller=caller,
            caller_name=name,
            answer_by="101",
            ring_s=ring,
            talk_s=talk,
            transfer_to="103",
        )
    if roll < 0.77:
        return direct_call(
            ids, caller=caller, caller_name=name, ring_s=ring, talk_s=talk, attended_to="105"
        )
    if roll < 0.92:
        return outbound_call(
            ids,
            agent=rng.choice(AGENTS),
            number=caller,
            ring_s=ring,
            talk_s=talk,
            answered=rng.random() < 0.7,
        )
    agent, callee = rng.sample(AGENTS, 2)
    return internal_call(ids, agent=agent, callee=callee, ring_s=ring, talk_s=talk)
