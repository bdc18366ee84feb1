"""Transient database failures: retried with backoff, then queued in order, never lost silently."""

from __future__ import annotations

import sqlite3

from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Deal
from crmlite.domain.phones import PhoneRules
from cti.rules.book import RuleBook
from cti.rules.call_to_crm import CallToCrm, is_transient
from cti.rules.executor import RuleExecutor
from cti.rules.model import moments_of
from tests.integration.call_support import add_agents, inbound_call, ring_all_answered

PHONES = PhoneRules(default_region="RU")


class FlakySessions:
    """A session factory that fails like a locked SQLite file while ``failing`` is positive."""

    def __init__(self, real: async_sessionmaker[AsyncSession], failing: int) -> None:
        self.real = real
        self.failing = failing

    def __call__(self) -> AsyncSession:
        if self.failing > 0:
            self.failing -= 1
            raise OperationalError("BEGIN", {}, sqlite3.OperationalError("database is locked"))
        return self.real()


class RecordedSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def _crm(sessions: object, sleep: RecordedSleep, **kwargs: int) -> CallToCrm:
    return CallToCrm(
        sessions,  # type: ignore[arg-type]
        RuleBook(PHONES),
        RuleExecutor(PHONES),
        sleep=sleep,
        **kwargs,  # type: ignore[arg-type]
    )


async def _deals(sessions: async_sessionmaker[AsyncSession]) -> list[Deal]:
    async with sessions() as session:
        return list((await session.scalars(select(Deal))).all())


def test_transient_errors_are_told_apart() -> None:
    locked = OperationalError("x", {}, sqlite3.OperationalError("database is locked"))
    assert is_transient(locked)
    assert is_transient(ConnectionResetError())
    assert not is_transient(ValueError("bad"))


async def test_locked_database_is_retried_with_backoff(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_agents(sessions)
    sleep = RecordedSleep()
    flaky = FlakySessions(sessions, failing=2)
    crm = _crm(flaky, sleep)
    outcome = await crm.handle(ring_all_answered(inbound_call())[1])
    assert not outcome.pending
    assert outcome.deal_created
    assert sleep.delays == [0.05, 0.1]


async def test_unreachable_database_queues_events_in_call_order_until_it_heals(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    agents = await add_agents(sessions)
    sleep = RecordedSleep()
    flaky = FlakySessions(sessions, failing=10**6)
    crm = _crm(flaky, sleep, attempts=2)
    events = ring_all_answered(inbound_call(), answered_by="102")
    outcomes = [await crm.handle(event) for event in events]
    # Events no rule can match (a phone stopped ringing) need no database and are not queued.
    needing_db = [e for e in events if moments_of(e)]
    assert [o.pending for o in outcomes] == [bool(moments_of(e)) for e in events]
    assert crm.pending == len(needing_db)
    assert await _deals(sessions) == []

    flaky.failing = 0
    assert await crm.drain() == len(needing_db)
    assert crm.pending == 0
    [deal] = await _deals(sessions)
    assert deal.owner_id == agents["102"].user_id  # answered after ringing: order was kept


async def test_full_retry_queue_drops_the_oldest_and_counts_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_agents(sessions)
    crm = _crm(FlakySessions(sessions, failing=10**6), RecordedSleep(), attempts=1, queue_size=2)
    events = ring_all_answered(inbound_call())[:3]  # started, two agents ringing
    for event in events:
        await crm.handle(event)
    assert crm.dropped == 1
    assert list(crm.retry_queue) == events[1:]


async def test_drain_stops_while_the_database_is_still_down(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_agents(sessions)
    flaky = FlakySessions(sessions, failing=10**6)
    crm = _crm(flaky, RecordedSleep(), attempts=1)
    await crm.handle(ring_all_answered(inbound_call())[1])
    assert await crm.drain() == 0
    assert crm.pending == 1
    async with sessions() as session:
        assert await session.scalar(select(func.count(Deal.id))) == 0


class BrokenSessions:
    """A session factory whose every use fails with a programming error (not transient)."""

    def __call__(self) -> AsyncSession:
        raise ValueError("a bug, not the database being away")


async def test_a_non_transient_failure_is_reported_not_queued() -> None:
    crm = _crm(BrokenSessions(), RecordedSleep())
    event = ring_all_answered(inbound_call())[1]
    outcome = await crm.handle(event)
    assert not outcome.pending
    assert outcome.deal_id is None
    assert crm.pending == 0
