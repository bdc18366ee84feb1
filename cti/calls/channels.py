"""Channel names and header values as Asterisk spells them, turned into what the model needs."""

from __future__ import annotations

from string import hexdigits

from cti.calls.config import CallModelConfig

_UNKNOWN = frozenset({"", "<unknown>", "unknown", "(null)"})
_HEX = frozenset(hexdigits)


def clean(value: str | None) -> str | None:
    """A header value, or None when Asterisk means "nothing" (``''``, ``<unknown>``)."""
    if value is None:
        return None
    value = value.strip()
    return None if value.lower() in _UNKNOWN else value


def interface_of(channel: str) -> str:
    """The device behind a channel: ``PJSIP/101-0000001f`` -> ``PJSIP/101``.

    Local channels keep their ``exten@context``: ``Local/101@from-queue-00000001;1`` ->
    ``Local/101@from-queue``.
    """
    tech, sep, rest = channel.partition("/")
    if not sep:
        return channel
    rest = rest.split(";", 1)[0]
    base, dash, suffix = rest.rpartition("-")
    if dash and base and suffix and set(suffix) <= _HEX:
        rest = base
    return f"{tech}/{rest}"


def resource_of(interface: str) -> str:
    """``PJSIP/101`` -> ``101``; ``Local/101@from-queue/n`` -> ``101`` (the dialled exten)."""
    tech, sep, rest = interface.partition("/")
    if not sep:
        return interface
    rest = rest.split("/", 1)[0]
    if tech.lower() == "local":
        rest = rest.split("@", 1)[0]
    return rest


def is_local(interface: str) -> bool:
    """True for Local channels (the dial plan calling itself, e.g. queue members)."""
    return interface[:6].lower() == "local/"


def is_trunk(interface: str, config: CallModelConfig) -> bool:
    """True when the interface is one of the configured provider trunks."""
    return not is_local(interface) and config.is_trunk_endpoint(resource_of(interface))


def is_office_trunk(interface: str, config: CallModelConfig) -> bool:
    """True when the interface is a trunk to another office's PBX."""
    return not is_local(interface) and config.is_office_trunk(resource_of(interface))


def extension_of(interface: str, caller_num: str | None, config: CallModelConfig) -> str:
    """The agent extension of a phone: its endpoint name when it looks like one, else its
    caller ID number when that does, else the endpoint name as is."""
    resource = resource_of(interface)
    if config.is_extension(resource):
        return resource
    if caller_num and config.is_extension(caller_num):
        return caller_num
    return resource


def parse_duration(value: str | None) -> float | None:
    """``00:01:05`` (CoreShowChannel Duration) or ``65`` (Status Seconds) -> 65.0."""
    value = clean(value)
    if value is None:
        return None
    total = 0.0
    try:
        for part in value.split(":"):
            total = total * 60 + float(part)
    except ValueError:
        return None
    return total


def parse_int(value: str | None) -> int | None:
    """An integer header (Hangup ``Cause``), or None when absent or garbled."""
    value = clean(value)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None
