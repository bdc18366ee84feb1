"""The idle return runs inside the service on a schedule, once across instances."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import ContactPoolEvent
from crmlite.services.contacts import ContactService
from cti.pool_watch import POOL_WATCH, PoolReturnWatch
from tests.integration.crm_support import add_users
from tests.support.api import ApiHarness, start_api

LONG_AGO = dt.datetime.now(dt.UTC) - dt.timedelta(days=45)


async def _passed(watch: PoolReturnWatch) -> None:
    for _ in range(400):
        if watch.passes:
            return
        await asyncio.sleep(0.05)


async def test_two_instances_return_an_idle_contact_once(
    database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    anna, _, _, _ = await add_users(sessions)
    async with sessions.begin() as db:
        contact = await ContactService(db, anna, clock=lambda: LONG_AGO).create("Idle Ilya")
    instances: list[ApiHarness] = []
    try:
        for _ in range(2):
            instances.append(await start_api(database_url, settings={"pool": {"idle_days": 30}}))
        watches = [harness.app[POOL_WATCH] for harness in instances]
        # Whichever instance leads passes first; with PostgreSQL the other waits on the lock.
        done, pending = await asyncio.wait(
            [asyncio.create_task(_passed(w)) for w in watches],
            return_when=asyncio.FIRST_COMPLETED,
        )
        for task in pending:
            task.cancel()
        if database_url.startswith("sqlite"):
            for watch in watches:
                await _passed(watch)  # no lock on SQLite: both pass, one returns it
        async with sessions() as db:
            events = list(
                await db.scalars(
                    select(ContactPoolEvent.kind).where(ContactPoolEvent.contact_id == contact.id)
                )
            )
        assert events == ["returned"]
        assert sum(w.returned for w in watches) == 1
        if database_url.startswith("postgresql"):
            assert sorted(w.passes for w in watches)[0] == 0  # the follower never ran
        assert done
    finally:
        for harness in instances:
            await harness.close()


async def test_the_return_is_off_when_the_pool_is_disabled(database_url: str) -> None:
    harness = await start_api(database_url, settings={"pool": {"enabled": False}})
    try:
        assert POOL_WATCH not in harness.app
        # The API still answers with the pool's rules.
        client = await harness.client("seller")
        assert (await client.get("/api/v1/pool")).status == 200
    finally:
        await harness.close()
