"""Build AMI event sequences shaped like Asterisk 22's: channels, dial, queue, bridge, hangup.

A ``CallBuilder`` keeps a clock offset and the channels of one call; its methods append events with
the same names, fields and field order as the captures in tests/fixtures/ami. Flows
(:mod:`cti.sim.flows`) compose these calls into whole scenarios.
"""

from __future__ import annotations

import itertools
import time
import uuid
from dataclasses import dataclass, field

Event = dict[str, str]

_STATE_DESC = {"0": "Down", "4": "Ring", "5": "Ringing", "6": "Up"}
_UNKNOWN = "<unknown>"


class IdSource:
    """Uniqueids (``<epoch>.<n>``) and channel suffixes (8 hex digits) unique per simulator.

    With a ``system_name`` (``systemname`` in asterisk.conf) the ids read ``<name>-<epoch>.<n>``,
    as Asterisk writes them: two PBXs started in the same second never share a Linkedid.
    """

    def __init__(self, epoch: int | None = None, *, system_name: str | None = None) -> None:
        self.epoch = int(time.time()) if epoch is None else epoch
        self.prefix = f"{system_name}-" if system_name else ""
        self._counter = itertools.count()

    def next(self) -> int:
        return next(self._counter)

    def uniqueid(self, n: int) -> str:
        return f"{self.prefix}{self.epoch}.{n}"


@dataclass
class Channel:
    """One simulated channel and the fields Asterisk repeats in every event about it."""

    name: str
    uniqueid: str
    linkedid: str
    caller_num: str
    caller_name: str
    context: str
    exten: str
    state: str = "4"
    priority: str = "1"
    connected_num: str = _UNKNOWN
    connected_name: str = _UNKNOWN
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def device(self) -> str:
        """The device behind the channel: ``PJSIP/101`` for ``PJSIP/101-0000001f``."""
        return self.name.rsplit("-", 1)[0]

    def block(self, prefix: str = "") -> Event:
        return {
            f"{prefix}Channel": self.name,
            f"{prefix}ChannelState": self.state,
            f"{prefix}ChannelStateDesc": _STATE_DESC.get(self.state, "Unknown"),
            f"{prefix}CallerIDNum": self.caller_num,
            f"{prefix}CallerIDName": self.caller_name,
            f"{prefix}ConnectedLineNum": self.connected_num,
            f"{prefix}ConnectedLineName": self.connected_name,
            f"{prefix}Language": "en",
            f"{prefix}AccountCode": "",
            f"{prefix}Context": self.context,
            f"{prefix}Exten": self.exten,
            f"{prefix}Priority": self.priority,
            f"{prefix}Uniqueid": self.uniqueid,
            f"{prefix}Linkedid": self.linkedid,
        }


@dataclass(frozen=True, slots=True)
class Step:
    """Events sent together ``at`` seconds after the flow starts."""

    at: float
    events: tuple[Event, ...]


class CallBuilder:
    """Append the events of one call, advancing a clock offset between phases."""

    def __init__(self, ids: IdSource) -> None:
        self.ids = ids
        self.t = 0.0
        self.steps: list[Step] = []
        self._pending: list[Event] = []
        self.linkedid: str | None = None

    # --- timing -------------------------------------------------------------------------
    def wait(self, seconds: float) -> None:
        """Close the current step and move the clock on."""
        self._flush()
        self.t += max(0.0, seconds)

    def build(self) -> list[Step]:
        self._flush()
        return self.steps

    def _flush(self) -> None:
        if self._pending:
            self.steps.append(Step(self.t, tuple(self._pending)))
            self._pending = []

    def emit(self, name: str, privilege: str, fields: Event) -> Event:
        event = {"Event": name, "Privilege": privilege, **fields}
        self._pending.append(event)
        return event

    # --- channels -----------------------------------------------------------------------
    def channel(
        self,
        device: str,
        *,
        caller_num: str,
        caller_name: str = _UNKNOWN,
        context: str,
        exten: str,
        state: str = "4",
        linkedid: str | None = None,
    ) -> Channel:
        """Create a channel and send Newchannel (the first one's Uniqueid becomes the Linkedid)."""
        n = self.ids.next()
        uniqueid = self.ids.uniqueid(n)
        if self.linkedid is None:
            self.linkedid = uniqueid
        chan = Channel(
            name=f"{device}-{n:08x}",
            uniqueid=uniqueid,
            linkedid=linkedid or self.linkedid,
            caller_num=caller_num,
            caller_name=caller_name,
            context=context,
            exten=exten,
            state=state,
        )
        self.emit("Newchannel", "call,all", chan.block())
        return chan

    def varset(self, chan: Channel, variable: str, value: str = "") -> None:
        self.emit("VarSet", "dialplan,all", {**chan.block(), "Variable": variable, "Value": value})

    def varsets(self, chan: Channel, pairs: list[tuple[str, str]]) -> None:
        for variable, value in pairs:
            self.varset(chan, variable, value)

    def newexten(self, chan: Channel, application: str, data: str, priority: int = 1) -> None:
        chan.priority = str(priority)
        self.emit(
            "Newexten",
            "dialplan,all",
            {**chan.block(), "Extension": chan.exten, "Application": application, "AppData": data},
        )

    def newstate(self, chan: Channel, state: str) -> None:
        chan.state = state
        self.emit("Newstate", "call,all", chan.block())

    def connected_line(self, chan: Channel, num: str, name: str = _UNKNOWN) -> None:
        chan.connected_num, chan.connected_name = num, name
        self.emit("NewConnectedLine", "call,all", chan.block())

    def new_callerid(self, chan: Channel, num: str, name: str = _UNKNOWN) -> None:
        chan.caller_num, chan.caller_name = num, name
        self.emit(
            "NewCallerid",
            "call,all",
            {**chan.block(), "CID-CallingPres": "0 (Presentation Allowed, Not Screened)"},
        )

    def device_state(self, device: str, state: str) -> None:
        self.emit("DeviceStateChange", "call,all", {"Device": device, "State": state})

    # --- dialling -----------------------------------------------------------------------
    def dial_begin(self, src: Channel | None, dst: Channel, dial_string: str) -> None:
        fields = src.block() if src else {}
        self.emit(
            "DialBegin", "call,all", {**fields, **dst.block("Dest"), "DialString": dial_string}
        )

    def dial_state(self, src: Channel | None, dst: Channel, status: str = "RINGING") -> None:
        fields = src.block() if src else {}
        self.emit("DialState", "call,all", {**fields, **dst.block("Dest"), "DialStatus": status})

    def dial_end(self, src: Channel | None, dst: Channel, status: str) -> None:
        fields = src.block() if src else {}
        self.emit("DialEnd", "call,all", {**fields, **dst.block("Dest"), "DialStatus": status})

    # --- queues -------------------------------------------------------------------------
    def queue_event(self, name: str, caller: Channel, queue: str, **extra: str) -> None:
        self.emit(name, "agent,all", {**caller.block(), "Queue": queue, **extra})

    def agent_event(
        self, name: str, caller: Channel, agent: Channel, queue: str, member: str, **extra: str
    ) -> None:
        self.emit(
            name,
            "agent,all",
            {
                **caller.block(),
                **agent.block("Dest"),
                "Queue": queue,
                "Interface": agent.device,
                "MemberName": member,
                **extra,
            },
        )

    def member_status(
        self, queue: str, device: str, member: str, status: str, in_call: str
    ) -> None:
        self.emit(
            "QueueMemberStatus",
            "agent,all",
            {
                "Queue": queue,
                "MemberName": member,
                "Interface": device,
                "StateInterface": device,
                "Membership": "static",
                "Penalty": "0",
                "CallsTaken": "0",
                "LastCall": "0",
                "LastPause": "0",
                "LoginTime": str(self.ids.epoch),
                "InCall": in_call,
                "Status": status,
                "Paused": "0",
                "PausedReason": "",
                "Ringinuse": "0",
                "Wrapuptime": "0",
            },
        )

    # --- bridges and hangups ------------------------------------------------------------
    def bridge(self, *chans: Channel) -> str:
        """Create a basic bridge and put ``chans`` in it; return its id."""
        bridge_id = str(uuid.uuid4())
        self.emit("BridgeCreate", "call,all", _bridge_fields(bridge_id, 0))
        for count, chan in enumerate(chans, start=1):
            chan.extra["BridgeId"] = bridge_id
            self.emit(
                "BridgeEnter", "call,all", {**_bridge_fields(bridge_id, count), **chan.block()}
            )
        peers = list(chans)
        for chan in peers:
            other = next((c for c in peers if c is not chan), None)
            if other is not None:
                self.varsets(
                    chan, [("BRIDGEPEER", other.name), ("BRIDGEPVTCALLID", str(uuid.uuid4()))]
                )
        return bridge_id

    def unbridge(self, bridge_id: str, *chans: Channel) -> None:
        """Take ``chans`` out of the bridge and destroy it."""
        remaining = len(chans)
        for chan in chans:
            remaining -= 1
            self.varsets(chan, [("BRIDGEPEER", ""), ("BRIDGEPVTCALLID", "")])
            chan.extra.pop("BridgeId", None)
            self.emit(
                "BridgeLeave", "call,all", {**_bridge_fields(bridge_id, remaining), **chan.block()}
            )
        self.emit("BridgeDestroy", "call,all", _bridge_fields(bridge_id, 0))

    def rtp_qos(self, chan: Channel, bridged_peer: Channel | None = None) -> None:
        """The RTP quality variables Asterisk sets on a media channel at hangup (and the
        ``...BRIDGED`` copies on the peer it was bridged to)."""
        stats = "ssrc=483047609;themssrc=0;lp=0;rxjitter=0.000000;rxcount=0;txjitter=0.000000"
        pairs = [
            ("RTPAUDIOQOS", stats),
            ("RTPAUDIOQOSJITTER", "minrxjitter=000.000000;maxrxjitter=000.000000"),
            ("RTPAUDIOQOSLOSS", "  minrxlost=000.000000;  maxrxlost=000.000000"),
            ("RTPAUDIOQOSRTT", "     minrtt=000.000000;     maxrtt=000.000000"),
            ("RTPAUDIOQOSMES", "   minrxmes=000.000000;   maxrxmes=000.000000"),
        ]
        for variable, value in pairs:
            self.varset(chan, variable, value)
            if bridged_peer is not None:
                self.varset(bridged_peer, f"{variable}BRIDGED", value)

    def hangup(self, chan: Channel, cause: str = "16", text: str = "Normal Clearing") -> None:
        self.emit("Hangup", "call,all", {**chan.block(), "Cause": cause, "Cause-txt": text})

    def hangup_request(self, chan: Channel, cause: str = "16") -> None:
        self.emit("HangupRequest", "call,all", {**chan.block(), "Cause": cause})
        self.emit("SoftHangupRequest", "call,all", {**chan.block(), "Cause": cause})

    def cdr(
        self, src: Channel, dst: Channel | None, disposition: str, duration: float, billable: float
    ) -> None:
        self.emit(
            "Cdr",
            "cdr,all",
            {
                "AccountCode": "",
                "Source": src.caller_num,
                "Destination": src.exten,
                "DestinationContext": src.context,
                "CallerID": f'"{src.caller_name}" <{src.caller_num}>',
                "Channel": src.name,
                "DestinationChannel": dst.name if dst else "",
                "LastApplication": "Dial",
                "LastData": "",
                "StartTime": "",
                "AnswerTime": "",
                "EndTime": "",
                "Duration": str(round(duration)),
                "BillableSeconds": str(round(billable)),
                "Disposition": disposition,
                "AMAFlags": "DOCUMENTATION",
                "UniqueID": src.uniqueid,
                "UserField": "",
            },
        )


def _bridge_fields(bridge_id: str, count: int) -> Event:
    return {
        "BridgeUniqueid": bridge_id,
        "BridgeType": "basic",
        "BridgeTechnology": "simple_bridge",
        "BridgeCreator": _UNKNOWN,
        "BridgeName": _UNKNOWN,
        "BridgeNumChannels": str(count),
        "BridgeVideoSourceMode": "none",
    }
