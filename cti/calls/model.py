"""One PBX's live calls and the primitive moves on them: add a channel, ring, answer, stop ringing,
transfer, merge, end. Every move is idempotent and emits the call events it causes."""

from __future__ import annotations

from collections.abc import Iterable

from cti.calls.channels import (
    clean,
    extension_of,
    interface_of,
    is_local,
    is_office_trunk,
    is_trunk,
)
from cti.calls.config import CallModelConfig
from cti.calls.events import (
    AgentRinging,
    AgentStoppedRinging,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallStarted,
    CallTransferred,
    StopReason,
    TransferKind,
    TransferRecord,
)
from cti.calls.state import Call, Channel, Leg
from cti.protocol import AmiMessage


class RecentSet:
    """A set that forgets its oldest members beyond ``limit`` (ids of finished things)."""

    def __init__(self, limit: int) -> None:
        self._items: dict[str, None] = {}
        self._limit = limit

    def add(self, item: str) -> None:
        """Remember ``item``, forgetting the oldest one when full."""
        self._items[item] = None
        if len(self._items) > self._limit:
            del self._items[next(iter(self._items))]

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __len__(self) -> int:
        return len(self._items)


class PbxCalls:
    """The live calls of one PBX, keyed by (canonical) Linkedid."""

    def __init__(self, pbx: str, config: CallModelConfig, *, memory: int = 50_000) -> None:
        self.pbx = pbx
        self.config = config
        self.calls: dict[str, Call] = {}
        self.aliases: dict[str, str] = {}  # a Linkedid the PBX switched to -> our call's id
        self.channel_call: dict[str, str] = {}  # live Uniqueid -> call id
        self.dead_channels = RecentSet(memory)  # hung-up Uniqueids: late or replayed events
        self.ended_calls = RecentSet(memory)  # ended call ids: never resurrected
        self.members: dict[str, str] = {}  # queue member interface -> its StateInterface
        self.link_up = True

    # -- lookups -------------------------------------------------------------------------------

    def resolve(self, linkedid: str | None) -> Call | None:
        """The live call a Linkedid belongs to, following merges."""
        if linkedid is None:
            return None
        return self.calls.get(self.aliases.get(linkedid, linkedid))

    def call_of_channel(self, uniqueid: str | None) -> Call | None:
        """The live call a channel belongs to."""
        if uniqueid is None:
            return None
        call_id = self.channel_call.get(uniqueid)
        return None if call_id is None else self.calls.get(call_id)

    def ensure_channel(
        self, msg: AmiMessage, prefix: str, at: float, out: list[CallEvent], *, create: bool
    ) -> tuple[Call, Channel] | None:
        """The call and channel an event's ``<prefix>Uniqueid`` names, adding the channel to its
        call (and, when ``create``, creating the call) if new; None for finished channels."""
        uid = clean(msg.get(prefix + "Uniqueid"))
        if uid is None or uid in self.dead_channels:
            return None
        linkedid = clean(msg.get(prefix + "Linkedid")) or uid
        call = self.call_of_channel(uid)
        if call is not None:
            channel = call.channels[uid]
            if linkedid != channel.linkedid:
                call = self._relink(call, channel, linkedid, at, out)
            if call.called is None and uid == call.first_uid:
                # The DID or dialled number may show only once the dial plan has moved on from "s".
                exten = clean(msg.get(prefix + "Exten"))
                if exten is not None and exten != "s":
                    call.called = exten
            return call, channel
        call = self.resolve(linkedid)
        new_call = call is None
        if call is None:
            if not create or linkedid in self.ended_calls:
                return None
            call = Call(pbx=self.pbx, linkedid=linkedid, started_at=at)
            self.calls[linkedid] = call
        channel = self.make_channel(msg, prefix, uid, linkedid)
        self.add_channel(call, channel)
        if new_call:
            self.emit_started(call, at, out)
        return call, channel

    def make_channel(self, msg: AmiMessage, prefix: str, uid: str, linkedid: str) -> Channel:
        """A channel from an event's ``<prefix>Channel``, ``<prefix>CallerIDNum``, ... headers."""
        name = clean(msg.get(prefix + "Channel")) or uid
        interface = interface_of(name)
        return Channel(
            uniqueid=uid,
            name=name,
            interface=interface,
            trunk=is_trunk(interface, self.config),
            caller_num=clean(msg.get(prefix + "CallerIDNum")),
            caller_name=clean(msg.get(prefix + "CallerIDName")),
            context=clean(msg.get(prefix + "Context")),
            exten=clean(msg.get(prefix + "Exten")),
            linkedid=linkedid,
            up=msg.get(prefix + "ChannelStateDesc") == "Up",
        )

    def add_channel(self, call: Call, channel: Channel) -> None:
        """Attach a live channel; the channel whose Uniqueid is the Linkedid is the caller side."""
        call.channels[channel.uniqueid] = channel
        self.channel_call[channel.uniqueid] = call.linkedid
        if call.first_uid is None or (
            channel.uniqueid == call.linkedid and call.first_uid != channel.uniqueid
        ):
            self._set_first(call, channel)

    def _set_first(self, call: Call, channel: Channel) -> None:
        config = self.config
        call.first_uid = channel.uniqueid
        call.first_trunk = channel.trunk
        call.office_trunk = call.office_trunk or is_office_trunk(channel.interface, self.config)
        call.first_context = channel.context
        external = channel.trunk or (
            channel.context is not None and channel.context in config.inbound_contexts
        )
        if external:
            call.caller = channel.caller_num
            call.caller_ext = None
        else:
            call.caller_ext = extension_of(channel.interface, channel.caller_num, config)
            call.caller = call.caller_ext
        call.first_internal = not external and (
            (channel.context is not None and channel.context in config.internal_contexts)
            or config.is_extension(call.caller_ext)
        )
        call.caller_name = channel.caller_name
        if call.called is None and channel.exten not in (None, "s"):
            call.called = channel.exten

    # -- moves ---------------------------------------------------------------------------------

    def leg_extension(self, interface: str, channel: Channel) -> tuple[str, str]:
        """The extension and real phone interface an agent leg stands for."""
        real = self.members.get(interface, interface)
        if is_local(real) and not is_local(channel.interface):
            real = channel.interface
        caller_num = None if is_local(channel.interface) else channel.caller_num
        return extension_of(real, caller_num, self.config), real

    def ring(
        self, call: Call, channel: Channel, interface: str, at: float, out: list[CallEvent]
    ) -> None:
        """An agent phone starts ringing for the call (AgentCalled, DialBegin)."""
        if channel.uniqueid == call.first_uid or channel.trunk:
            return
        ext, real = self.leg_extension(interface, channel)
        if ext == call.caller_ext:
            return  # the calling agent's own phone (an Originate through a Local channel)
        channel.leg = ext
        channel.dialled = True
        leg = call.legs.get(ext)
        if leg is not None and channel.uniqueid in leg.channels:
            if not is_local(real):
                leg.interface = real
            return
        if leg is not None and (
            leg.state == "ringing" or (leg.state == "answered" and leg.channels)
        ):
            leg.channels.add(channel.uniqueid)
            if not is_local(real):
                leg.interface = real
            return
        if leg is None:
            leg = Leg(extension=ext, interface=real, rang_at=at)
            call.legs[ext] = leg
        else:
            leg.state, leg.stopped_at, leg.result = "ringing", None, None
            if not is_local(real):
                leg.interface = real
        leg.channels.add(channel.uniqueid)
        if ext not in call.agents_rung:
            call.agents_rung.append(ext)
        if call.ringing_at is None:
            call.ringing_at = at
        out.append(AgentRinging(self.pbx, at, call.snapshot(self.config), ext, leg.interface))

    def take_over(
        self,
        call: Call,
        channel: Channel,
        ext: str,
        interface: str,
        at: float,
        out: list[CallEvent],
    ) -> None:
        """Another phone took this ringing channel over (call pickup): it answers, the phone that
        rang stops ringing."""
        previous = call.legs.get(channel.leg) if channel.leg is not None else None
        if previous is not None and previous.extension != ext:
            previous.channels.discard(channel.uniqueid)
        leg = call.legs.get(ext)
        if leg is None:
            leg = call.legs[ext] = Leg(extension=ext, interface=interface, rang_at=at)
        elif leg.state != "answered":
            leg.state, leg.stopped_at, leg.result = "ringing", None, None
        channel.leg, channel.dialled, channel.interface = ext, True, interface
        leg.channels.add(channel.uniqueid)
        self.answer_leg(call, channel, at, out)
        if previous is not None and previous.extension != ext and not previous.channels:
            self.stop_leg(call, previous, "answered-elsewhere", at, out)

    def answer_leg(self, call: Call, channel: Channel, at: float, out: list[CallEvent]) -> None:
        """The agent behind ``channel`` picked up (Newstate Up, DialEnd ANSWER, AgentConnect)."""
        if channel.leg is None:
            return
        leg = call.legs.get(channel.leg)
        if leg is None or leg.state == "answered":
            return
        leg.state, leg.result, leg.stopped_at = "answered", "answered", at
        leg.channels.add(channel.uniqueid)
        if not is_local(channel.interface):
            leg.interface = channel.interface
        if call.answered_at is None:
            call.answered_at = at
        call.answered_by = leg.extension
        if not call.answered_agents or call.answered_agents[-1] != leg.extension:
            call.answered_agents.append(leg.extension)
        out.append(
            CallAnswered(self.pbx, at, call.snapshot(self.config), leg.extension, leg.interface)
        )

    def answer_far_end(self, call: Call, at: float, out: list[CallEvent]) -> None:
        """The far end of a call dialled out over a trunk picked up."""
        if call.far_end_answered:
            return
        call.far_end_answered = True
        if call.answered_at is None:
            call.answered_at = at
        # The far end is nobody's extension (extension None); the agent who placed the call is
        # ``call.agent`` in the snapshot.
        out.append(
            CallAnswered(self.pbx, at, call.snapshot(self.config), None, None, by_far_end=True)
        )

    def stop_leg(
        self, call: Call, leg: Leg, reason: StopReason, at: float, out: list[CallEvent]
    ) -> None:
        """An agent phone stopped ringing without that agent answering."""
        if leg.state != "ringing":
            return
        leg.state, leg.result, leg.stopped_at = "stopped", reason, at
        out.append(
            AgentStoppedRinging(
                self.pbx, at, call.snapshot(self.config), leg.extension, leg.interface, reason
            )
        )

    def transfer(
        self,
        call: Call,
        kind: TransferKind,
        key: tuple[str, ...],
        from_ext: str | None,
        to_ext: str | None,
        at: float,
        out: list[CallEvent],
    ) -> None:
        """Record a transfer once (``key`` identifies it) and tell consumers the call moved."""
        if key in call.transfer_keys:
            return
        call.transfer_keys.add(key)
        call.transfers.append(TransferRecord(kind, from_ext, to_ext, at))
        out.append(
            CallTransferred(self.pbx, at, call.snapshot(self.config), from_ext, to_ext, kind)
        )

    def hang_up(
        self,
        call: Call,
        channel: Channel,
        cause: tuple[int | None, str | None] | None,
        at: float,
        out: list[CallEvent],
    ) -> None:
        """A channel is gone; the call ends with its last channel."""
        uid = channel.uniqueid
        call.channels.pop(uid, None)
        self.channel_call.pop(uid, None)
        self.dead_channels.add(uid)
        if cause is not None:
            call.last_cause = cause
            if uid == call.first_uid:
                call.first_cause = cause
        if uid == call.first_uid:
            call.caller_gone = True
        if channel.leg is not None:
            leg = call.legs.get(channel.leg)
            if leg is not None:
                leg.channels.discard(uid)
                if leg.state == "ringing" and not leg.channels:
                    reason = call.stop_reason(None, cause[0] if cause else None)
                    self.stop_leg(call, leg, reason, at, out)
        if not call.channels:
            self.end(call, at, out)

    def end(self, call: Call, at: float, out: list[CallEvent]) -> None:
        """Close the call: stop what still rings, decide the outcome, forget its channels."""
        if call.linkedid not in self.calls:
            return
        for leg in call.legs.values():
            if leg.state == "ringing":
                reason: StopReason = "answered-elsewhere" if call.answered else "caller-gone"
                self.stop_leg(call, leg, reason, at, out)
        call.ended_at = max(at, call.started_at)
        call.outcome = call.decide_outcome(self.config)
        call.stale = False
        for uid in call.channels:
            self.channel_call.pop(uid, None)
            self.dead_channels.add(uid)
        call.channels.clear()
        del self.calls[call.linkedid]
        self.ended_calls.add(call.linkedid)
        for alias in (*call.merged, *call.aliases):
            self.aliases.pop(alias, None)
            self.ended_calls.add(alias)
        out.append(CallEnded(self.pbx, call.ended_at, call.snapshot(self.config), call.outcome))

    def emit_started(self, call: Call, at: float, out: list[CallEvent]) -> None:
        """Announce a new call."""
        out.append(CallStarted(self.pbx, at, call.snapshot(self.config)))

    # -- merges --------------------------------------------------------------------------------

    def _relink(
        self, call: Call, channel: Channel, linkedid: str, at: float, out: list[CallEvent]
    ) -> Call:
        """The PBX moved a channel to another Linkedid: fold the two calls into one."""
        channel.linkedid = linkedid
        other = self.resolve(linkedid)
        if other is None:
            if linkedid != call.linkedid and linkedid not in call.aliases:
                self.aliases[linkedid] = call.linkedid
                call.aliases.append(linkedid)
            return call
        if other is call:
            return call
        survivor, absorbed = (other, call) if other.started_at <= call.started_at else (call, other)
        self.merge(survivor, absorbed, at, out)
        return survivor

    def merge(self, survivor: Call, absorbed: Call, at: float, out: list[CallEvent]) -> None:
        """Fold ``absorbed`` into ``survivor``: its channels and legs move, it ends as merged."""
        if survivor is absorbed or absorbed.linkedid not in self.calls:
            return
        absorbed.merged_into = survivor.linkedid
        absorbed.ended_at = max(at, absorbed.started_at)
        absorbed.outcome = absorbed.decide_outcome(self.config)
        final = absorbed.snapshot(self.config)
        del self.calls[absorbed.linkedid]
        for uid, channel in absorbed.channels.items():
            survivor.channels[uid] = channel
            self.channel_call[uid] = survivor.linkedid
        absorbed.channels.clear()
        for alias in (absorbed.linkedid, *absorbed.merged, *absorbed.aliases):
            self.aliases[alias] = survivor.linkedid
            if alias not in survivor.merged:
                survivor.merged.append(alias)
        out.append(CallEnded(self.pbx, absorbed.ended_at, final, absorbed.outcome))
        survivor.queue = survivor.queue or absorbed.queue
        survivor.recording = survivor.recording or absorbed.recording
        survivor.trunk_dialled = survivor.trunk_dialled or absorbed.trunk_dialled
        survivor.office_trunk = survivor.office_trunk or absorbed.office_trunk
        for ext in absorbed.agents_rung:
            if ext not in survivor.agents_rung:
                survivor.agents_rung.append(ext)
        self._merge_legs(survivor, absorbed.legs.values(), at, out)

    def _merge_legs(
        self, survivor: Call, legs: Iterable[Leg], at: float, out: list[CallEvent]
    ) -> None:
        for leg in legs:
            mine = survivor.legs.get(leg.extension)
            if mine is None:
                survivor.legs[leg.extension] = leg
                if leg.state == "ringing":
                    snapshot = survivor.snapshot(self.config)
                    out.append(AgentRinging(self.pbx, at, snapshot, leg.extension, leg.interface))
                continue
            mine.channels |= leg.channels
            if leg.state == "answered" and mine.state != "answered":
                mine.state, mine.result, mine.stopped_at = "answered", "answered", leg.stopped_at
            elif leg.state == "ringing" and mine.state == "stopped":
                mine.state, mine.result, mine.stopped_at = "ringing", None, None
                snapshot = survivor.snapshot(self.config)
                out.append(AgentRinging(self.pbx, at, snapshot, mine.extension, mine.interface))
