"""Server-side event filters (Asterisk's ``Action: Filter``), so unused events never cross."""

from __future__ import annotations


def exclusion_filter(event: str) -> str:
    """An Asterisk ``Filter`` (POSIX ERE over the whole event text) that drops ``event``.

    VarSet is kept when it carries a recording's file name (MIXMONITOR_FILENAME,
    MONITOR_FILENAME): the call log needs it, and no other event says where the file is.
    """
    if event == "VarSet":
        return "!^Event: VarSet[[:space:]].*Variable: ([^M]|M[^OI])"
    return f"!^Event: {event}[[:space:]]"


def manager_conf_lines(events: tuple[str, ...]) -> list[str]:
    """The same filters as ``eventfilter`` lines for manager.conf (for a read-only account)."""
    return [f"eventfilter = {exclusion_filter(name)}" for name in events]
