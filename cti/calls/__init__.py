"""The live call model, pure: AMI events in, call events and call snapshots out."""

from cti.calls.config import CallModelConfig
from cti.calls.events import (
    AgentLeg,
    AgentRinging,
    AgentState,
    AgentStoppedRinging,
    CallAnswered,
    CallEnded,
    CallEvent,
    CallSnapshot,
    CallStarted,
    CallTransferred,
    Direction,
    Outcome,
    StopReason,
    TransferRecord,
)
from cti.calls.tracker import CallTracker, event_time

__all__ = [
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
    "CallTracker",
    "CallTransferred",
    "Direction",
    "Outcome",
    "StopReason",
    "TransferRecord",
    "event_time",
]
