"""The call lane's SQLite engine: statements on the loop's thread, locks never waited on there."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crmlite.db.engine import create_engine, session_factory
from crmlite.db.inline_sqlite import lane_engine
from crmlite.db.models import Activity, CallEffect, Contact, Deal
from crmlite.domain.phones import PhoneRules
from crmlite.services.call_catalog import CallCatalogCache
from crmlite.services.telephony_users import TelephonyUserCache
from cti.rules.book import RuleBook
from cti.rules.call_to_crm import CallToCrm
from cti.rules.executor import RuleExecutor
from cti.web.call_crm import INLINE_ATTEMPTS, INLINE_BACKOFF_S
from tests.conftest import DatabaseTemplates
from tests.integration.call_support import add_agents, inbound_call, ring_all_answered

PHONES = PhoneRules(default_region="RU")
NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
async def main_engine(db_templates: DatabaseTemplates) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(await db_templates.sqlite_copy())
    yield engine
    await engine.dispose()


@pytest.fixture
async def lane(main_engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    inline = lane_engine(main_engine)
    assert inline is not None
    yield inline
    await inline.dispose()


async def test_statements_run_on_the_loops_thread_and_land_in_the_same_file(
    main_engine: AsyncEngine, lane: AsyncEngine
) -> None:
    threads: set[int] = set()

    def on_execute(*_: Any) -> None:
        threads.add(threading.get_ident())

    event.listen(lane.sync_engine, "before_cursor_execute", on_execute)
    async with session_factory(lane).begin() as session:
        session.add(Contact(name="Вера", created_at=NOW, updated_at=NOW))
    async with session_factory(main_engine)() as session:
        names = list(await session.scalars(select(Contact.name)))
    assert names == ["Вера"]
    assert threads == {threading.get_ident()}  # no worker thread: the statement ran right here


async def test_a_locked_database_fails_at_once_instead_of_waiting_on_the_loop(
    main_engine: AsyncEngine, lane: AsyncEngine
) -> None:
    async with lane.connect() as connection:
        timeout = await connection.scalar(text("PRAGMA busy_timeout"))
    assert timeout == 0
    async with main_engine.begin() as holder:  # another writer holds the lock (its own thread)
        await holder.execute(text("UPDATE users SET display_name = display_name"))
        with pytest.raises(OperationalError, match="locked"):
            async with session_factory(lane).begin() as session:
                session.add(Contact(name="waits", created_at=NOW, updated_at=NOW))
    async with session_factory(lane).begin() as session:  # released: the lane writes again
        session.add(Contact(name="after", created_at=NOW, updated_at=NOW))
    async with session_factory(main_engine)() as session:
        assert list(await session.scalars(select(Contact.name))) == ["after"]


async def test_the_lane_retries_a_lock_and_applies_the_call_once(
    main_engine: AsyncEngine, lane: AsyncEngine
) -> None:
    sessions: async_sessionmaker[AsyncSession] = session_factory(main_engine)
    await add_agents(sessions)
    executor = RuleExecutor(PHONES, users=TelephonyUserCache(), catalog=CallCatalogCache())
    crm = CallToCrm(
        session_factory(lane),
        RuleBook(PHONES),
        executor,
        attempts=INLINE_ATTEMPTS,
        backoff_s=INLINE_BACKOFF_S,
    )
    started, *rest = ring_all_answered(inbound_call("lock.1", "+79160000009"), answered_by="101")
    release = asyncio.Event()

    async def hold_the_lock() -> None:
        async with main_engine.begin() as holder:
            await holder.execute(text("UPDATE users SET display_name = display_name"))
            await release.wait()

    holder = asyncio.create_task(hold_the_lock())
    await asyncio.sleep(0.05)  # the holder has the write lock
    applying = asyncio.create_task(crm.handle(started))
    await asyncio.sleep(0.02)  # the lane meets the lock and backs off (never blocking the loop)
    assert not applying.done()
    release.set()
    await holder
    outcome = await applying
    assert outcome.deal_created
    assert not outcome.pending
    for later in rest:
        await crm.handle(later)
    replayed = await crm.handle(started)
    assert replayed.applied == ()
    async with sessions() as session:
        assert await session.scalar(select(func.count(Deal.id))) == 1
        assert await session.scalar(select(func.count(Activity.id))) == 1
        effects = await session.scalar(
            select(func.count(CallEffect.id)).where(CallEffect.linkedid == "lock.1")
        )
    assert effects is not None
    assert effects > 0
    assert crm.pending == 0


async def test_other_backends_and_memory_keep_the_one_engine() -> None:
    memory = create_engine("sqlite+aiosqlite:///:memory:")
    try:
        assert lane_engine(memory) is None
    finally:
        await memory.dispose()
