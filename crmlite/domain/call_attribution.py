"""Which campaign brought a call, decided from the campaigns' tracking sources held in memory.

The same answer as the SQL of ``crmlite.services.campaigns.attribute_call``: the dialled DID
decides first (the newest source naming it), failing that the longest caller-number prefix (the
newest among equals); only sources of active campaigns inside their active window count.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TrackingSource:
    """One DID or caller prefix of an active campaign."""

    id: int
    campaign_id: int
    kind: str  # "did" or "caller_prefix"
    value: str
    active_from: dt.datetime | None = None
    active_until: dt.datetime | None = None

    def live_at(self, at: dt.datetime) -> bool:
        return (self.active_from is None or self.active_from <= at) and (
            self.active_until is None or self.active_until > at
        )


def campaign_of_call(
    sources: Iterable[TrackingSource], did: str | None, caller: str | None, at: dt.datetime
) -> int | None:
    """The campaign of a call to ``did`` from ``caller`` (both E.164) at ``at``, or None."""
    live = [source for source in sources if source.live_at(at)]
    if did:
        by_did = [s for s in live if s.kind == "did" and s.value == did]
        if by_did:
            return max(by_did, key=lambda s: s.id).campaign_id
    if not caller:
        return None
    prefixed = [s for s in live if s.kind == "caller_prefix" and caller.startswith(s.value)]
    if not prefixed:
        return None
    return max(prefixed, key=lambda s: (len(s.value), s.id)).campaign_id
