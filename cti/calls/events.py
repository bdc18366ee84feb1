"""The public call events the live call model emits, and the immutable call snapshot each carries.

Consumers (screen pops, call-to-deal rules, call logs) read only these types. They are frozen and
JSON-serialisable (``to_dict``). Changes here are additive only: new optional fields, new kinds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeAlias

Direction: TypeAlias = Literal["inbound", "outbound", "internal", "unknown"]
"""Inbound: arrived on a trunk or an inbound context. Outbound: left through a trunk. Internal:
agent to agent. Unknown: not enough seen yet (e.g. resynced from a bare snapshot)."""

CallState: TypeAlias = Literal["dialing", "ringing", "answered", "ended"]
"""Dialing: started, no agent phone ringing yet (dial plan, queue wait, outbound ringing out).
Ringing: at least one agent leg rings and nobody answered. Answered: in conversation."""

Outcome: TypeAlias = Literal["answered", "missed", "abandoned", "busy", "failed", "no-answer"]
"""How a call ended (see docs/CALLS.md): answered by someone; missed (rang, caller hung up, no
queue); abandoned (caller left a queue); busy; failed (unreachable, congestion); no-answer
(rang out on a timeout, or an outbound call the far end never picked up)."""

StopReason: TypeAlias = Literal["answered-elsewhere", "no-answer", "busy", "caller-gone", "failed"]
"""Why an agent's phone stopped ringing without that agent answering."""

TransferKind: TypeAlias = Literal["blind", "attended"]

AgentActivity: TypeAlias = Literal["idle", "ringing", "in-call"]


@dataclass(frozen=True, slots=True)
class AgentLeg:
    """One agent phone that rang for the call."""

    extension: str  # "101"
    interface: str  # the real phone, "PJSIP/101" (a Local queue member maps to its StateInterface)
    rang_at: float
    stopped_at: float | None = None
    # None while ringing; "answered" when this agent picked up, else a StopReason.
    result: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {
            "extension": self.extension,
            "interface": self.interface,
            "rang_at": self.rang_at,
            "stopped_at": self.stopped_at,
            "result": self.result,
        }


@dataclass(frozen=True, slots=True)
class TransferRecord:
    """The call moved from one agent to another."""

    kind: TransferKind
    from_extension: str | None
    to_extension: str | None
    at: float

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {
            "kind": self.kind,
            "from": self.from_extension,
            "to": self.to_extension,
            "at": self.at,
        }


@dataclass(frozen=True, slots=True)
class CallSnapshot:
    """Everything known about one call at one moment; never changes once made."""

    pbx: str
    linkedid: str
    direction: Direction
    state: CallState
    caller: str | None = None  # number as the PBX gave it (E.164 normalisation is downstream)
    caller_name: str | None = None
    called: str | None = None  # the dialled number: the DID for inbound, the customer for outbound
    queue: str | None = None
    agents_rung: tuple[str, ...] = ()  # extensions, in the order they first rang
    legs: tuple[AgentLeg, ...] = ()
    ringing: tuple[str, ...] = ()  # extensions ringing right now
    answered_by: str | None = None  # the agent extension holding the call (follows transfers)
    answered_agents: tuple[str, ...] = ()  # every agent extension that answered, in order
    agent: str | None = None  # our side of the call: answering agent, or the agent who placed it
    transfers: tuple[TransferRecord, ...] = ()
    started_at: float | None = None
    ringing_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    outcome: Outcome | None = None  # set once the call ended
    hangup_cause: int | None = None
    hangup_cause_text: str | None = None
    recording: str | None = None
    resynced: bool = False  # first learnt from a snapshot after a (re)connect
    stale: bool = False  # the link is down: state may be outdated until the next resync
    merged_linkedids: tuple[str, ...] = ()  # former Linkedids folded into this call
    originated: bool = False  # placed by an AMI Originate (click-to-call)
    merged_into: str | None = None  # set on the final snapshot of a call folded into another
    extra: tuple[tuple[str, str], ...] = field(default=())  # reserved for additive details

    @property
    def did(self) -> str | None:
        """The number the customer dialled, for inbound calls."""
        return self.called if self.direction == "inbound" else None

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end (or None while the call is live)."""
        if self.started_at is None or self.ended_at is None:
            return None
        return round(max(0.0, self.ended_at - self.started_at), 3)

    @property
    def talk_s(self) -> float | None:
        """Seconds from the first answer to the end, when answered and ended."""
        if self.answered_at is None or self.ended_at is None:
            return None
        return round(max(0.0, self.ended_at - self.answered_at), 3)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (lists for tuples)."""
        return {
            "pbx": self.pbx,
            "linkedid": self.linkedid,
            "direction": self.direction,
            "state": self.state,
            "caller": self.caller,
            "caller_name": self.caller_name,
            "called": self.called,
            "did": self.did,
            "queue": self.queue,
            "agents_rung": list(self.agents_rung),
            "legs": [leg.to_dict() for leg in self.legs],
            "ringing": list(self.ringing),
            "answered_by": self.answered_by,
            "answered_agents": list(self.answered_agents),
            "agent": self.agent,
            "transfers": [t.to_dict() for t in self.transfers],
            "started_at": self.started_at,
            "ringing_at": self.ringing_at,
            "answered_at": self.answered_at,
            "ended_at": self.ended_at,
            "duration_s": self.duration_s,
            "talk_s": self.talk_s,
            "outcome": self.outcome,
            "hangup_cause": self.hangup_cause,
            "hangup_cause_text": self.hangup_cause_text,
            "recording": self.recording,
            "resynced": self.resynced,
            "stale": self.stale,
            "merged_linkedids": list(self.merged_linkedids),
            "originated": self.originated,
            "merged_into": self.merged_into,
        }


@dataclass(frozen=True, slots=True)
class _CallEventBase:
    pbx: str
    at: float  # seconds since the epoch: the AMI event's own time when known
    call: CallSnapshot

    kind: ClassVar[str] = "call"

    @property
    def linkedid(self) -> str:
        """The call this event is about."""
        return self.call.linkedid

    def _fields(self) -> dict[str, Any]:
        return {}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: kind, pbx, at, the event's own fields and the call snapshot."""
        return {
            "kind": self.kind,
            "pbx": self.pbx,
            "at": self.at,
            **self._fields(),
            "call": self.call.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class CallStarted(_CallEventBase):
    """A new call appeared (first channel seen, or found in a resync snapshot)."""

    kind: ClassVar[str] = "call-started"


@dataclass(frozen=True, slots=True)
class AgentRinging(_CallEventBase):
    """An agent's phone started ringing for this call: show the ringing card there."""

    extension: str
    interface: str

    kind: ClassVar[str] = "agent-ringing"

    def _fields(self) -> dict[str, Any]:
        return {"extension": self.extension, "interface": self.interface}


@dataclass(frozen=True, slots=True)
class AgentStoppedRinging(_CallEventBase):
    """An agent's phone stopped ringing without that agent answering: withdraw the card."""

    extension: str
    interface: str
    reason: StopReason

    kind: ClassVar[str] = "agent-stopped-ringing"

    def _fields(self) -> dict[str, Any]:
        return {"extension": self.extension, "interface": self.interface, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class CallAnswered(_CallEventBase):
    """The call was answered: by agent ``extension``, or by the far end (extension None).

    When the far end of a call dialled out over a trunk picks up, ``by_far_end`` is true and the
    agent who placed the call is the snapshot's ``agent``. After a blind transfer the new agent's
    answer is a second CallAnswered.
    """

    extension: str | None
    interface: str | None = None
    by_far_end: bool = False

    kind: ClassVar[str] = "call-answered"

    def _fields(self) -> dict[str, Any]:
        return {
            "extension": self.extension,
            "interface": self.interface,
            "by_far_end": self.by_far_end,
        }


@dataclass(frozen=True, slots=True)
class CallTransferred(_CallEventBase):
    """The call moved from one agent to another; the card follows ``to_extension``."""

    from_extension: str | None
    to_extension: str | None
    transfer_kind: TransferKind

    kind: ClassVar[str] = "call-transferred"

    def _fields(self) -> dict[str, Any]:
        return {
            "from": self.from_extension,
            "to": self.to_extension,
            "transfer_kind": self.transfer_kind,
        }


@dataclass(frozen=True, slots=True)
class CallEnded(_CallEventBase):
    """The call's last channel hung up (or a resync found it gone); final snapshot attached."""

    outcome: Outcome

    kind: ClassVar[str] = "call-ended"

    def _fields(self) -> dict[str, Any]:
        return {"outcome": self.outcome}


CallEvent: TypeAlias = (
    CallStarted | AgentRinging | AgentStoppedRinging | CallAnswered | CallTransferred | CallEnded
)


@dataclass(frozen=True, slots=True)
class AgentState:
    """What one agent extension is doing right now."""

    extension: str
    activity: AgentActivity
    linkedids: tuple[str, ...] = ()  # calls ringing at it or in conversation with it

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict."""
        return {
            "extension": self.extension,
            "activity": self.activity,
            "linkedids": list(self.linkedids),
        }
