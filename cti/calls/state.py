"""The model's mutable insides: channels, agent legs and calls, and how a call becomes a snapshot.

Only the tracker mutates these; consumers see frozen ``CallSnapshot`` copies.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from cti.calls.config import CallModelConfig
from cti.calls.events import (
    AgentLeg,
    CallSnapshot,
    CallState,
    Direction,
    Outcome,
    StopReason,
    TransferRecord,
)

LegState = Literal["ringing", "answered", "stopped"]

# Hangup causes (Q.850) that mean the call could not be placed at all.
_FAILURE_CAUSES = frozenset({1, 2, 3, 20, 21, 22, 27, 28, 31, 34, 38, 41, 42, 44, 47, 58, 88})
_FAILED_DIAL = frozenset({"CHANUNAVAIL", "CONGESTION", "DONTCALL", "TORTURE", "INVALIDARGS"})


@dataclass(slots=True)
class Channel:
    """One Asterisk channel of a call."""

    uniqueid: str
    name: str
    interface: str  # "PJSIP/101", "PJSIP/trunk", "Local/101@from-queue"
    trunk: bool
    caller_num: str | None
    caller_name: str | None
    context: str | None
    exten: str | None
    linkedid: str
    up: bool = False
    leg: str | None = None  # the agent extension this channel rings or talks for
    dialled: bool = False  # a Dial/Queue destination (not the caller side)


@dataclass(slots=True)
class Leg:
    """One agent's phone for a call, whatever channels it took (Local halves, PJSIP)."""

    extension: str
    interface: str
    rang_at: float
    channels: set[str] = field(default_factory=set)
    state: LegState = "ringing"
    stopped_at: float | None = None
    result: str | None = None

    def frozen(self) -> AgentLeg:
        """An immutable copy for snapshots."""
        result = self.result if self.state != "ringing" else None
        return AgentLeg(self.extension, self.interface, self.rang_at, self.stopped_at, result)


@dataclass(slots=True)
class Call:
    """Everything the model knows about one call (one Linkedid, plus any merged into it)."""

    pbx: str
    linkedid: str
    started_at: float
    channels: dict[str, Channel] = field(default_factory=dict)  # live channels by Uniqueid
    first_uid: str | None = None
    first_trunk: bool = False
    first_context: str | None = None
    first_internal: bool = False  # the caller side is an agent phone or in an internal context
    caller: str | None = None
    caller_name: str | None = None
    caller_ext: str | None = None  # set when the call was placed from an agent phone
    called: str | None = None
    queue: str | None = None
    legs: dict[str, Leg] = field(default_factory=dict)
    agents_rung: list[str] = field(default_factory=list)
    answered_by: str | None = None
    answered_agents: list[str] = field(default_factory=list)
    far_end_answered: bool = False
    trunk_dialled: bool = False
    # Came in over, or went out through, a trunk to another office: a colleague's call.
    office_trunk: bool = False
    transfers: list[TransferRecord] = field(default_factory=list)
    transfer_keys: set[tuple[str, ...]] = field(default_factory=set)
    ringing_at: float | None = None
    answered_at: float | None = None
    ended_at: float | None = None
    outcome: Outcome | None = None
    first_cause: tuple[int | None, str | None] | None = None
    last_cause: tuple[int | None, str | None] | None = None
    dial_statuses: set[str] = field(default_factory=set)
    abandoned: bool = False
    caller_gone: bool = False
    recording: str | None = None
    resynced: bool = False
    stale: bool = False
    originated: bool = False
    merged: list[str] = field(default_factory=list)  # call ids folded into this one
    aliases: list[str] = field(default_factory=list)  # Linkedids the PBX moved our channels to
    merged_into: str | None = None

    @property
    def answered(self) -> bool:
        """True once an agent or the far end picked up."""
        return self.answered_at is not None

    def direction(self, config: CallModelConfig) -> Direction:
        """Inbound from a trunk or inbound context; from an agent phone, outbound when it dials a
        trunk or a customer number, else internal; unknown when the caller side is neither. A call
        over an inter-office trunk is internal on both sides, whatever numbers it carries."""
        if self.office_trunk:
            return "internal"
        if self.first_trunk or (
            self.first_context is not None and self.first_context in config.inbound_contexts
        ):
            return "inbound"
        if not self.first_internal:
            return "unknown"
        if self.trunk_dialled or config.is_external_number(self.called):
            return "outbound"
        return "internal"

    def state(self) -> CallState:
        """Dialing, ringing, answered or ended; never moves backwards."""
        if self.ended_at is not None:
            return "ended"
        if self.answered:
            return "answered"
        if self.agents_rung:
            return "ringing"
        return "dialing"

    def agent(self, config: CallModelConfig) -> str | None:
        """The agent the call belongs to on our side."""
        if self.answered_by is not None and self.direction(config) != "outbound":
            return self.answered_by
        return self.caller_ext or self.answered_by

    def decide_outcome(self, config: CallModelConfig) -> Outcome:
        """How the call ended, from everything seen (see docs/CALLS.md)."""
        if self.answered:
            return "answered"
        if self.abandoned:
            return "abandoned"
        outbound = self.direction(config) == "outbound"
        results = {leg.result for leg in self.legs.values() if leg.result not in (None, "answered")}
        if results:
            if results & {"caller-gone", "answered-elsewhere"}:
                return "no-answer" if outbound else "missed"
            if "no-answer" in results:
                return "no-answer"
            return "busy" if "busy" in results else "failed"
        causes = {c[0] for c in (self.first_cause, self.last_cause) if c is not None}
        if "BUSY" in self.dial_statuses or 17 in causes:
            return "busy"
        if self.dial_statuses & _FAILED_DIAL or causes & _FAILURE_CAUSES:
            return "failed"
        if "NOANSWER" in self.dial_statuses or 19 in causes or outbound:
            return "no-answer"
        return "missed"

    def stop_reason(self, dial_status: str | None, cause: int | None) -> StopReason:
        """Why a leg stopped ringing, from a DialEnd status or a Hangup cause."""
        if dial_status == "BUSY" or cause == 17:
            return "busy"
        if dial_status == "NOANSWER" or cause in (18, 19):
            return "no-answer"
        if dial_status in _FAILED_DIAL or (cause is not None and cause in _FAILURE_CAUSES):
            return "failed"
        if cause == 26 or self.answered:
            return "answered-elsewhere"
        if dial_status == "CANCEL" or self.caller_gone:
            return "caller-gone"
        return "no-answer"

    def ringing_extensions(self) -> tuple[str, ...]:
        """Extensions whose phone rings for this call right now."""
        return tuple(ext for ext, leg in self.legs.items() if leg.state == "ringing")

    def snapshot(self, config: CallModelConfig) -> CallSnapshot:
        """An immutable copy of the call as it stands."""
        cause = self.first_cause or self.last_cause
        return CallSnapshot(
            pbx=self.pbx,
            linkedid=self.linkedid,
            direction=self.direction(config),
            state=self.state(),
            caller=self.caller,
            caller_name=self.caller_name,
            called=self.called if self.called != "s" else None,
            queue=self.queue,
            agents_rung=tuple(self.agents_rung),
            legs=tuple(leg.frozen() for leg in self.legs.values()),
            ringing=self.ringing_extensions(),
            answered_by=self.answered_by,
            answered_agents=tuple(self.answered_agents),
            agent=self.agent(config),
            transfers=tuple(self.transfers),
            started_at=self.started_at,
            ringing_at=self.ringing_at,
            answered_at=self.answered_at,
            ended_at=self.ended_at,
            outcome=self.outcome,
            hangup_cause=cause[0] if cause else None,
            hangup_cause_text=cause[1] if cause else None,
            recording=self.recording,
            resynced=self.resynced,
            stale=self.stale,
            merged_linkedids=tuple(self.merged),
            originated=self.originated,
            merged_into=self.merged_into,
        )
