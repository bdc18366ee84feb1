"""Tell the stage robots, right after a unit of work commits, which deals entered a stage.

Deals move from many places (the API, a wrap-up, a call-to-deal rule, a pool return, a robot);
each records the move through ``stage_moves.record_history``, which notes the deal ids on the
session. When the session commits, the sessions' bell (set on the session factory by the
composition root, ``ring_on_commit``) hears them, so entry robots act within moments instead of
on the next scheduled pass. A rolled-back unit rings nothing. Sessions without a bell (scripts,
tests) just drop the note: the scheduled pass finds those entries anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

EntryBell = Callable[[frozenset[int]], None]

_ENTERED: Final = "stage_robots.entered"
_BELL: Final = "stage_robots.bell"


def note_stage_entries(session: Session, deal_ids: Iterable[int]) -> None:
    """Remember, on this session, deals that entered a stage in its open unit of work."""
    entered: set[int] = session.info.setdefault(_ENTERED, set())
    entered.update(deal_ids)


def ring_on_commit(sessions: async_sessionmaker[AsyncSession], bell: EntryBell) -> None:
    """Have every session of ``sessions`` ring ``bell`` with the deals its commit moved."""
    info = dict(sessions.kw.get("info") or {})
    info[_BELL] = bell
    sessions.configure(info=info)


@event.listens_for(Session, "after_commit")
def _ring(session: Session) -> None:
    entered: set[int] | None = session.info.pop(_ENTERED, None)
    bell: EntryBell | None = session.info.get(_BELL)
    if entered and bell is not None:
        bell(frozenset(entered))


@event.listens_for(Session, "after_rollback")
def _forget(session: Session) -> None:
    session.info.pop(_ENTERED, None)
