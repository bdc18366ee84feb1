"""Every stored contact's name and company, indexed once per process for the duplicate check.

The check (``crmlite.services.duplicates``) used to read the whole base on each call; the ringing
card asks it about every known caller. This index is built on first use from one pass of
(id, name, company, updated_at) and then kept up to date by polling: each use reads only the
contacts created since (``id`` above the largest seen) or changed since (``updated_at`` after the
latest seen, but never later than ``OVERLAP`` ago: a change stamped just now may still be
committing, so recent ones are read again until they are older than that). Every
writer sets ``updated_at``, whichever instance it runs in, so a rename anywhere is seen on the
next use; the whole index is rebuilt every ``REBUILD_AFTER_S`` all the same, which bounds what a
writer with a badly wrong clock could hide, and drops the contacts deleted or merged away.

The index only proposes ids whose names may read alike: the caller reads those contacts afresh and
scores them, so an entry that went stale (deleted, renamed away) never shows as a candidate.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import weakref
from collections.abc import Callable, Iterable

from sqlalchemy import Connection, Engine, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Contact
from crmlite.domain.clock import Clock
from crmlite.domain.duplicates import DuplicateIndex, PersonKey
from crmlite.services.common import utc_now

OVERLAP = dt.timedelta(seconds=5)
REBUILD_AFTER_S = 15 * 60.0
# Most people one search gathers by name keys; a name common enough to fill this is too vague.
MAX_NAMED = 2000


class ContactNameIndex:
    """The names and companies of every contact, for name candidates without reading the base."""

    def __init__(
        self,
        *,
        rebuild_after_s: float = REBUILD_AFTER_S,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Clock = utc_now,
    ) -> None:
        self._rebuild_after_s = rebuild_after_s
        self._monotonic = monotonic
        self._clock = clock
        self._index = DuplicateIndex(max_named=MAX_NAMED)
        self._built_at: float | None = None
        self._since: dt.datetime | None = None
        self._top_id = 0
        self._lock = asyncio.Lock()

    async def named_like(
        self, session: AsyncSession, person: PersonKey, *, exclude: Iterable[int] = ()
    ) -> list[int]:
        """Ids of contacts whose name (and company) read like ``person``'s, as last indexed."""
        async with self._lock:
            await self._refresh(session)
        named = PersonKey(person.name, person.company)
        found = self._index.candidates(named, limit=MAX_NAMED, exclude=exclude)
        return [contact_id for contact_id, _ in found]

    async def _refresh(self, session: AsyncSession) -> None:
        query = select(Contact.id, Contact.name, Contact.company, Contact.updated_at)
        now = self._monotonic()
        if self._built_at is None or now - self._built_at >= self._rebuild_after_s:
            self._index = DuplicateIndex(max_named=MAX_NAMED)
            self._since, self._top_id, self._built_at = None, 0, now
        else:
            changed = Contact.id > self._top_id
            if self._since is not None:
                changed = or_(changed, Contact.updated_at > self._since)
            query = query.where(changed)
        # Changes stamped in the last OVERLAP may still be committing: the next poll reads them
        # again, while older ones are read once.
        horizon = self._clock() - OVERLAP
        latest = self._since
        result = await session.stream(query)
        async for rows in result.partitions(MAX_NAMED):
            for row in rows:
                self._index.add(row.id, PersonKey(row.name, row.company))
                self._top_id = max(self._top_id, row.id)
                if latest is None or row.updated_at > latest:
                    latest = row.updated_at
        if latest is not None:
            self._since = min(latest, horizon)


_BY_ENGINE: weakref.WeakKeyDictionary[Engine, ContactNameIndex] = weakref.WeakKeyDictionary()


def name_index_of(session: AsyncSession) -> ContactNameIndex:
    """The process-wide index of the database ``session`` is bound to."""
    bind = session.get_bind()
    sync = bind.engine if isinstance(bind, Connection) else bind
    index = _BY_ENGINE.get(sync)
    if index is None:
        index = _BY_ENGINE[sync] = ContactNameIndex()
    return index
