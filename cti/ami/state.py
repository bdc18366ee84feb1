"""What a health page shows about one PBX link."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClientState:
    """Health of one AMI link; a snapshot, safe to hand out."""

    pbx: str
    connected: bool = False
    since: float | None = None  # when the current connection came up (epoch seconds)
    last_error: str | None = None  # why the last connection ended or failed (never a secret)
    events: int = 0
    filtered: int = 0  # events the client dropped unparsed (client_side_filter)
    dropped: int = 0
    connects: int = 0
    resyncs: int = 0
    sequence_gaps: int = 0
    decode_problems: int = 0
    queued: int = 0
