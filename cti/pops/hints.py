"""The ringing card's duplicate hint (查重): "looks like Ivan Petrov, Romashka".

When the caller's contact is known, crmlite's duplicate check looks for other contacts that may
be the same person; the card is updated with the best few when they arrive, so the lookup and
the first card never wait for it. Results are kept a minute per contact: a returning caller does
not cost a second check. Candidates are looked for among every contact (like the card's owner, a
hint may name another seller's contact: the point is that one customer has one record).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.domain.principal import SYSTEM
from crmlite.services.duplicates import DuplicateService

HINT_LIMIT = 3
HINT_TTL_S = 60.0
HINT_TIMEOUT_S = 5.0
_MAX_CACHED = 1024


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
