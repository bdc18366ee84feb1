"""A locked database never holds the ringing card back: the number goes out at once with
"looking up…", and the card is completed when the database answers (PostgreSQL: a real lock)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Contact, ContactPhone
from cti.calls.events import AgentRinging, CallSnapshot, CallStarted
from cti.web.pops_keys import POP_SERVICE
from tests.integration.pops_support import (
    RunningApp,
    open_tab,
    receive,
    receive_until,
    seed_agents,
    start_app,
)

CALLER = "+79161112233"
CALL = CallSnapshot(
    pbx="pbx", linkedid="1700000200.1", direction="inbound", state="ringing", caller=CALLER
)


@pytest.fixture
async def running(database_url: str) -> AsyncIterator[RunningApp]:
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite readers are never blocked by a writer in WAL mode")
    running = await start_app(database_url)
    yield running
    await running.close()


async def test_the_card_goes_out_while_the_database_is_locked_and_completes_after(
    running: RunningApp, database_url: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    agents = await seed_agents(sessions, ["101"])
    async with sessions.begin() as db:
        contact = Contact(name="Olga Smirnova", company="Vector")
        contact.created_at = contact.updated_at = dt.datetime.now(dt.UTC)
        db.add(contact)
        await db.flush()
        db.add(ContactPhone(contact_id=contact.id, raw=CALLER, normalized=CALLER, kind="e164"))
    locker = await asyncpg.connect(database_url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        async with aiohttp.ClientSession() as client:
            tab = await open_tab(client, running.url, agents["101"].token)
            await receive(tab)
            transaction = locker.transaction()
            await transaction.start()
            await locker.execute("LOCK TABLE contact_phones IN ACCESS EXCLUSIVE MODE")
            service = running.app[POP_SERVICE]
            await service.on_call_event(CallStarted(pbx="pbx", at=1.0, call=CALL))
            await service.on_call_event(
                AgentRinging(pbx="pbx", at=1.0, call=CALL, extension="101", interface="PJSIP/101")
            )
            ringing = await receive_until(tab, "call.ringing")
            assert ringing["card"]["lookup"] == "pending"
            assert ringing["card"]["caller"]["display"] == "8 (916) 111-22-33"
            assert ringing["card"]["contact"] is None
            await transaction.rollback()  # the database answers again
            updated = await receive_until(tab, "call.updated")
            assert updated["card"]["lookup"] == "done"
            assert updated["card"]["contact"]["name"] == "Olga Smirnova"
            await tab.close()
    finally:
        await locker.close()
