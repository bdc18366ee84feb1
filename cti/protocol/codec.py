"""Frame AMI on bytes and decode whole messages, so no multi-byte character is ever split.

Asterisk ends each line with ``\\r\\n`` and each message with an empty line. Some actions
(CoreShowChannelMap) end a message with ``\\r\\n\\n``; bare ``\\n`` line ends are accepted too.
The first line of a connection is a banner (``Asterisk Call Manager/11.0.0``) with no blank line
after it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from cti.protocol.message import AmiMessage

_MESSAGE_END = re.compile(rb"\r?\n\r?\n")
_LINE_SPLIT = re.compile(r"\r?\n")
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class DecodeProblem:
    """Something the decoder had to drop or repair; reported, never raised."""

    kind: str  # "oversized" | "malformed-line" | "undecodable"
    detail: str


class AmiFrameDecoder:
    """Incremental decoder: ``feed`` bytes as they arrive, get back complete messages."""

    def __init__(self, *, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self._buffer = bytearray()
        self._max = max_message_bytes
        self._discarding = False
        self.banner: str | None = None
        self._expect_banner = True
        self.problems: list[DecodeProblem] = []

    def feed(self, data: bytes) -> list[AmiMessage]:
        """Consume ``data`` and return every message it completes, in wire order."""
        self._buffer += data
        if self._expect_banner and not self._take_banner():
            return []
        messages: list[AmiMessage] = []
        buffer = self._buffer
        start = 0
        while True:
            match = _MESSAGE_END.search(buffer, start)
            if match is None:
                break
            if self._discarding:
                self._discarding = False
            else:
                message = self._decode(bytes(buffer[start : match.start()]))
                if message is not None:
                    messages.append(message)
            start = match.end()
        if start:
            del buffer[:start]
        if self._discarding:
            del buffer[:-3]  # still inside the oversized message: keep only a possible end marker
        elif len(buffer) > self._max:
            self._note("oversized", f"message over {self._max} bytes dropped")
            # Keep the tail: it may hold the beginning of the end marker.
            del buffer[:-3]
            self._discarding = True
        return messages

    def reset(self) -> None:
        """Forget everything buffered: call on a new connection."""
        self._buffer.clear()
        self._discarding = False
        self._expect_banner = True
        self.banner = None

    def _take_banner(self) -> bool:
        end = self._buffer.find(b"\n")
        if end < 0:
            return False
        line = bytes(self._buffer[:end]).rstrip(b"\r").decode("utf-8", errors="replace")
        self._expect_banner = False
        if ":" in line and not line.startswith("Asterisk"):
            return True  # no banner: a message starts right away
        self.banner = line
        del self._buffer[: end + 1]
        return True

    def _decode(self, raw: bytes) -> AmiMessage | None:
        if not raw.strip():
            return None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            self._note("undecodable", "invalid UTF-8 replaced")
            text = raw.decode("utf-8", errors="replace")
        headers: list[tuple[str, str]] = []
        for line in _LINE_SPLIT.split(text):
            if not line:
                continue
            key, sep, value = line.partition(":")
            if not sep or not key or " " in key.strip():
                # Command output and garbage keep their text under Output, as Asterisk does.
                self._note("malformed-line", line[:120])
                headers.append(("Output", line))
                continue
            headers.append((key.strip(), value.strip()))
        if not headers:
            return None
        return AmiMessage(tuple(headers))

    def _note(self, kind: str, detail: str) -> None:
        if len(self.problems) < 1000:
            self.problems.append(DecodeProblem(kind, detail))


def encode_action(fields: Mapping[str, str | list[str]] | AmiMessage) -> bytes:
    """Serialize an action (or any message) to wire bytes, CR/LF stripped from values."""
    message = fields if isinstance(fields, AmiMessage) else AmiMessage.of(fields)
    lines = []
    for key, value in message.headers:
        clean = value.replace("\r", " ").replace("\n", " ")
        lines.append(f"{key}: {clean}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("utf-8")
