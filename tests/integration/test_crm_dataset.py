"""The bench data set (bench/dataset.py) seeds consistent data that the services then work on."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import aliased

from bench.dataset import seed_crm, typed_forms
from crmlite.db.engine import session_factory
from crmlite.db.models import BoardTotal, Contact, ContactPhone, Deal, DealStageChange
from crmlite.domain.phones import PhoneRules, normalize_phone
from crmlite.domain.principal import Principal, Role
from crmlite.services.deal_moves import DealMoveService
from crmlite.services.deals import DealService
from crmlite.services.phones import find_phone_owner


async def test_seeded_data_is_whole_and_the_services_carry_on(engine: AsyncEngine) -> None:
    summary = await seed_crm(engine, contacts=300, deals=200, stage_changes=1500, seed=3)
    sessions = session_factory(engine)
    async with sessions() as session:
        assert await session.scalar(select(func.count(Contact.id))) == 300
        assert await session.scalar(select(func.count(ContactPhone.id))) == 300
        assert await session.scalar(select(func.count(Deal.id))) == 200
        assert await session.scalar(select(func.count(DealStageChange.id))) == 1500
        # Each deal's last change leads to its current stage; each earlier stay ends at the next.
        last = (
            select(DealStageChange.deal_id, func.max(DealStageChange.changed_at).label("at"))
            .group_by(DealStageChange.deal_id)
            .subquery()
        )
        mismatched = await session.scalar(
            select(func.count())
            .select_from(Deal)
            .join(last, last.c.deal_id == Deal.id)
            .join(
                DealStageChange,
                (DealStageChange.deal_id == Deal.id) & (DealStageChange.changed_at == last.c.at),
            )
            .where(DealStageChange.to_stage_id != Deal.stage_id)
        )
        assert mismatched == 0
        later = aliased(DealStageChange)
        ended_by_next = await session.scalar(
            select(func.count())
            .select_from(DealStageChange)
            .join(
                later,
                (later.deal_id == DealStageChange.deal_id)
                & (later.changed_at == DealStageChange.left_at),
            )
        )
        assert ended_by_next == 1500 - 200
        open_stays = await session.scalar(
            select(func.count()).where(DealStageChange.left_at.is_(None))
        )
        assert open_stays == 200
        first_visits = await session.scalar(
            select(func.count()).where(DealStageChange.first_visit.is_(True))
        )
        visits = select(DealStageChange.deal_id, DealStageChange.to_stage_id).distinct().subquery()
        assert first_visits == await session.scalar(select(func.count()).select_from(visits))
        running = await session.execute(
            select(func.sum(BoardTotal.deals), func.sum(BoardTotal.cents))
        )
        assert tuple(running.one()) == (
            200,
            await session.scalar(select(func.sum(func.round(Deal.amount * 100)))),
        )
        typed = typed_forms(summary.phones[3])[1]
        match = await find_phone_owner(session, normalize_phone(typed, PhoneRules()).normalized)
        assert match is not None
    seller = Principal(summary.seller_ids[0], "seller1", Role.SELLER)
    async with sessions.begin() as session:
        deal = await DealService(session, seller).create("after the seed")  # ids continue
        stages = summary.stages[deal.pipeline_id]
        moved = await DealMoveService(session, seller).move(deal.id, stages[1].id)
    async with sessions() as session:
        first = await session.scalar(
            select(DealStageChange).where(
                DealStageChange.deal_id == moved.id, DealStageChange.from_stage_id.is_(None)
            )
        )
    assert first is not None
    assert first.left_at is not None  # the stays trigger is back after the bulk load
