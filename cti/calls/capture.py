"""Raw AMI captures (``*.ami`` bytes plus optional ``*.timed.jsonl`` times) as timed messages.

Pure: callers read the files; this pairs each decoded message with the time it was recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from cti.protocol import AmiFrameDecoder, AmiMessage


@dataclass(frozen=True, slots=True)
class TimedMessage:
    """One message of a capture and when it arrived (seconds, capture's own clock)."""

    message: AmiMessage
    at: float


def timed_messages(
    raw: bytes, timed_jsonl: str | None = None, *, base: float = 0.0
) -> tuple[list[TimedMessage], bool]:
    """Decode a raw capture; times come from the ``.timed.jsonl`` lines when they match the
    messages one to one, else from each message's ``Timestamp`` header, else ``base``.

    Returns the messages and whether real times were found.
    """
    messages = AmiFrameDecoder().feed(raw)
    times = _times(timed_jsonl)
    if times is not None and len(times) == len(messages):
        return [TimedMessage(m, base + t) for m, t in zip(messages, times, strict=True)], True
    out: list[TimedMessage] = []
    found = False
    for message in messages:
        stamp = _float(message.get("Timestamp"))
        found = found or stamp is not None
        out.append(TimedMessage(message, stamp if stamp is not None else base))
    return out, found


def _times(timed_jsonl: str | None) -> list[float] | None:
    if not timed_jsonl:
        return None
    times: list[float] = []
    for line in timed_jsonl.splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        if "banner" in record and "event" not in record:
            continue
        times.append(float(record["t"]))
    return times


def _float(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None
