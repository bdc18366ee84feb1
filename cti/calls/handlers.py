"""What each AMI event means for the calls: one small function per event the model reads.

Events not listed here (VarSet other than recordings, Cdr, Newexten, RTCP, ...) change nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from cti.calls.channels import (
    clean,
    extension_of,
    interface_of,
    is_office_trunk,
    is_trunk,
    parse_int,
)
from cti.calls.events import CallEvent
from cti.calls.model import PbxCalls
from cti.calls.state import Call, Channel
from cti.protocol import RECORDING_VARIABLES, AmiMessage

Handler = Callable[[PbxCalls, AmiMessage, float, list[CallEvent]], None]


def _newchannel(model: PbxCalls, msg: AmiMessage, at: float, out: list[CallEvent]) -> None:
    model.ensure_channel(msg, "", at, out, create=True)


def _newstate(model: PbxCalls, msg: AmiMessage, at: float, out: list[CallEvent]) -> None:
    found = model.ensure_channel(msg, "", at, out, create=True)
    if found is None or msg.get("ChannelStateDesc") != "Up":
        return
    call, channel = found
    channel.up = True
    _picked_up(model, call, channel, at, out)


def _picked_up(
    model: PbxCalls, call: Call, channel: Channel, at: float, out: list[CallEvent]
) -> None:
    if channel.leg is not None:
        model.answer_leg(call, channel, at, out)
    elif channel.trunk and channel.dialled and channel.uniqueid != call.first_uid:
        model.answer_far_end(call, at, out)


def _newcallerid(model: PbxCalls, msg: AmiMessage, at: float, out: list[CallEvent]) -> None:
    found = model.ensure_channel(msg, "", at, out, create=False)
    if found is None:
        return
    call, channel = found
    if channel.uniqueid == call.first_uid and call.caller_ext is None:
        call.caller = clean(msg.get("CallerIDNum")) or call.caller
        call.caller_name = clean(msg.get("CallerIDName")) or call.caller_name


def _dial_begin(model: PbxCalls, msg: AmiMessage, at: float, out: list[CallEvent]) -> None:
    source = model.ensure_channel(msg, "", at, out, create=True)
    found = model.ensure_channel(msg, "Dest", at, out, create=True)
    if found is None:
        return
    call, dest = found
    if dest.uniqueid == call.first_uid:
        if clean(msg.get("Uniqueid")) is None:
            call.originated = True  # Originate rings the first phone with no calling channel
        return
    dest.dialled = True
    if source is not None and source[1].uniqueid == call.first_uid and call.called is None:
        exten = clean(msg.get("Exten"))
        if exten not in (None, "s"):
            call.called = exten
    if dest.trunk:
        call.trunk_dialled = True
        call.office_trunk = call.office_trunk or is_office_trunk(dest.interface, model.config)
        return
    model.ring(call, dest, dest.interface, at, out)
    if dest.up:
        _picked_up(model, call, dest, at, out)


def _dial_end(model: PbxCalls, msg: AmiMessage, at: float, out: list[CallEvent]) -> None:
    found = model.ensure_channel(msg, "Dest", at, out, create=False)
    if found is None:
        return
    call, dest = found
    if dest.uniqueid == call.first_uid:
        return
    status = (clean(msg.get("DialStatus")) or "").upper()
    if status == "ANSWER":
        dest.dialled = True
        _picked_up(model, call, dest, at, out)
        return
    if status:
        call.dial_statuses.add(status)
    leg = call.legs.get(dest.leg) if dest.leg is not None else None
    if leg is not None:
        model.stop_leg(call, leg, call.stop_reason(status, None), at, out)


def _agent_called(model: PbxCalls, msg: AmiMessage, at: float, out: list[CallEvent]) -> None:
    model.ensure_channel(msg, "", at, out, create=True)
    found = model.ensure_channel(msg, "Dest", at, out, create=True)
    if found is None:
        return
    call, dest = found
    call.queue = call.queue or clean(msg.get("Queue"))
    interface = clean(msg.get("Interface")) or dest.interface
    model.ring(call, dest, interface, at, out)


def _agent_ring_no_answer(
    model: PbxCalls, msg: AmiMessage, at: float, out: list[CallEvent]
) -> None:
    found = model.ensure_channel(msg, "Dest", at, out, create=False)
    if found is None:
        return
    call, dest = found
    leg = call.legs.get(dest.leg) if dest.leg is not None else None
    if leg is not None:
        call.dial_statuses.add("NOANSWER")
        model.stop_leg(call, leg, "no-answer", at, out)


def _agent_connect(model: PbxCalls, msg: AmiMessage, at: float, out: list[CallEvent]) -> None:
    found = model.ensure_channel(msg, "Dest", at, out, create=False)
    if found is None:
        return
    call, dest = found
    call.queue = call.queue or clean(msg.get("Queue"))
    if dest.leg is None:
        model.ring(call, dest, clean(msg.get("Interface")) or dest.interface, at, out)
    model.answer_leg(call, dest, at, out)


def _queue_caller_join(model: PbxCalls, msg: AmiMessage, at: float, out: list[CallEvent]) -> None:
    found = model.ensure_channel(msg, "", at, out, create=True)
    if found is not None:
        found[0].queue = found[0].queue or clean(msg.get("Queue"))


def _queue_caller_abandon(
    model: PbxCalls, msg: AmiMessage, at: float, out: list[CallEvent]
) -> None:
    found = model.ensure_channel(msg, "", at, out, create=False)
    if found is not None:
        call = found[0]
        call.queue = call.queue or clean(msg.get("Queue"))
        if not call.answered:
            call.abandoned = True
        call.caller_gone = True


def _bridge_enter(model: PbxCalls, msg: AmiMessage, at: float, out: list[CallEvent]) -> None:
    found = model.ensure_channel(msg, "", at, out, create=True)
    if found is not None:
        _picked_up(model, found[0], found[1], at, out)


def _hangup_request(model: PbxCalls, msg: AmiMessage, at: float, out: list[CallEvent]) -> None:
    found = model.ensure_channel(msg, "", at, out, create=False)
    if found is not None and found[1].uniqueid == found[0].first_uid:
        found[0].caller_gone = True


def _hangup(model: PbxCalls, msg: AmiMessage, at: float, out: list[CallEvent]) -> None:
    uid = clean(msg.get("Uniqueid"))
    if uid is None:
        return
    found = model.ensure_channel(msg, "", at, out, create=False)
    if found is None:
        model.dead_channels.add(uid)  # never seen (e.g. before a reconnect): remember, ignore
        return
    call, channel = found
    cause = (parse_int(msg.get("Cause")), clean(msg.get("Cause-txt")))
    model.hang_up(call, channel, cause, at, out)


def _var_set(model: PbxCalls, msg: AmiMessage, at: float, out: list[CallEvent]) -> None:
    if msg.get("Variable") not in RECORDING_VARIABLES:
        return
    call = model.call_of_channel(msg.get("Uniqueid"))
    value = clean(msg.get("Value"))
    if call is not None and value:
        call.recording = value


def _mix_monitor_start(model: PbxCalls, msg: AmiMessage, at: float, out: list[CallEvent]) -> None:
    call = model.call_of_channel(msg.get("Uniqueid"))
    name = clean(msg.get("File")) or clean(msg.get("Filename"))
    if call is not None and name:
        call.recording = name


def _originate_response(model: PbxCalls, msg: AmiMessage, at: float, out: list[CallEvent]) -> None:
    call = model.call_of_channel(msg.get("Uniqueid"))
    if call is not None:
        call.originated = True
        if call.called is None:
            exten = clean(msg.get("Exten"))
            call.called = exten if exten != "s" else None


def _queue_member(model: PbxCalls, msg: AmiMessage, at: float, out: list[CallEvent]) -> None:
    interface = clean(msg.get("Interface")) or clean(msg.get("Location"))
    state = clean(msg.get("StateInterface"))
    if interface and state and interface != state:
        model.members[interface] = state


def _extension_of_party(
    model: PbxCalls, call: Call | None, uid: str | None, name: str | None, number: str | None
) -> str | None:
    """The agent extension of a transfer party: its leg, the caller's phone, or its device."""
    channel = call.channels.get(uid or "") if call is not None else None
    if channel is not None:
        if channel.leg is not None:
            return channel.leg
        if call is not None and channel.uniqueid == call.first_uid and call.caller_ext:
            return call.caller_ext
    if name is None:
        return None
    interface = interface_of(name)
    if is_trunk(interface, model.config):
        return None
    return extension_of(interface, number, model.config)


def _blind_transfer(model: PbxCalls, msg: AmiMessage, at: float, out: list[CallEvent]) -> None:
    if (clean(msg.get("Result")) or "").lower() != "success":
        return
    transferer = clean(msg.get("TransfererUniqueid"))
    call = (
        model.call_of_channel(msg.get("TransfereeUniqueid"))
        or model.call_of_channel(transferer)
        or model.resolve(clean(msg.get("TransfereeLinkedid")))
        or model.resolve(clean(msg.get("TransfererLinkedid")))
    )
    if call is None:
        return
    from_ext = _extension_of_party(
        model,
        call,
        transferer,
        clean(msg.get("TransfererChannel")),
        clean(msg.get("TransfererCallerIDNum")),
    )
    to_ext = clean(msg.get("Extension"))
    key = ("blind", transferer or "", to_ext or "", clean(msg.get("BridgeUniqueid")) or "")
    model.transfer(call, "blind", key, from_ext, to_ext, at, out)


def _attended_transfer(model: PbxCalls, msg: AmiMessage, at: float, out: list[CallEvent]) -> None:
    if (clean(msg.get("Result")) or "").lower() != "success":
        return
    orig_uid = clean(msg.get("OrigTransfererUniqueid"))
    second_uid = clean(msg.get("SecondTransfererUniqueid"))
    target_uid = clean(msg.get("TransferTargetUniqueid"))
    first = model.call_of_channel(orig_uid) or model.resolve(
        clean(msg.get("OrigTransfererLinkedid"))
    )
    second = model.call_of_channel(second_uid) or model.resolve(
        clean(msg.get("SecondTransfererLinkedid"))
    )
    holder = model.call_of_channel(clean(msg.get("TransfereeUniqueid")))
    survivor = holder or first or second
    if survivor is None:
        return
    from_ext = _extension_of_party(
        model,
        first or survivor,
        orig_uid,
        clean(msg.get("OrigTransfererChannel")),
        clean(msg.get("OrigTransfererCallerIDNum")),
    )
    target_call = model.call_of_channel(target_uid) or second
    to_ext = _extension_of_party(
        model,
        target_call,
        target_uid,
        clean(msg.get("TransferTargetChannel")),
        clean(msg.get("TransferTargetCallerIDNum")),
    )
    if to_ext is None and second is not None:
        answered = [ext for ext in second.answered_agents if ext != from_ext]
        to_ext = answered[-1] if answered else second.called
    for other in (first, second):
        if other is not None and other is not survivor:
            model.merge(survivor, other, at, out)
    if to_ext is not None and to_ext in survivor.legs:
        survivor.answered_by = to_ext
        if not survivor.answered_agents or survivor.answered_agents[-1] != to_ext:
            survivor.answered_agents.append(to_ext)
    key = ("attended", orig_uid or "", second_uid or "")
    model.transfer(survivor, "attended", key, from_ext, to_ext, at, out)


def _pickup(model: PbxCalls, msg: AmiMessage, at: float, out: list[CallEvent]) -> None:
    """A phone picked up a call ringing elsewhere; the ringing channel becomes that phone."""
    found = model.ensure_channel(msg, "Target", at, out, create=False)
    name = clean(msg.get("Channel"))
    if found is None or name is None:
        return
    call, target = found
    interface = interface_of(name)
    if is_trunk(interface, model.config):
        return
    ext = extension_of(interface, clean(msg.get("CallerIDNum")), model.config)
    picker = model.call_of_channel(clean(msg.get("Uniqueid")))
    if picker is not None and picker is not call:
        model.merge(call, picker, at, out)  # the picking phone's own little call folds in
    model.take_over(call, target, ext, interface, at, out)


HANDLERS: dict[str, Handler] = {
    "Newchannel": _newchannel,
    "Newstate": _newstate,
    "NewCallerid": _newcallerid,
    "DialBegin": _dial_begin,
    "DialEnd": _dial_end,
    "AgentCalled": _agent_called,
    "AgentRingNoAnswer": _agent_ring_no_answer,
    "AgentConnect": _agent_connect,
    "QueueCallerJoin": _queue_caller_join,
    "QueueCallerAbandon": _queue_caller_abandon,
    "BridgeEnter": _bridge_enter,
    "HangupRequest": _hangup_request,
    "SoftHangupRequest": _hangup_request,
    "Hangup": _hangup,
    "VarSet": _var_set,
    "MixMonitorStart": _mix_monitor_start,
    "OriginateResponse": _originate_response,
    "QueueMemberStatus": _queue_member,
    "QueueMemberAdded": _queue_member,
    "QueueMember": _queue_member,
    "BlindTransfer": _blind_transfer,
    "AttendedTransfer": _attended_transfer,
    "Pickup": _pickup,
}
