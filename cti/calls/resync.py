"""Rebuild one PBX's calls from what it answers after a (re)connect, and close what is gone.

The snapshot holds CoreShowChannel (or Status) list events, one per live channel, and QueueStatus
list events (QueueParams, QueueMember, QueueEntry). Calls the model doesn't know are created
(marked resynced); known calls whose channels are all gone are ended; nothing is emitted twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from cti.calls.channels import clean, is_office_trunk, parse_duration
from cti.calls.events import CallEvent
from cti.calls.model import PbxCalls
from cti.calls.state import Call, Channel
from cti.protocol import AmiMessage

_CHANNEL_EVENTS = frozenset({"CoreShowChannel", "Status"})
_MEMBER_EVENTS = frozenset({"QueueMember", "QueueMemberStatus"})


def link_down(model: PbxCalls) -> None:
    """Keep every call but mark it stale until the next snapshot decides."""
    model.link_up = False
    for call in model.calls.values():
        call.stale = True


def link_up(
    model: PbxCalls, snapshot: Sequence[AmiMessage], at: float, out: list[CallEvent]
) -> None:
    """Reconcile the live calls with the PBX's snapshot taken right after (re)connecting."""
    model.link_up = True
    groups: dict[str, list[AmiMessage]] = defaultdict(list)
    queue_of_channel: dict[str, str] = {}
    for msg in snapshot:
        event = msg.event
        if event in _CHANNEL_EVENTS:
            uid = clean(msg.get("Uniqueid"))
            if uid is not None and uid not in model.dead_channels:
                groups[clean(msg.get("Linkedid")) or uid].append(msg)
        elif event == "QueueEntry":
            queue = clean(msg.get("Queue"))
            for key in (clean(msg.get("Uniqueid")), clean(msg.get("Channel"))):
                if key is not None and queue is not None:
                    queue_of_channel[key] = queue
        elif event in _MEMBER_EVENTS:
            interface = clean(msg.get("Interface")) or clean(msg.get("Location"))
            state = clean(msg.get("StateInterface"))
            if interface and state and interface != state:
                model.members[interface] = state

    live_uids = {clean(m.get("Uniqueid")) for group in groups.values() for m in group}
    matched: set[str] = set()
    for call in list(model.calls.values()):
        if call.linkedid not in model.calls:
            continue  # merged away while reconciling an earlier call
        mine = [lid for lid, group in groups.items() if _belongs(model, call, lid, group)]
        if not mine:
            _close(model, call, at, out)
            continue
        matched.update(mine)
        for uid, channel in list(call.channels.items()):
            if uid not in live_uids:
                model.hang_up(call, channel, None, at, out)  # hung up while we were away
        if call.linkedid in model.calls:
            for lid in mine:
                _add_channels(model, call, groups[lid], queue_of_channel, at, out)
            call.stale = False

    for linkedid, group in groups.items():
        if linkedid not in matched and linkedid not in model.ended_calls:
            _create(model, linkedid, group, queue_of_channel, at, out)


def _belongs(model: PbxCalls, call: Call, linkedid: str, group: list[AmiMessage]) -> bool:
    if model.resolve(linkedid) is call:
        return True
    return any(clean(m.get("Uniqueid")) in call.channels for m in group)


def _close(model: PbxCalls, call: Call, at: float, out: list[CallEvent]) -> None:
    """The PBX no longer has any channel of this call: it ended while we were away."""
    for channel in list(call.channels.values()):
        if call.linkedid not in model.calls:
            return
        model.hang_up(call, channel, None, at, out)
    model.end(call, at, out)  # no-op unless the call somehow had no channel left


def _first_of(linkedid: str, group: list[AmiMessage], model: PbxCalls) -> AmiMessage:
    for msg in group:
        if clean(msg.get("Uniqueid")) == linkedid:
            return msg
    for msg in group:
        channel = model.make_channel(msg, "", clean(msg.get("Uniqueid")) or "", linkedid)
        if channel.trunk:
            return msg
    return group[0]


def _create(
    model: PbxCalls,
    linkedid: str,
    group: list[AmiMessage],
    queue_of_channel: dict[str, str],
    at: float,
    out: list[CallEvent],
) -> None:
    first = _first_of(linkedid, group, model)
    ages = [parse_duration(m.get("Duration") or m.get("Seconds")) for m in group]
    age = max((a for a in ages if a is not None), default=0.0)
    call = Call(pbx=model.pbx, linkedid=linkedid, started_at=at - age, resynced=True)
    model.calls[linkedid] = call
    first_uid = clean(first.get("Uniqueid")) or linkedid
    model.add_channel(call, model.make_channel(first, "", first_uid, linkedid))
    call.first_uid = first_uid
    application = clean(first.get("Application")) or ""
    if application.lower() == "queue":
        data = clean(first.get("ApplicationData")) or clean(first.get("Data")) or ""
        call.queue = data.split(",", 1)[0] or None
    model.emit_started(call, at, out)
    _add_channels(model, call, group, queue_of_channel, at, out)


def _add_channels(
    model: PbxCalls,
    call: Call,
    group: list[AmiMessage],
    queue_of_channel: dict[str, str],
    at: float,
    out: list[CallEvent],
) -> None:
    """Add the snapshot's channels to a call: agent phones ring or talk, trunks dialled out."""
    for msg in group:
        uid = clean(msg.get("Uniqueid"))
        if uid is None:
            continue
        channel: Channel | None = call.channels.get(uid)
        if channel is None:
            channel = model.make_channel(msg, "", uid, clean(msg.get("Linkedid")) or uid)
            model.add_channel(call, channel)
        queue = queue_of_channel.get(uid) or queue_of_channel.get(channel.name)
        call.queue = call.queue or queue
        if uid == call.first_uid:
            continue
        state = msg.get("ChannelStateDesc")
        channel.dialled = True
        if channel.trunk:
            call.trunk_dialled = True
            call.office_trunk = call.office_trunk or is_office_trunk(
                channel.interface, model.config
            )
            if state == "Up":
                model.answer_far_end(call, at, out)
            continue
        if state in ("Ringing", "Up") and channel.leg is None:
            model.ring(call, channel, channel.interface, at, out)
        if state == "Up" and channel.leg is not None:
            channel.up = True
            model.answer_leg(call, channel, at, out)
