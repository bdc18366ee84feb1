"""Fencing: only the holder of a PBX's lease acts on that PBX's calls, checked at every action.

Everything a consumer does that others can see goes through ``ConsumerFence``: a pop published
to the hub (``admits``), a webhook queued (``admits``), a call effect written (``check_in``, in the
effect's own transaction). ``admits`` asks the lease (``cti.lease``) by this process's clock and,
past its local deadline, renews it before answering, so a consumer woken from a freeze learns it
lost the PBX before it sends anything. ``check_in`` asks the database itself: the lease row must
still hold this instance's epoch, and it is share-locked until the effect commits, so a takeover
waits for that commit and a stale consumer's write is refused even when its clock lied.
"""

from __future__ import annotations

from typing import Final

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from cti.lease import ConsumerLease

log = structlog.get_logger(__name__)

# One round trip: the lease row must hold our epoch, share-locked until the commit; and a writer
# frozen inside its transaction (keeping that lock, and the takeover waiting, for as long as it is
# frozen) is ended by PostgreSQL after ``ms`` idle.
_CHECK_IN = text(
    """
    WITH held AS (
        SELECT epoch FROM consumer_leases
        WHERE pbx = :pbx AND holder = :holder AND epoch = :epoch
        FOR SHARE
    )
    SELECT (SELECT epoch FROM held) AS epoch,
           set_config('idle_in_transaction_session_timeout', :ms, true) AS idle_limit
    """
)


class LeaseLost(Exception):
    """This instance no longer holds the PBX: the action was not taken."""

    def __init__(self, pbx: str) -> None:
        super().__init__(f"this instance no longer consumes pbx {pbx!r}")
        self.pbx = pbx


class ConsumerFence:
    """The leases this instance holds, asked before every action on a leased PBX's calls.

    A PBX is fenced once ``lease_required`` names it (the telephony side does, with PostgreSQL);
    the calls of any other PBX (SQLite, a test feeding events by hand) are always admitted.
    """

    def __init__(self, *, idle_limit_s: float = 4.0) -> None:
        self._idle_limit_ms = str(max(1000, int(idle_limit_s * 1000)))
        self._leased: set[str] = set()
        self._leases: dict[str, ConsumerLease] = {}
        self.refused = 0

    def lease_required(self, pbx: str) -> None:
        """From now on act on ``pbx``'s calls only while holding its lease."""
        self._leased.add(pbx)

    def hold(self, lease: ConsumerLease) -> None:
        """Act for ``lease.pbx`` from now on (while the lease lasts)."""
        self._leases[lease.pbx] = lease

    def drop(self, lease: ConsumerLease) -> None:
        """Stop acting for ``lease.pbx`` (the lease was lost or released)."""
        if self._leases.get(lease.pbx) is lease:
            del self._leases[lease.pbx]

    def lease(self, pbx: str) -> ConsumerLease | None:
        """The lease held for ``pbx``, if any."""
        return self._leases.get(pbx)

    async def admits(self, pbx: str) -> bool:
        """True when this instance may act on ``pbx``'s calls now (renewing a lapsed lease)."""
        if pbx not in self._leased:
            return True
        lease = self._leases.get(pbx)
        if lease is not None and (lease.valid() or await lease.confirm()):
            return True
        self.refused += 1
        return False

    async def check_in(self, session: AsyncSession, pbx: str) -> None:
        """In the caller's transaction: raise ``LeaseLost`` unless the database holds our epoch."""
        if pbx not in self._leased:
            return
        lease = self._leases.get(pbx)
        if lease is None or lease.lost.is_set():
            self.refused += 1
            raise LeaseLost(pbx)
        held = await session.scalar(
            _CHECK_IN,
            {
                "pbx": pbx,
                "holder": lease.holder,
                "epoch": lease.epoch,
                "ms": self._idle_limit_ms,
            },
        )
        if held is None:
            lease.lose("fenced: the database holds a newer epoch")
            self.refused += 1
            raise LeaseLost(pbx)


OPEN_FENCE: Final = ConsumerFence()
"""No PBX leased: every action admitted (components used on their own, in tests)."""
