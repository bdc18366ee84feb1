"""Originate (click-to-call): the action's fields and its reported outcome."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from cti.protocol import AmiMessage

# Asterisk's OriginateResponse Reason codes (AST_CONTROL_*).
_REASONS = {
    "0": "failed",
    "1": "hung up",
    "3": "no answer",
    "4": "answered",
    "5": "busy",
    "8": "congestion",
}
_PREFIX = f"cti-originate-{uuid.uuid4().hex[:8]}-"
_COUNTER = itertools.count(1)


def originate_fields(
    channel: str,
    exten: str,
    context: str,
    caller_id: str | None,
    variables: Mapping[str, str] | None,
    timeout: float,
) -> dict[str, str]:
    """An Originate that never blocks the AMI session: always Async, always our ActionID."""
    fields = {
        "Action": "Originate",
        "ActionID": f"{_PREFIX}{next(_COUNTER)}",
        "Channel": channel,
        "Exten": exten,
        "Context": context,
        "Priority": "1",
        "Timeout": str(int(timeout * 1000)),
        "Async": "true",
    }
    if caller_id:
        fields["CallerID"] = caller_id
    if variables:
        # panoramisk writes one header per key; several variables go comma-separated.
        fields["Variable"] = ",".join(f"{k}={v}" for k, v in variables.items())
    return fields


@dataclass(frozen=True, slots=True)
class OriginateResult:
    """What Asterisk reported for one Originate."""

    action_id: str
    success: bool
    reason: str  # answered, busy, no answer, failed, ...
    channel: str
    uniqueid: str | None

    @classmethod
    def from_event(cls, event: AmiMessage) -> OriginateResult:
        code = event.get("Reason") or ""
        uniqueid = event.get("Uniqueid")
        return cls(
            action_id=event.action_id or "",
            success=(event.get("Response") or "").lower() == "success",
            reason=_REASONS.get(code, f"reason {code}" if code else "unknown"),
            channel=event.get("Channel") or "",
            uniqueid=uniqueid if uniqueid and uniqueid != "<null>" else None,
        )
