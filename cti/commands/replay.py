"""``cti calls replay FILE.ami``: print what the call model makes of a raw AMI capture.

One JSON object per call per line, oldest first, so an admin can see why a call was treated as
it was. Times come from the sibling ``.timed.jsonl`` when present (made absolute with the sidecar
``.json``'s ``recorded_at``), else from the events' ``Timestamp`` headers; without either, times
are printed as seconds from the start of the capture.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cti.calls import CallEnded, CallModelConfig, CallSnapshot, CallTracker
from cti.calls.capture import timed_messages
from cti.protocol import PbxEvent
from cti.settings import Settings, load_settings

REPLAY_PBX = "replay"


def model_config(settings: Settings) -> CallModelConfig:
    """The call model's view of the first configured PBX (defaults match the sample PBX)."""
    pattern = settings.phone.extension_pattern
    if not settings.pbx:
        return CallModelConfig(extension_pattern=pattern)
    return settings.pbx[0].call_model(pattern)


def replay_capture(
    raw: bytes, timed_jsonl: str | None, config: CallModelConfig, *, base: float = 0.0
) -> tuple[list[CallSnapshot], bool]:
    """Run a capture through a fresh tracker; every call it saw (ended or still live) and
    whether the capture carried real times."""
    messages, timed = timed_messages(raw, timed_jsonl, base=base)
    tracker = CallTracker(config)
    calls: dict[str, CallSnapshot] = {}
    for item in messages:
        for event in tracker.feed(PbxEvent(REPLAY_PBX, item.message, item.at)):
            if isinstance(event, CallEnded) and event.call.merged_into is None:
                calls[event.linkedid] = event.call
    for live in tracker.live_calls():
        calls[live.linkedid] = live
    ordered = sorted(calls.values(), key=lambda c: (c.started_at or 0.0, c.linkedid))
    return ordered, timed


def call_line(call: CallSnapshot, *, absolute: bool) -> dict[str, Any]:
    """The admin-facing JSON object for one call."""

    def when(value: float | None) -> str | float | None:
        if value is None or not absolute:
            return value
        return datetime.fromtimestamp(value, tz=UTC).isoformat(timespec="milliseconds")

    return {
        "linkedid": call.linkedid,
        "direction": call.direction,
        "caller": call.caller,
        "caller_name": call.caller_name,
        "called": call.called,
        "did": call.did,
        "queue": call.queue,
        "agents_rung": list(call.agents_rung),
        "answered_by": call.answered_by,
        "answered_agents": list(call.answered_agents),
        "agent": call.agent,
        "transfers": [t.to_dict() | {"at": when(t.at)} for t in call.transfers],
        "start": when(call.started_at),
        "answer": when(call.answered_at),
        "end": when(call.ended_at),
        "duration_s": call.duration_s,
        "talk_s": call.talk_s,
        "outcome": call.outcome,
        "state": call.state,
        "hangup_cause": call.hangup_cause,
        "hangup_cause_text": call.hangup_cause_text,
        "recording": call.recording,
        "originated": call.originated,
        "merged_linkedids": list(call.merged_linkedids),
        "legs": [
            leg.to_dict() | {"rang_at": when(leg.rang_at), "stopped_at": when(leg.stopped_at)}
            for leg in call.legs
        ],
    }


def _recorded_at(path: Path) -> float | None:
    sidecar = path.with_suffix(".json")
    if not sidecar.exists():
        return None
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        return datetime.fromisoformat(str(meta["recorded_at"])).timestamp()
    except (ValueError, KeyError, TypeError):
        return None


def lines(path: Path, config: CallModelConfig) -> Iterable[str]:
    """The JSON lines for the capture at ``path``."""
    timed_path = path.with_suffix(".timed.jsonl")
    timed_text = timed_path.read_text(encoding="utf-8") if timed_path.exists() else None
    recorded_at = _recorded_at(path) if timed_text else None
    calls, timed = replay_capture(path.read_bytes(), timed_text, config, base=recorded_at or 0.0)
    absolute = timed and (recorded_at is not None or timed_text is None)
    for call in calls:
        yield json.dumps(call_line(call, absolute=absolute), ensure_ascii=False)


def run(args: argparse.Namespace) -> int:
    """Print one JSON line per call of the capture ``args.file``."""
    path = Path(args.file)
    if not path.is_file():
        print(f"cti calls replay: no such capture file: {path}", file=sys.stderr)
        return 2
    config = model_config(load_settings(getattr(args, "config", None)))
    for line in lines(path, config):
        print(line)
    return 0
