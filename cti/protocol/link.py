"""What the AMI link tells the call model besides events: the link came up (with the PBX's live
state) or went down."""

from __future__ import annotations

from dataclasses import dataclass

from cti.protocol.message import AmiMessage


@dataclass(frozen=True, slots=True)
class LinkUp:
    """Connected and logged in. ``snapshot`` holds the PBX's answer to the resync actions
    (CoreShowChannel and QueueStatus list events, in wire order): the calls up right now."""

    pbx: str
    snapshot: tuple[AmiMessage, ...]
    at: float  # seconds since the epoch, from the adapter's clock


@dataclass(frozen=True, slots=True)
class LinkDown:
    """The connection was lost (or the PBX shut down); events may have been missed."""

    pbx: str
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class PbxEvent:
    """One AMI event from ``pbx``, stamped with when it was read (seconds since the epoch)."""

    pbx: str
    message: AmiMessage
    at: float


LinkItem = LinkUp | LinkDown | PbxEvent
