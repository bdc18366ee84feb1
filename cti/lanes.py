"""Per-key ordered work: jobs with the same key run one after another, other keys run beside them.

The CRM work of one call must see its events in order (the deal made at ringing is the deal updated
at answer), but a slow call must not hold up the others. At most ``max_running`` jobs run at once
(the database pool's size for the CRM lanes): more would only wait for a connection inside the pool,
each holding a half-done transaction's locks and its memory, and time out there under a burst.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

import structlog

log = structlog.get_logger(__name__)

Job = Callable[[], Awaitable[None]]


class OrderedLanes:
    """Run jobs in order per key; at most ``max_pending`` jobs wait in all lanes together and
    at most ``max_running`` run at once (None: no bound). Background jobs (a takeover's replay)
    keep their place in their lane, but at most ``max_background`` of them run or wait for a
    running slot at a time: the other jobs never queue behind more than that many of them."""

    def __init__(
        self,
        *,
        max_pending: int = 10_000,
        max_running: int | None = None,
        max_background: int = 2,
        name: str = "lanes",
    ) -> None:
        self._lanes: dict[str, deque[tuple[Job, bool]]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}
        self._room = asyncio.Semaphore(max_pending)
        self._running = asyncio.Semaphore(max_running) if max_running else None
        self._background = asyncio.Semaphore(max_background)
        self.max_running = max_running
        self._idle = asyncio.Event()
        self._idle.set()
        self._name = name
        self._queued = 0
        self.failures = 0

    @property
    def pending(self) -> int:
        """Jobs queued and not started yet, in all lanes together."""
        return self._queued

    async def submit(self, key: str, job: Job, *, background: bool = False) -> None:
        """Queue ``job`` behind the earlier jobs of ``key``; waits only when every slot is taken."""
        await self._room.acquire()
        self._lanes.setdefault(key, deque()).append((job, background))
        self._queued += 1
        self._idle.clear()
        if key not in self._workers:
            self._workers[key] = asyncio.create_task(self._drain(key), name=f"{self._name}:{key}")

    async def join(self) -> None:
        """Wait until every queued job has run."""
        await self._idle.wait()

    async def drain(self, *, timeout_s: float) -> None:
        """Let queued jobs finish for up to ``timeout_s``, then cancel what is left (shutdown)."""
        try:
            await asyncio.wait_for(self.join(), timeout_s)
        except TimeoutError:
            log.warning("lanes still busy at shutdown", lane=self._name, pending=self.pending)
        await self.close()

    async def close(self) -> None:
        """Cancel what is running and forget what waits (on shutdown)."""
        workers = list(self._workers.values())
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._lanes.clear()
        self._workers.clear()
        self._queued = 0
        self._idle.set()

    async def _run(self, job: Job) -> None:
        if self._running is None:
            await job()
        else:
            async with self._running:
                await job()

    async def _drain(self, key: str) -> None:
        lane = self._lanes[key]
        try:
            while lane:
                job, background = lane.popleft()
                self._queued -= 1
                try:
                    if background:
                        async with self._background:
                            await self._run(job)
                    else:
                        await self._run(job)
                except asyncio.CancelledError:
                    raise
                except Exception:  # a failed job must not stop the lane behind it
                    self.failures += 1
                    log.exception("lane job failed", lane=self._name, key=key)
                finally:
                    self._room.release()
        finally:
            del self._lanes[key]
            del self._workers[key]
            if not self._workers:
                self._idle.set()
