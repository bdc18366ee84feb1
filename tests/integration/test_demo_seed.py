"""The demo data goes in through the services, once, with a real stage history."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Contact, Deal, DealStageChange, Pipeline, TelephonyIdentity, User
from crmlite.domain.phones import PhoneRules
from cti.demo import CONTACTS, DEMO_USERS, demo_caller_numbers, seed_demo


async def _count(db: AsyncSession, model: type) -> int:
    return int((await db.execute(select(func.count()).select_from(model))).scalar_one())


async def test_seed_is_complete_and_idempotent(sessions: async_sessionmaker[AsyncSession]) -> None:
    rules = PhoneRules("RU")
    assert await seed_demo(sessions, rules=rules) is True
    async with sessions() as db:
        counts = {m.__name__: await _count(db, m) for m in (User, Contact, Deal, Pipeline)}
        history = await _count(db, DealStageChange)
        extensions = set(
            (
                await db.execute(
                    select(TelephonyIdentity.value).where(TelephonyIdentity.kind == "extension")
                )
            ).scalars()
        )
    assert counts["User"] == len(DEMO_USERS)
    assert counts["Contact"] == len(CONTACTS)
    assert counts["Pipeline"] == 4
    assert counts["Deal"] >= len(CONTACTS)
    assert history > counts["Deal"], "deals moved through stages leave history behind"
    assert extensions == {"101", "102", "103", "104", "105"}

    assert await seed_demo(sessions, rules=rules) is False
    async with sessions() as db:
        assert await _count(db, Deal) == counts["Deal"]


def test_demo_callers_are_the_seeded_contacts() -> None:
    assert set(demo_caller_numbers()) == {phone for _, _, phone in CONTACTS}
