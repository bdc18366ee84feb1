"""The live call model, pure: AMI events in, call events and call snapshots out."""

from cti.calls.config import CallModelConfig
from cti.calls.events import (
    AgentActivity,
    AgentLeg,
    AgentRinging,
    AgentState,
    AgentStoppedRinging,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallSnapshot,
    CallStarted,
    CallState,
    CallTransferred,
    Direction,
    Outcome,
    StopReason,
    TransferKind,
    TransferRecord,
)
from cti.calls.tracker import CallTracker, event_time

__all__ = [
    "AgentActivity",
    "AgentLeg",
    "AgentRinging",
    "AgentState",
    "AgentStoppedRinging",
    "CallAnswered",
    "CallEnded",
    "CallEvent",
    "CallModelConfig",
    "CallSnapshot",
    "CallStarted",
    "CallState",
    "CallTracker",
    "CallTransferred",
    "Direction",
    "Outcome",
    "StopReason",
    "TransferKind",
    "TransferRecord",
    "event_time",
]
