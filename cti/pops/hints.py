"""The ringing card's duplicate hint (查重): "looks like Ivan Petrov, Romashka".

When the caller's contact is known, crmlite's duplicate check looks for other contacts that may
be the same person; the card is updated with the best few when they arrive, so the lookup and
the first card never wait for it, and ``HintQueue`` finds them one at a time behind the cards.
Results are kept a minute per contact: a returning caller does not cost a second check.
Candidates are looked for among every contact (like the card's owner, a hint may name another
seller's contact: the point is that one customer has one record).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.domain.principal import SYSTEM
from crmlite.services.duplicates import DuplicateService

HINT_LIMIT = 3
HINT_TTL_S = 60.0
HINT_TIMEOUT_S = 5.0
_MAX_CACHED = 1024

log = structlog.get_logger(__name__)


class LooksLike(Protocol):
    """Other contacts a caller's contact may duplicate, best first (JSON-ready)."""

    async def __call__(self, contact_id: int) -> tuple[dict[str, Any], ...]: ...


class DuplicateHints:
    """``LooksLike`` over crmlite's DuplicateService, cached for ``ttl_s`` per contact."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        limit: int = HINT_LIMIT,
        ttl_s: float = HINT_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._limit = limit
        self._ttl_s = ttl_s
        self._clock = clock
        self._cache: dict[int, tuple[tuple[dict[str, Any], ...], float]] = {}

    async def __call__(self, contact_id: int) -> tuple[dict[str, Any], ...]:
        now = self._clock()
        cached = self._cache.get(contact_id)
        if cached is not None and now - cached[1] < self._ttl_s:
            return cached[0]
        async with self._sessions() as session:
            found = await DuplicateService(session, SYSTEM).for_contact(
                contact_id, limit=self._limit
            )
        hints = tuple(
            {
                "id": item.contact_id,
                "name": item.name,
                "company": item.company,
                "score": item.match.score,
                "reasons": list(item.match.reasons),
            }
            for item in found.items
        )
        if len(self._cache) >= _MAX_CACHED:
            self._cache.pop(next(iter(self._cache)))
        self._cache[contact_id] = (hints, now)
        return hints


Wanted = Callable[[], bool]
Deliver = Callable[[tuple[dict[str, Any], ...]], Awaitable[None]]


class HintQueue:
    """Find the cards' hints one at a time, after the cards went out, skipping calls that ended.

    A hint costs CPU on the event loop (the name index, the scoring). Looked up beside every
    ringing call, a burst's hints competed with the burst's own ringing cards; here they wait
    their turn behind the cards, a call that stopped ringing meanwhile costs nothing, and when
    more than ``size`` wait the oldest are dropped (a hint is advice, never owed).
    """

    def __init__(self, hints: LooksLike, *, size: int = 256) -> None:
        self._hints = hints
        self._waiting: collections.deque[tuple[int, Wanted, Deliver]] = collections.deque()
        self._size = size
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self.dropped = 0
        self.skipped = 0

    def ask(self, contact_id: int, wanted: Wanted, deliver: Deliver) -> None:
        """Find ``contact_id``'s hint later and ``deliver`` it if the call still ``wanted`` it."""
        if len(self._waiting) >= self._size:
            self._waiting.popleft()
            self.dropped += 1
        self._waiting.append((contact_id, wanted, deliver))
        self._wake.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run(), name="pops-duplicate-hints")

    async def close(self) -> None:
        """Stop finding hints (shutdown)."""
        self._waiting.clear()
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._waiting:
                contact_id, wanted, deliver = self._waiting.popleft()
                if not wanted():
                    self.skipped += 1
                    continue
                await self._one(contact_id, wanted, deliver)
                await asyncio.sleep(0)  # let the cards that arrived meanwhile go first

    async def _one(self, contact_id: int, wanted: Wanted, deliver: Deliver) -> None:
        try:
            async with asyncio.timeout(HINT_TIMEOUT_S):
                found = await self._hints(contact_id)
        except (SQLAlchemyError, OSError, TimeoutError) as err:
            log.warning("pops_hint_failed", contact_id=contact_id, error=repr(err))
            return
        except Exception:  # the worker serves every later call: it must not die of one
            log.exception("pops_hint_crashed", contact_id=contact_id)
            return
        if found and wanted():
            await deliver(found)
