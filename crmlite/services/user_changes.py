"""Tell caches that users or telephony identities changed, when the change commits.

``announce_change`` is called by the users service inside the writing transaction. At commit the
caches of this process are cleared (``after_commit``); on PostgreSQL a ``pg_notify`` on
``CHANNEL`` sent in the same transaction reaches the other instances (delivered at commit, dropped
with a rollback). The caches themselves live with their readers (``telephony_users``).
"""

from __future__ import annotations

import weakref
from typing import Protocol

from sqlalchemy import event, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

CHANNEL = "crmlite_telephony_users"
_CHANGED = "crmlite.users_changed"


class Invalidatable(Protocol):
    def invalidate(self) -> None: ...


_WATCHERS: weakref.WeakSet[Invalidatable] = weakref.WeakSet()


def watch(cache: Invalidatable) -> None:
    """Clear ``cache`` whenever a change to users or identities commits in this process."""
    _WATCHERS.add(cache)


async def announce_change(db: AsyncSession) -> None:
    """Say that users or identities change in ``db``'s transaction."""
    db.info[_CHANGED] = True
    if db.bind is not None and db.bind.dialect.name == "postgresql":
        await db.execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        for cache in list(_WATCHERS):
            cache.invalidate()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)
