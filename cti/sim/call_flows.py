"""Calls without a queue: direct DIDs (answered, busy, unanswered, attended transfer), outbound,
internal, and the click-to-call an Originate starts."""

from __future__ import annotations

from dataclasses import dataclass

from cti.sim.builder import CallBuilder, Channel, IdSource, Step
from cti.sim.legs import DIRECT_DID, TRUNK, agent_leg, agent_name, end_answered, inbound_leg


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
    trunk_name: str = TRUNK,
) -> list[Step]:
    """A DID routed straight to one phone: ``outcome`` is answer, busy or noanswer.

    ``trunk_name`` (``PJSIP/office-east``): the call comes over another trunk, e.g. from the
    company's other office.
    """
    b = CallBuilder(ids)
    trunk = inbound_leg(b, caller, caller_name, did, "direct DID", trunk_name)
    b.newexten(trunk, "Dial", f"PJSIP/{agent},30,t", 3)
    phone = agent_leg(b, agent, trunk, did)
    b.newexten(phone, "AppDial", "(Outgoing Line)")
    b.connected_line(phone, trunk.caller_num, trunk.caller_name)
    b.dial_begin(trunk, phone, agent)
    b.connected_line(trunk, agent, agent_name(agent))
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
    end_answered(b, phone, trunk, bridge_id, talk_s)
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
        caller_name=agent_name(agent),
        context="from-internal",
        exten=to,
        linkedid="",
    )
    consult.linkedid = consult.uniqueid  # a new call: its own Linkedid
    target = b.channel(
        f"PJSIP/{to}",
        caller_num=to,
        caller_name=agent_name(to),
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
    b.connected_line(trunk, to, agent_name(to))
    b.hangup(phone)
    b.hangup(consult)
    b.emit(
        "BridgeDestroy", "call,all", {"BridgeUniqueid": consult_bridge, "BridgeNumChannels": "0"}
    )
    end_answered(b, trunk, target, bridge_id, talk_s / 3)


def outbound_call(
    ids: IdSource,
    *,
    agent: str = "101",
    number: str,
    ring_s: float = 3.0,
    talk_s: float = 4.0,
    answered: bool = True,
    trunk_name: str = TRUNK,
) -> list[Step]:
    """An agent dials a customer out through the trunk (or ``trunk_name``: another office's)."""
    b = CallBuilder(ids)
    phone = b.channel(
        f"PJSIP/{agent}",
        caller_num=agent,
        caller_name=agent_name(agent),
        context="from-internal",
        exten=number,
    )
    b.newexten(phone, "NoOp", f"Outbound call {agent} -> {number}", 1)
    b.newexten(phone, "Dial", f"PJSIP/{number}@trunk,60,tT", 2)
    trunk = b.channel(
        trunk_name, caller_num="<unknown>", context="from-trunk", exten="s", state="0"
    )
    b.newexten(trunk, "AppDial", "(Outgoing Line)")
    b.new_callerid(trunk, number)
    b.connected_line(trunk, agent, agent_name(agent))
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
    end_answered(b, phone, trunk, bridge_id, talk_s)
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
        caller_name=agent_name(agent),
        context="from-internal",
        exten=callee,
    )
    b.newexten(phone, "Dial", f"PJSIP/{callee},30,tT", 1)
    other = b.channel(
        f"PJSIP/{callee}",
        caller_num=callee,
        caller_name=agent_name(callee),
        context="from-internal",
        exten="s",
        state="0",
    )
    b.connected_line(other, agent, agent_name(agent))
    b.newstate(other, "5")
    b.dial_begin(phone, other, callee)
    b.dial_state(phone, other)
    b.device_state(f"PJSIP/{callee}", "RINGING")
    b.wait(ring_s)
    b.newstate(other, "6")
    b.dial_end(phone, other, "ANSWER")
    b.newstate(phone, "6")
    bridge_id = b.bridge(other, phone)
    end_answered(b, phone, other, bridge_id, talk_s)
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
        caller_name=agent_name(ext),
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
    end_answered(b, phone, trunk, bridge_id, talk_s)
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
