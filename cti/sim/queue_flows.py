"""Queue calls as Asterisk's app_queue plays them: ring-all and linear, answered or abandoned,
optionally blind-transferred by the agent who answered."""

from __future__ import annotations

from cti.sim.builder import CallBuilder, Channel, IdSource, Step
from cti.sim.legs import (
    SALES_DID,
    TRUNK,
    agent_leg,
    agent_name,
    end_answered,
    inbound_leg,
    member_vars,
    queue_vars,
)


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
    trunk = inbound_leg(b, caller, caller_name, did, f"{queue} DID")
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
            agent = agent_leg(b, ext, trunk, did)
            agent.exten = did
            b.agent_event("AgentCalled", trunk, agent, queue, agent_name(ext))
            b.dial_begin(trunk, agent, f"PJSIP/{ext}")
            b.newstate(agent, "5")
            b.newexten(agent, "AppQueue", "(Outgoing Line)")
            b.connected_line(agent, trunk.caller_num, trunk.caller_name)
            b.device_state(f"PJSIP/{ext}", "RINGING")
            b.member_status(queue, f"PJSIP/{ext}", agent_name(ext), "6", "0")
            ringing.append((ext, agent))
        for _ext, agent in ringing:
            b.dial_state(trunk, agent)
        b.device_state(f"Queue:{queue}_avail", "INUSE")
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
                agent_name(ext),
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
            b.member_status(queue, f"PJSIP/{ext}", agent_name(ext), "1", "0")
        b.queue_event(
            "QueueCallerAbandon",
            trunk,
            queue,
            Position="1",
            OriginalPosition="1",
            HoldTime=str(round(ring_s)),
        )
        b.queue_event("QueueCallerLeave", trunk, queue, Position="1", Count="0")
        b.varsets(trunk, queue_vars(queue, strategy, 0, round(ring_s), 0, 0))
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
    b.connected_line(trunk, ext, agent_name(ext))
    # Asterisk reports the cancelled legs' DialEnd a second time once the caller is connected.
    for _other_ext, other in ringing:
        if other is not agent:
            b.dial_end(trunk, other, "CANCEL")
    for var_chan in (trunk, agent):
        b.varsets(var_chan, member_vars(ext))
    for var_chan in (trunk, agent):
        b.varsets(var_chan, [("QEHOLDTIME", str(round(ring_s))), ("QEORIGINALPOS", "1")])
    for var_chan in (trunk, agent):
        b.varsets(var_chan, queue_vars(queue, strategy, 1, round(ring_s), 0, 0))
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
        "AgentConnect", trunk, agent, queue, agent_name(ext), HoldTime=hold, RingTime=hold
    )
    b.newstate(trunk, "6")
    for other_ext, other in ringing:
        if other is not agent:
            b.hangup(other, "26", "Answered elsewhere")
            b.device_state(f"PJSIP/{other_ext}", "NOT_INUSE")
            b.member_status(queue, f"PJSIP/{other_ext}", agent_name(other_ext), "1", "0")
    b.device_state(f"PJSIP/{ext}", "INUSE")
    b.member_status(queue, f"PJSIP/{ext}", agent_name(ext), "2", "1")
    bridge_id = b.bridge(agent, trunk)
    if transfer_to is not None:
        return _blind_transfer(b, trunk, agent, bridge_id, ext, transfer_to, queue, talk_s)
    b.wait(talk_s)
    b.rtp_qos(trunk, bridged_peer=agent)
    b.hangup_request(trunk)
    talk = str(round(talk_s))
    b.agent_event(
        "AgentComplete",
        trunk,
        agent,
        queue,
        agent_name(ext),
        HoldTime=hold,
        TalkTime=talk,
        Reason="caller",
    )
    b.unbridge(bridge_id, trunk, agent)
    b.varsets(trunk, queue_vars(queue, strategy, 0, round(ring_s), round(talk_s), 1) * 2)
    b.varsets(
        trunk,
        [
            ("ANSWEREDTIME", talk),
            ("ANSWEREDTIME_MS", str(round(talk_s * 1000))),
            ("DIALEDTIME", str(round(ring_s + talk_s))),
            ("DIALEDTIME_MS", str(round((ring_s + talk_s) * 1000))),
        ],
    )
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
    b.member_status(queue, f"PJSIP/{ext}", agent_name(ext), "1", "0")
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
        agent_name(ext),
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
        caller_name=agent_name(to),
        context="from-internal",
        exten="s",
        state="0",
    )
    b.newexten(target, "AppDial", "(Outgoing Line)")
    b.connected_line(target, trunk.caller_num, trunk.caller_name)
    b.newstate(target, "5")
    b.device_state(f"PJSIP/{to}", "RINGING")
    b.dial_begin(trunk, target, to)
    b.connected_line(trunk, to, agent_name(to))
    b.dial_state(trunk, target)
    b.wait(2.0)
    b.newstate(target, "6")
    b.device_state(f"PJSIP/{to}", "INUSE")
    b.dial_end(trunk, target, "ANSWER")
    new_bridge = b.bridge(target, trunk)
    end_answered(b, trunk, target, new_bridge, talk_s / 2)
    return b.build()
