"""Events dropped on arrival, before their headers are parsed: the client-side twin of Asterisk's
``Filter`` action.

Over half of a real AMI stream is VarSet, Newexten, DeviceStateChange and Cdr, which the product
never reads. When the PBX does not filter them (a read-only account may not send ``Filter``,
manager.conf may have no ``eventfilter``), parsing them is most of what the reader does. A message
is recognised from its first line alone; a VarSet that names a recording is kept.
"""

from __future__ import annotations

from collections.abc import Iterable

# The variables that say where a call's recording is; no other event carries the file name.
RECORDING_VARIABLES = frozenset({"MIXMONITOR_FILENAME", "MONITOR_FILENAME"})
# Events kept despite being listed, when one of these header lines is in them (a longer name
# that starts the same is kept too: parsing a message the model then ignores loses nothing).
_KEPT_WHEN = {"VarSet": tuple(f"\r\nVariable: {name}" for name in sorted(RECORDING_VARIABLES))}


class EventSkip:
    """Which raw messages to drop unparsed: ``drops(text)`` for one message's CR LF text."""

    def __init__(self, events: Iterable[str]) -> None:
        self.events = frozenset(events)
        # "Event: X\r\n" is how Asterisk starts every event; a message spelled otherwise (other
        # case, bare LF) is simply parsed, as it would be without a filter.
        self._prefixes = tuple(f"Event: {name}\r\n" for name in sorted(self.events))
        self._kept_when = {
            f"Event: {name}\r\n": needles
            for name, needles in _KEPT_WHEN.items()
            if name in self.events
        }

    def __bool__(self) -> bool:
        return bool(self.events)

    def drops(self, text: str) -> bool:
        """True when ``text`` (one whole message, CR LF line ends) is an event to skip."""
        if not text.startswith(self._prefixes):
            return False
        if self._kept_when:
            first = text[: text.find("\r\n") + 2]
            needles = self._kept_when.get(first)
            if needles is not None and any(needle in text for needle in needles):
                return False
        return True
