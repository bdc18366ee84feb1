"""The CRM lane's cost held without timing: SQL statements per call, and the caches' freshness.

A new caller's ring-all queue call (started, three agents ringing, answered, ended) took 61
statements before the lane was trimmed, then 27, then 22; the ceilings below hold today's 20 on
SQLite (8 at the start, none for the agents' ringing, 7 at the answer, 5 at the end; PostgreSQL
adds the board totals' slot at the start).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import delete, event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crmlite.db.models import (
    Activity,
    BlockedNumber,
    CallEffect,
    Campaign,
    CampaignSource,
    Deal,
    Stage,
)
from crmlite.domain.phones import PhoneRules
from crmlite.services.call_catalog import CallCatalogCache
from crmlite.services.telephony_users import TelephonyUserCache
from cti.rules.book import RuleBook
from cti.rules.call_to_crm import CallToCrm
from cti.rules.executor import RuleExecutor
from tests.integration.call_support import add_agents, inbound_call, ring_all_answered

PHONES = PhoneRules(default_region="RU")
CEILINGS = {"CallStarted": 9, "AgentRinging": 0, "CallAnswered": 7, "CallEnded": 5}


@contextmanager
def counting(engine: AsyncEngine) -> Iterator[list[str]]:
    """Collect every statement sent to the database while the block runs."""
    statements: list[str] = []

    def on_execute(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine.sync_engine, "before_cursor_execute", on_execute)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", on_execute)


def _crm(sessions: async_sessionmaker[AsyncSession], catalog: CallCatalogCache) -> CallToCrm:
    executor = RuleExecutor(PHONES, users=TelephonyUserCache(), catalog=catalog)
    return CallToCrm(sessions, RuleBook(PHONES), executor)


async def test_a_new_callers_queue_call_costs_few_statements(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_agents(sessions)
    crm = _crm(sessions, CallCatalogCache())
    warm = ring_all_answered(inbound_call("warm.1", "+79160000001"), answered_by="101")
    await _run_all(crm, warm)  # the caches fill (users, stages, campaigns)
    per_kind: Counter[str] = Counter()
    events = ring_all_answered(inbound_call("call.2", "+79160000002"), answered_by="101")
    for call_event in events:
        with counting(engine) as statements:
            await crm.handle(call_event)
        kind = type(call_event).__name__
        per_kind[kind] = max(per_kind[kind], len(statements))
    for kind, ceiling in CEILINGS.items():
        assert per_kind[kind] <= ceiling, (kind, per_kind[kind])
    assert crm.skipped == 6  # both calls: the three agents' ringing opened no transaction

    async with sessions() as session:
        deal = await session.scalar(select(Deal).where(Deal.title.contains("Vera")))
        assert deal is not None
        assert deal.owner_id is not None  # the answer still handed the deal over
        logged = await session.scalar(select(Activity).where(Activity.linkedid == "call.2"))
        assert logged is not None
        assert logged.ended_at is not None


async def test_a_replayed_call_is_asked_of_the_database_and_changes_nothing(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await add_agents(sessions)
    events = ring_all_answered(inbound_call("call.3", "+79160000003"))
    await _run_all(_crm(sessions, CallCatalogCache()), events)
    fresh = _crm(sessions, CallCatalogCache())  # another process: remembers nothing
    with counting(engine) as statements:
        outcomes = await _run_all(fresh, events)
    assert all(not outcome.applied for outcome in outcomes)
    assert not any(s.lstrip().upper().startswith(("INSERT", "UPDATE")) for s in statements)


async def _run_all(crm: CallToCrm, events: list[Any]) -> list[Any]:
    return [await crm.handle(call_event) for call_event in events]


async def test_a_committed_campaign_or_stage_change_reaches_the_cached_catalog(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_agents(sessions)
    catalog = CallCatalogCache()
    crm = _crm(sessions, catalog)
    await _run_all(crm, ring_all_answered(inbound_call("call.4", "+79160000004")))
    reads = catalog.reads
    async with sessions.begin() as session:
        campaign = Campaign(name="Radio", active=True, created_at=dt.datetime.now(dt.UTC))
        session.add(campaign)
        await session.flush()
        session.add(CampaignSource(campaign_id=campaign.id, kind="did", value="+74951234567"))
    await _run_all(crm, ring_all_answered(inbound_call("call.5", "+79160000005")))
    assert catalog.reads == reads + 1  # the commit cleared it; the next call read it again
    async with sessions() as session:
        credited = await session.scalar(
            select(Activity.campaign_id).where(Activity.linkedid == "call.5")
        )
    assert credited == campaign.id

    reads = catalog.reads
    async with sessions() as session, session.begin():
        stage = await session.scalar(select(Stage).where(Stage.is_unsorted.is_(True)))
        assert stage is not None
        stage.name = "Inbox"
        await session.rollback()  # a rolled-back edit leaves the catalog as it was
    await _run_all(crm, ring_all_answered(inbound_call("call.6", "+79160000006")))
    assert catalog.reads == reads


async def test_a_number_blocked_or_unblocked_reaches_the_cached_catalog(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_agents(sessions)
    catalog = CallCatalogCache()
    crm = _crm(sessions, catalog)
    await _run_all(crm, ring_all_answered(inbound_call("warm.7", "+79160000070")))
    assert catalog.reads == 1
    async with sessions.begin() as session:
        session.add(
            BlockedNumber(
                normalized="+79160000071", reason="spam", created_at=dt.datetime.now(dt.UTC)
            )
        )
    await _run_all(crm, ring_all_answered(inbound_call("spam.1", "+79160000071")))
    assert catalog.reads == 2  # the block's commit cleared the catalog
    async with sessions.begin() as session:
        await session.execute(delete(BlockedNumber))
    await _run_all(crm, ring_all_answered(inbound_call("spam.2", "+79160000071")))
    assert catalog.reads == 3  # and so did the unblock's
    async with sessions() as session:
        made = await session.scalars(
            select(CallEffect.linkedid).where(CallEffect.effect == "deal", CallEffect.created)
        )
        assert sorted(made) == ["spam.2", "warm.7"]  # the blocked call made no deal
