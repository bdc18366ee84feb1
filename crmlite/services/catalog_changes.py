"""Tell the call catalog caches that pipelines, stages, campaigns or blocked numbers changed, when
it commits.

Any session write to those tables (ORM objects at flush, or bulk ``insert``/``update``/``delete``
statements run through a session) marks the session; on PostgreSQL a ``pg_notify`` on ``CHANNEL``
is sent in the same transaction (delivered at commit, dropped with a rollback) so other instances
clear theirs, and at commit the caches of this process are cleared (``after_commit``). Hooking the
session rather than each service means a new writer of these tables cannot forget to announce.
"""

from __future__ import annotations

import weakref
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.orm import ORMExecuteState, Session

from crmlite.services.user_changes import Invalidatable

CHANNEL = "crmlite_call_catalog"
TABLES = frozenset({"pipelines", "stages", "campaigns", "campaign_sources", "blocked_numbers"})
_CHANGED = "crmlite.catalog_changed"

_WATCHERS: weakref.WeakSet[Invalidatable] = weakref.WeakSet()


def watch(cache: Invalidatable) -> None:
    """Clear ``cache`` whenever a change to pipelines, stages or campaigns commits here."""
    _WATCHERS.add(cache)


def _mark(session: Session) -> None:
    if session.info.get(_CHANGED):
        return
    session.info[_CHANGED] = True
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.connection().execute(text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


def _table_of(obj: Any) -> str | None:
    table = getattr(obj, "__table__", None)
    return getattr(table, "name", None)


@event.listens_for(Session, "after_flush")
def _after_flush(session: Session, _context: Any) -> None:
    touched = (*session.new, *session.dirty, *session.deleted)
    if any(_table_of(obj) in TABLES for obj in touched):
        _mark(session)


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in TABLES:
        _mark(state.session)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        for cache in list(_WATCHERS):
            cache.invalidate()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_CHANGED, None)
