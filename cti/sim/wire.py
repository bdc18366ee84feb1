"""Render simulated events to AMI bytes, and read capture files back into timed events."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from cti.protocol import AmiFrameDecoder

EventFields = Mapping[str, str | list[str]]

# A replay leaves out the capture's own login events and the answers to its recorder's actions.
_SESSION_EVENTS = {"FullyBooted", "SuccessfulAuth"}


def render(fields: EventFields, extra: str = "") -> bytes:
    """One message as Asterisk writes it: ``Key: value\\r\\n`` lines, then an empty line.

    ``extra`` (already formatted header lines) goes right after the second line, where Asterisk
    puts ``Timestamp:`` when ``timestampevents`` is on.
    """
    parts: list[str] = []
    for index, (key, value) in enumerate(fields.items()):
        if isinstance(value, list):
            parts.extend(f"{key}: {v}\r\n" for v in value)
        else:
            parts.append(f"{key}: {value}\r\n")
        if index == 1 and extra:
            parts.append(extra)
    parts.append("\r\n")
    return "".join(parts).encode("utf-8")


def load_capture(path: str | Path) -> list[tuple[float, dict[str, str | list[str]]]]:
    """The stream events of a capture (``.ami`` or ``.timed.jsonl``) with their offsets in seconds.

    Responses and list events answering the recorder's own actions, and the recorder's login
    events, are left out; OriginateResponse is kept (every AMI session with ``call`` sees it).
    A ``.ami`` file has no timing: every offset is 0.
    """
    file = Path(path)
    items: list[tuple[float, dict[str, str | list[str]]]] = []
    if file.name.endswith(".jsonl"):
        for line in file.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            event = record.get("event")
            if isinstance(event, dict):
                items.append((float(record.get("t", 0.0)), event))
    else:
        # Replayed as Asterisk sent it, application data included: the client must drop it.
        decoder = AmiFrameDecoder(max_message_bytes=1 << 24, keep_everything=True)
        items = [(0.0, m.as_dict()) for m in decoder.feed(file.read_bytes())]
    return [(t, e) for t, e in items if _is_stream_event(e)]


def _is_stream_event(event: Mapping[str, object]) -> bool:
    name = event.get("Event")
    if not isinstance(name, str) or name in _SESSION_EVENTS:
        return False
    return "ActionID" not in event or name == "OriginateResponse"


def timed_sibling(path: str | Path) -> Path | None:
    """The ``.timed.jsonl`` next to a ``.ami`` capture, if there is one."""
    file = Path(path)
    if file.name.endswith(".ami"):
        sibling = file.with_name(file.name[: -len(".ami")] + ".timed.jsonl")
        if sibling.exists():
            return sibling
    return None
