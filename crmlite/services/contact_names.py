"""Every stored contact's name and company, indexed once per process for the duplicate check.

The check (``crmlite.services.duplicates``) used to read the whole base on each call; the ringing
card asks it about every known caller. This index is built on first use from one pass of
(id, name, company, updated_at) and then kept up to date by polling: each use reads only the
contacts created since (``id`` above the largest seen) or changed since (``updated_at`` after the
latest seen, but never later than ``OVERLAP`` ago: a change stamped just now may still be
committing, so recent ones are read again until they are older than that). Every
writer sets ``updated_at``, whichever instance it runs in, so a rename anywhere is seen on the
next use; the whole index is rebuilt every ``REBUILD_AFTER_S`` all the same, which bounds what a
writer with a badly wrong clock could hide, and drops the contacts deleted or merged away (checks
meanwhile answer from the index as of the last poll rather than wait for the rebuild).

The index only proposes ids whose names may read alike: the caller reads those contacts afresh and
scores them, so an entry that went stale (deleted, renamed away) never shows as a candidate.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import weakref
from collections.abc import Callable, Iterable
from typing import cast

from sqlalchemy import Connection, Engine, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

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
        self._pass: asyncio.Task[None] | None = None
        self._replacing = False  # the pass in flight rebuilds an index already in use

    async def named_like(
        self, session: AsyncSession, person: PersonKey, *, exclude: Iterable[int] = ()
    ) -> list[int]:
        """Ids of contacts whose name (and company) read like ``person``'s, as last indexed."""
        if self._pass is None or self._pass.done():
            bind = session.bind
            engine = bind if isinstance(bind, AsyncEngine) else cast(AsyncConnection, bind).engine
            now = self._monotonic()
            rebuild = self._built_at is None or now - self._built_at >= self._rebuild_after_s
            self._replacing = rebuild and self._built_at is not None
            self._pass = asyncio.create_task(self._refresh(engine, now, rebuild=rebuild))
            self._pass.add_done_callback(_retrieve)
        if not (self._replacing and not self._pass.done()):
            # A caller that gives up (the ringing card waits 5 s) leaves the pass running, in its
            # own session, for the next one: a first build over a large base is not cut short.
            await asyncio.shield(self._pass)
        # While a periodic rebuild runs, checks use the index as of the last poll, not wait for it.
        named = PersonKey(person.name, person.company)
        found = self._index.candidates(named, limit=MAX_NAMED, exclude=exclude)
        return [contact_id for contact_id, _ in found]

    async def settled(self) -> None:
        """Wait for the pass in flight, if any (a rebuild the last check did not wait for)."""
        if self._pass is not None:
            await asyncio.shield(self._pass)

    async def _refresh(self, engine: AsyncEngine, now: float, *, rebuild: bool) -> None:
        query = select(Contact.id, Contact.name, Contact.company, Contact.updated_at)
        if rebuild:
            index, since, top_id = DuplicateIndex(max_named=MAX_NAMED), None, 0
        else:
            index, since, top_id = self._index, self._since, self._top_id
            changed = Contact.id > top_id
            if since is not None:
                changed = or_(changed, Contact.updated_at > since)
            query = query.where(changed)
        # Changes stamped in the last OVERLAP may still be committing: the next poll reads them
        # again, while older ones are read once.
        horizon = self._clock() - OVERLAP
        latest = since
        async with AsyncSession(engine) as session:
            result = await session.stream(query)
            async for rows in result.partitions(MAX_NAMED):
                for row in rows:
                    index.add(row.id, PersonKey(row.name, row.company))
                    top_id = max(top_id, row.id)
                    if latest is None or row.updated_at > latest:
                        latest = row.updated_at
        # Only a whole pass moves the marks: a pass cut short (a caller's timeout) is done again.
        self._index, self._top_id = index, top_id
        self._since = None if latest is None else min(latest, horizon)
        if rebuild:
            self._built_at = now


def _retrieve(task: asyncio.Task[None]) -> None:
    """Take a pass's error when every caller had left: the next call starts a new pass."""
    if not task.cancelled():
        task.exception()


_BY_ENGINE: weakref.WeakKeyDictionary[Engine, ContactNameIndex] = weakref.WeakKeyDictionary()


def name_index_of(session: AsyncSession) -> ContactNameIndex:
    """The process-wide index of the database ``session`` is bound to."""
    bind = session.get_bind()
    sync = bind.engine if isinstance(bind, Connection) else bind
    index = _BY_ENGINE.get(sync)
    if index is None:
        index = _BY_ENGINE[sync] = ContactNameIndex()
    return index
