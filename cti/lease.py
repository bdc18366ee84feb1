"""One AMI consumer per PBX across instances: a lease with a deadline, renewed by its holder.

An advisory lock stays held while its connection is open, and a frozen process (SIGSTOP, a long
GC pause, a paused VM, an event loop blocked by a slow call) keeps its connection open: the
standby waited as long as the freeze lasted. A lease runs out on its own. Each PBX has a
``consumer_leases`` row: who holds it, an epoch (the fencing token, one more at every takeover)
and ``expires_at`` by the database's clock. The holder renews it every ``renew_interval_s`` with a
conditional UPDATE (still mine, same epoch); a standby takes it over with a conditional UPDATE
once ``expires_at`` has passed.

The holder trusts its lease, by its own monotonic clock, until the moment its last successful
renewal was *sent* plus the deadline minus a safety margin: before the database could give the
lease away. Past that it must renew before acting again (``ConsumerLease.confirm``): a woken
consumer learns it lost the lease before it sends anything. Should its clock lie, the database
refuses its writes anyway (``cti.fencing``). SQLite is single-instance: no lease there.

With several instances and several PBXs the leases spread (``cti.lease_spread``): an instance
holding its fair share takes a free lease only once it has been free for a while, and one holding
more than its share sheds one, which rests here a moment so that another instance takes it.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import structlog
from sqlalchemy import TextClause, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger(__name__)

_ACQUIRE = text(
    """
    INSERT INTO consumer_leases (pbx, holder, epoch, acquired_at, expires_at)
    VALUES (:pbx, :holder, 1, now(), now() + make_interval(secs => :deadline))
    ON CONFLICT (pbx) DO UPDATE
        SET holder = excluded.holder,
            epoch = consumer_leases.epoch + 1,
            acquired_at = excluded.acquired_at,
            expires_at = excluded.expires_at
        WHERE consumer_leases.expires_at <= now() - make_interval(secs => :grace)
    RETURNING epoch
    """
)
_RENEW = text(
    """
    UPDATE consumer_leases SET expires_at = now() + make_interval(secs => :deadline)
    WHERE pbx = :pbx AND holder = :holder AND epoch = :epoch
    RETURNING epoch
    """
)
# Let go at once on a clean stop, so a standby need not wait for the deadline.
_RELEASE = text(
    """
    UPDATE consumer_leases SET expires_at = now()
    WHERE pbx = :pbx AND holder = :holder AND epoch = :epoch
    """
)
_SET_LOCK_TIMEOUT = text("SELECT set_config('lock_timeout', :ms, true)")


def instance_id() -> str:
    """This process among the instances: host, pid and a random part (a pid can be reused)."""
    return f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True, slots=True)
class LeaseTimings:
    """How long a lease lasts, how often it is renewed, how early its holder stops trusting it."""

    deadline_s: float = 8.0
    renew_interval_s: float = 2.0
    safety_margin_s: float = 1.0

    @property
    def trusted_s(self) -> float:
        """How long after sending a renewal that succeeded the holder may act on it."""
        return self.deadline_s - self.safety_margin_s


class ConsumerLease:
    """This instance's hold on one PBX's lease."""

    def __init__(self, keeper: LeaseKeeper, pbx: str, epoch: int, valid_until: float) -> None:
        self.pbx = pbx
        self.epoch = epoch
        self.holder = keeper.holder
        self.lost = asyncio.Event()
        self._keeper = keeper
        self._valid_until = valid_until
        self._renewing: asyncio.Task[bool] | None = None
        self.shed = False  # given up to spread the PBXs, not taken over

    def valid(self) -> bool:
        """True while this instance may act for the PBX without asking the database."""
        return not self.lost.is_set() and self._keeper.clock() < self._valid_until

    def extend(self, valid_until: float) -> None:
        """A renewal sent at ``valid_until - trusted_s`` succeeded."""
        self._valid_until = max(self._valid_until, valid_until)

    def lose(self, reason: str) -> None:
        """Stop acting for the PBX: another instance holds it now (or will)."""
        if not self.lost.is_set():
            log.warning("consumer lease lost", pbx=self.pbx, epoch=self.epoch, reason=reason)
            self.lost.set()
        self._keeper.forget(self)

    async def confirm(self) -> bool:
        """True once the lease is known to be ours; False once it is lost.

        Past its local deadline the lease is renewed first; while the database cannot be reached
        this waits (nothing is sent meanwhile), since no instance can then prove it holds the PBX.
        """
        while not self.lost.is_set():
            if self.valid():
                return True
            if not await self.renew():
                await asyncio.sleep(min(0.25, self._keeper.timings.renew_interval_s))
        return False

    async def renew(self) -> bool:
        """One renewal (shared by everyone asking at the same time); True when it succeeded."""
        if self._renewing is None or self._renewing.done():
            self._renewing = asyncio.create_task(self._keeper.renew(self), name=f"lease-{self.pbx}")
        return await asyncio.shield(self._renewing)


class LeaseKeeper:
    """Acquire, renew and release the consumer leases of this instance (PostgreSQL only)."""

    def __init__(
        self,
        engine: AsyncEngine,
        timings: LeaseTimings,
        *,
        holder: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.timings = timings
        self.holder = holder or instance_id()
        self.clock = clock
        self.held: dict[str, ConsumerLease] = {}  # the leases this instance holds, by PBX
        # Set when the PBXs spread over the instances (``cti.lease_spread.LeaseSpread``).
        self.spread: Spread | None = None
        self._resting: dict[str, float] = {}  # PBX -> not to be taken again before (clock)

    async def acquire(self, pbx: str) -> ConsumerLease:
        """Wait (standby) until this instance holds ``pbx``'s lease."""
        waiting_logged = False
        while True:
            sent = self.clock()
            epoch = None
            if sent >= self._resting.get(pbx, 0.0):
                # At our fair share: take a free lease only once nobody else took it for a while.
                spread = self.spread
                grace = 0.0 if spread is None or spread.may_take(len(self.held)) else spread.grace_s
                try:
                    epoch = await self._statement(
                        _ACQUIRE, pbx=pbx, deadline=self.timings.deadline_s, grace=grace
                    )
                except LeaseUnreachable:
                    epoch = None
            if epoch is not None:
                log.info("consumer lease acquired", pbx=pbx, epoch=epoch, holder=self.holder)
                lease = ConsumerLease(self, pbx, epoch, sent + self.timings.trusted_s)
                self.held[pbx] = lease
                return lease
            if not waiting_logged:
                log.info("standby: another instance consumes the pbx", pbx=pbx)
                waiting_logged = True
            await asyncio.sleep(self.timings.renew_interval_s)

    async def keep(self, lease: ConsumerLease) -> None:
        """Renew ``lease`` until it is lost (returns then) or the caller cancels."""
        while not lease.lost.is_set():
            delay = self.timings.renew_interval_s if lease.valid() else 0.25
            try:
                async with asyncio.timeout(delay):  # not wait_for: it may swallow a cancel (3.11)
                    await lease.lost.wait()
            except TimeoutError:
                await lease.renew()

    async def renew(self, lease: ConsumerLease) -> bool:
        """Push ``lease``'s deadline on; a lease another instance took is lost."""
        if lease.lost.is_set():
            return False
        sent = self.clock()
        try:
            epoch = await self._statement(
                _RENEW,
                pbx=lease.pbx,
                epoch=lease.epoch,
                deadline=self.timings.deadline_s,
            )
        except LeaseUnreachable:
            return False  # unknown: the local deadline still rules
        if epoch is None:
            lease.lose("taken over by another instance")
            return False
        lease.extend(sent + self.timings.trusted_s)
        return True

    def forget(self, lease: ConsumerLease) -> None:
        """``lease`` no longer counts among the held ones."""
        if self.held.get(lease.pbx) is lease:
            del self.held[lease.pbx]

    def shed(self, lease: ConsumerLease, rest_s: float) -> None:
        """Give ``lease`` up so another instance takes the PBX; not ours again for ``rest_s``."""
        lease.shed = True
        self._resting[lease.pbx] = self.clock() + rest_s
        lease.lose("spreading the PBXs: another instance has fewer")

    async def release(self, lease: ConsumerLease) -> None:
        """Let a standby take over now (a clean stop)."""
        lease.lost.set()
        self.forget(lease)
        try:
            await self._statement(_RELEASE, pbx=lease.pbx, epoch=lease.epoch)
        except LeaseUnreachable:
            return  # the lease runs out on its own
        log.info("consumer lease released", pbx=lease.pbx, epoch=lease.epoch)

    async def _statement(self, statement: TextClause, **values: object) -> int | None:
        """Run one lease statement in its own short transaction; its RETURNING epoch or None.

        A row locked by a frozen writer (``cti.fencing``) must not hold the lease up for long:
        the statement gives up after the renew interval and the next attempt tries again.
        """
        values["holder"] = self.holder
        timeout_ms = str(int(self.timings.renew_interval_s * 1000))
        try:
            async with asyncio.timeout(self.timings.deadline_s), self.engine.connect() as db:
                await db.execute(_SET_LOCK_TIMEOUT, {"ms": timeout_ms})
                result = await db.execute(statement, values)
                epoch = result.scalar_one_or_none() if result.returns_rows else None
                await db.commit()
        except (SQLAlchemyError, OSError, TimeoutError) as err:
            log.warning("consumer lease statement failed", pbx=values.get("pbx"), error=repr(err))
            raise LeaseUnreachable(str(err)) from err
        return int(epoch) if epoch is not None else None


class LeaseUnreachable(Exception):
    """The database did not answer a lease statement."""


class Spread(Protocol):
    """How many leases this instance should hold (``cti.lease_spread.LeaseSpread`` fits)."""

    @property
    def grace_s(self) -> float: ...

    def may_take(self, held: int) -> bool: ...
