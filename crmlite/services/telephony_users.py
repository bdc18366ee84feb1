"""``users_by_telephony`` behind a cache that every change to users or identities drops.

The call side asks who sits at an extension on nearly every call event (three ringing agents, the
answer, the end); the answer changes only when an admin edits a user. So answers are kept until a
change is announced: ``announce_change`` marks the writing session, and when that transaction
commits the caches of this process are cleared and, on PostgreSQL, ``pg_notify`` (sent inside the
same transaction, so a rollback sends nothing) tells the other instances, whose ``listen`` task
clears theirs. While an instance is not listening (no connection yet, or it was lost) its cache
passes every lookup through to the database, so a missed notification never leaves a stale owner.
A lookup that raced an invalidation is answered but not kept.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crmlite.db.models import TelephonyIdentity
from crmlite.services.change_listener import listen_for_changes
from crmlite.services.user_changes import CHANNEL, watch
from crmlite.services.users import TelephonyUser, users_by_telephony


class TelephonyUserCache:
    """Who sits at each PBX name, remembered until a change to users or identities."""

    def __init__(self, *, shared: bool = False) -> None:
        # ``shared``: other processes may write users (PostgreSQL): keep answers only while
        # ``listen`` holds its connection. Otherwise this process sees every change itself.
        # Keyed by (the asking call's PBX, the name): 101 is a different person in each office.
        self._answers: dict[tuple[str | None, str], TelephonyUser | None] = {}
        self._generation = 0
        self.enabled = not shared
        self.hits = 0
        self.misses = 0
        watch(self)

    def invalidate(self) -> None:
        """Forget every answer (a user or identity changed)."""
        self._answers.clear()
        self._generation += 1

    async def lookup(
        self, db: AsyncSession, values: Iterable[str], *, pbx: str | None = None
    ) -> dict[str, TelephonyUser]:
        """``users_by_telephony(db, values, pbx=pbx)``, from memory where possible."""
        names = {value.strip() for value in values if value and value.strip()}
        missing = (
            {name for name in names if (pbx, name) not in self._answers} if self.enabled else names
        )
        found: dict[str, TelephonyUser] = {}
        if missing:
            self.misses += len(missing)
            generation = self._generation
            found = await users_by_telephony(db, missing, pbx=pbx)
            if self.enabled and generation == self._generation:
                self._answers.update({(pbx, name): found.get(name) for name in missing})
        self.hits += len(names) - len(missing)
        result: dict[str, TelephonyUser] = {}
        for name in names:
            user = found.get(name) if name in missing else self._answers.get((pbx, name))
            if user is not None:
                result[name] = user
        return result

    async def warm(
        self,
        sessions: async_sessionmaker[AsyncSession],
        pbxs: Iterable[str | None],
        *,
        wait_s: float = 10.0,
    ) -> int:
        """Look every telephony name up once per PBX, as soon as answers may be kept (``listen``
        holds its connection): the first calls after a start, or after a standby takes over, find
        their sellers here instead of one query each. Returns how many answers it keeps."""
        for _ in range(int(wait_s / 0.05)):
            if self.enabled:
                break
            await asyncio.sleep(0.05)
        else:
            return 0
        async with sessions() as db:
            names = set((await db.scalars(select(TelephonyIdentity.value))).all())
            for pbx in pbxs:
                await self.lookup(db, names, pbx=pbx)
        return len(self._answers)

    async def listen(self, engine: AsyncEngine, *, retry_s: float = 2.0) -> None:
        """Clear on other instances' changes (PostgreSQL) until cancelled; pass through if deaf."""
        await listen_for_changes(engine, CHANNEL, self, retry_s=retry_s)
