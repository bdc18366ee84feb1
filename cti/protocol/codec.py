"""Frame AMI on bytes and decode whole messages, so no multi-byte character is ever split.

Asterisk ends each line with ``\\r\\n`` and each message with an empty line. Some actions
(CoreShowChannelMap) end a message with ``\\r\\n\\n``; bare ``\\n`` line ends are accepted too.
The first line of a connection is a banner (``Asterisk Call Manager/11.0.0``) with no blank line
after it. The data of dialplan applications (which may hold a token) and the values of variables
the product does not read are dropped while parsing (``cti.protocol.scrub``).

A decoder given ``defer`` hands back the frames it accepts as text, unparsed (still whole, still
past ``skip`` and the size limit): a reader that only queues most events parses each when it is
taken off the queue (:meth:`AmiFrameDecoder.parse`), and a backlog costs its wire size, about a
seventh of the parsed headers.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import cast

from cti.protocol.message import AmiMessage
from cti.protocol.scrub import scrub
from cti.protocol.skip import EventSkip

_MESSAGE_END = re.compile(rb"\r?\n\r?\n")
_MESSAGE_END_TEXT = re.compile(r"\r?\n\r?\n")
_LINE_SPLIT = re.compile(r"\r?\n")
DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class DecodeProblem:
    """Something the decoder had to drop or repair; reported, never raised."""

    kind: str  # "oversized" | "malformed-line" | "undecodable"
    detail: str


class AmiFrameDecoder:
    """Incremental decoder: ``feed`` bytes as they arrive, get back complete messages."""

    def __init__(
        self,
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        skip: EventSkip | None = None,
        keep_everything: bool = False,
        defer: Callable[[str], bool] | None = None,
    ) -> None:
        self._buffer = bytearray()
        self._defer = defer
        self._max = max_message_bytes
        self._drops = skip.drops if skip else None
        # Only the simulator, replaying a capture as Asterisk would send it, keeps every header.
        self._scrub = not keep_everything
        self.skipped = 0  # events dropped unparsed by ``skip``
        self._discarding = False
        self.banner: str | None = None
        self._expect_banner = True
        self.problems: list[DecodeProblem] = []

    def feed(self, data: bytes) -> list[AmiMessage]:
        """Consume ``data`` and return every message it completes, parsed, in wire order."""
        return cast("list[AmiMessage]", self._feed(data, None))  # nothing deferred: all parsed

    def feed_frames(self, data: bytes) -> list[AmiMessage | str]:
        """The same, a frame ``defer`` picks handed back as its text, for :meth:`parse` later."""
        return self._feed(data, self._defer)

    def _feed(self, data: bytes, defer: Callable[[str], bool] | None) -> list[AmiMessage | str]:
        buffer = self._buffer
        buffer += data
        if self._expect_banner and not self._take_banner():
            return []
        if self._discarding and not self._skip_oversized():
            return []
        # Everything up to the last message end is whole: decode it in one go. An end marker is
        # ASCII, so no multi-byte character can straddle it.
        end = max(buffer.rfind(b"\n\r\n") + 3, buffer.rfind(b"\n\n") + 2)
        messages: list[AmiMessage | str] = []
        if end > 2:
            region = bytes(buffer[:end])
            del buffer[:end]
            try:
                text = region.decode("utf-8")
            except UnicodeDecodeError:
                self._decode_each(region, messages)
            else:
                if "\n\n" in text or text.count("\n") != text.count("\r\n"):
                    for chunk in _MESSAGE_END_TEXT.split(text):
                        self._parse_checked(chunk, len(chunk), messages)
                else:
                    limit = self._max
                    append = messages.append
                    drops = self._drops
                    skipped = 0
                    for chunk in text.split("\r\n\r\n"):
                        if len(chunk) > limit:
                            self._parse_checked(chunk, len(chunk), messages)
                        elif chunk:
                            if drops is not None and drops(chunk):
                                skipped += 1
                                continue
                            if defer is not None and defer(chunk):
                                append(chunk)
                                continue
                            message = self._parse(chunk, crlf=True)
                            if message is not None:
                                append(message)
                    self.skipped += skipped
        if len(buffer) > self._max:
            self._note("oversized", f"message over {self._max} bytes dropped")
            # Keep the tail: it may hold the beginning of the end marker.
            del buffer[:-3]
            self._discarding = True
        return messages

    def _skip_oversized(self) -> bool:
        """Drop the rest of an oversized message; False while its end has not come yet."""
        match = _MESSAGE_END.search(self._buffer)
        if match is None:
            del self._buffer[:-3]  # keep only what may start the end marker
            return False
        del self._buffer[: match.end()]
        self._discarding = False
        return True

    def _decode_each(self, region: bytes, messages: list[AmiMessage | str]) -> None:
        """Slow path for a read holding invalid UTF-8: decode message by message."""
        for raw in _MESSAGE_END.split(region):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                self._note("undecodable", "invalid UTF-8 replaced")
                text = raw.decode("utf-8", errors="replace")
            self._parse_checked(text, len(raw), messages)

    def _parse_checked(self, text: str, size: int, messages: list[AmiMessage | str]) -> None:
        if size > self._max:
            self._note("oversized", f"message over {self._max} bytes dropped")
            return
        if self._drops is not None and self._drops(text):
            self.skipped += 1
            return
        message = self._parse(text)
        if message is not None:
            messages.append(message)

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

    def parse(self, frame: str) -> AmiMessage | None:
        """Parse a frame ``feed`` handed back as text (its problems join ``problems``)."""
        return self._parse(frame, crlf=True)

    def _parse(self, text: str, *, crlf: bool = False) -> AmiMessage | None:
        """Headers of one message; ``crlf`` says every line ends in CR LF (the fast path)."""
        if not text or text.isspace():
            return None
        lines = text.split("\r\n") if crlf else _LINE_SPLIT.split(text)
        headers: list[tuple[str, str]] = []
        append = headers.append
        for line in lines:
            key, sep, value = line.partition(":")
            if sep and key and " " not in key:
                append((key, value.strip()))
            elif line:
                # Command output and garbage keep their text under Output, as Asterisk does.
                self._note("malformed-line", line[:120])
                append(("Output", line))
        if self._scrub:
            headers = scrub(headers, text)
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
