"""Campaigns: CRUD, attribution of calls and web forms, touches, the campaign report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Activity, CampaignSource, Contact, Deal
from crmlite.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from crmlite.domain.principal import Principal, Role
from crmlite.domain.reports import ReportScope
from crmlite.services.campaign_reports import campaign_report, planned_campaign_forecast
from crmlite.services.campaigns import (
    add_cost,
    add_source,
    attribute_call,
    attribute_web_form,
    create_campaign,
    delete_campaign,
    get_campaign,
    list_campaigns,
    record_touch,
    update_campaign,
)
from tests.integration.reports_world import DID, FEB, JAN, World, at, build_world

pytestmark = pytest.mark.db

HEAD = Principal(user_id=None, login="head", role=Role.HEAD)
SELLER = Principal(user_id=999, login="seller", role=Role.SELLER)


@dataclass(frozen=True)
class Marketing:
    world: World
    yandex: int
    radio: int
    empty: int
    deals: list[int]  # D1..D7 in the order of reports_world.DEALS
    web_contact: int


async def _make_campaigns(session: AsyncSession) -> tuple[int, int, int]:
    yandex = await create_campaign(session, HEAD, name="Yandex", channel="ads", now=at(12, 1, 0))
    await add_source(session, HEAD, yandex.id, kind="did", value=DID, active_from=JAN)
    await add_cost(
        session, HEAD, yandex.id, period_start=dt.date(2025, 12, 15),
        period_end=dt.date(2026, 1, 15), amount="32000.00", currency="RUB",
    )  # fmt: skip
    await add_cost(
        session, HEAD, yandex.id, period_start=dt.date(2026, 1, 16),
        period_end=dt.date(2026, 2, 14), amount="30000", currency="rub",
    )  # fmt: skip
    radio = await create_campaign(session, HEAD, name="Radio", now=at(12, 1, 0))
    await add_source(session, HEAD, radio.id, kind="caller_prefix", value="+7812")
    await add_source(session, HEAD, radio.id, kind="web_form", value="radio-landing")
    await add_cost(
        session, HEAD, radio.id, period_start=dt.date(2026, 1, 1),
        period_end=dt.date(2026, 1, 31), amount="500.00", currency="USD",
    )  # fmt: skip
    empty = await create_campaign(session, HEAD, name="Empty", now=at(12, 1, 0))
    return yandex.id, radio.id, empty.id


@pytest.fixture
async def marketing(sessions: async_sessionmaker[AsyncSession]) -> Marketing:
    world = await build_world(sessions)
    async with sessions.begin() as session:
        yandex, radio, empty = await _make_campaigns(session)
        calls = (
            await session.execute(
                select(Activity.id, Activity.to_number, Activity.from_number, Activity.started_at)
                .where(Activity.direction == "inbound")
                .order_by(Activity.id)
            )
        ).all()
        for call_id, did, caller, started in calls:
            campaign = await attribute_call(session, did, caller, started)
            await record_touch(session, campaign, call_id=call_id)
        deals = list(
            (
                await session.scalars(
                    select(Deal.id).where(Deal.pipeline_id == world.pipeline_id).order_by(Deal.id)
                )
            ).all()
        )
        for deal in deals[:3]:
            await record_touch(session, yandex, deal_id=deal)
        await record_touch(session, radio, deal_id=deals[3])
        await record_touch(session, yandex, deal_id=deals[3])
        c4 = await session.scalar(select(Contact.id).where(Contact.name == "Caller four"))
        await record_touch(session, yandex, contact_id=c4)
        contacts = []
        for name, created in (("Web lead", at(1, 9, 12)), ("Old friend", at(12, 2, 12))):
            result = await session.execute(
                insert(Contact)
                .values(name=name, created_at=created, updated_at=created)
                .returning(Contact.id)
            )
            contacts.append(result.scalar_one())
        web, old = contacts
        await record_touch(
            session,
            await attribute_web_form(session, "radio-landing", at(1, 9, 12)),
            contact_id=web,
        )
        await record_touch(session, yandex, contact_id=web)
        await record_touch(session, yandex, contact_id=old)
    return Marketing(world, yandex, radio, empty, deals, web)


def scope(marketing: Marketing) -> ReportScope:
    return ReportScope(pipeline_id=marketing.world.pipeline_id, since=JAN, until=FEB)


async def test_campaign_report_first_touch(
    sessions: async_sessionmaker[AsyncSession], marketing: Marketing
) -> None:
    async with sessions() as session:
        report = {row.name: row for row in await campaign_report(session, scope(marketing))}
    assert list(report) == ["Empty", "Radio", "Yandex"]
    yandex, radio, empty = report["Yandex"], report["Radio"], report["Empty"]
    assert (yandex.calls, yandex.unique_callers, yandex.missed) == (8, 6, 5)
    assert (yandex.leads, yandex.deals, yandex.won) == (1, 3, 2)
    assert yandex.revenue == {"RUB": Decimal("1000.00"), "USD": Decimal("500.00")}
    assert yandex.cost == {"RUB": Decimal("31000.00")}
    assert yandex.cost_per_lead == {"RUB": Decimal("31000.00")}
    assert yandex.roi == {"RUB": Decimal("-0.9677")}
    assert (radio.calls, radio.leads, radio.deals, radio.won, radio.revenue) == (0, 1, 1, 0, {})
    assert radio.cost == {"USD": Decimal("500.00")}
    assert radio.cost_per_lead == {"USD": Decimal("500.00")}
    assert radio.roi == {"USD": Decimal("-1.0000")}
    assert (empty.calls, empty.leads, empty.deals, empty.cost, empty.roi) == (0, 0, 0, {}, {})


async def test_campaign_report_latest_touch(
    sessions: async_sessionmaker[AsyncSession], marketing: Marketing
) -> None:
    async with sessions() as session:
        rows = await campaign_report(session, scope(marketing), attribution="latest")
    report = {row.name: row for row in rows}
    assert (report["Yandex"].leads, report["Yandex"].deals, report["Yandex"].won) == (2, 4, 2)
    assert (report["Radio"].leads, report["Radio"].deals) == (0, 0)
    assert report["Radio"].cost_per_lead == {"USD": None}
    with pytest.raises(InvalidInput):
        await campaign_report(session, scope(marketing), attribution="middle")


async def test_touches_keep_first_and_latest(
    sessions: async_sessionmaker[AsyncSession], marketing: Marketing
) -> None:
    async with sessions() as session:
        deal = await session.get(Deal, marketing.deals[3])
        contact = await session.get(Contact, marketing.web_contact)
    assert deal is not None
    assert contact is not None
    assert (deal.first_campaign_id, deal.latest_campaign_id) == (marketing.radio, marketing.yandex)
    assert (contact.first_campaign_id, contact.latest_campaign_id) == (
        marketing.radio,
        marketing.yandex,
    )


async def test_attribution_by_did_then_longest_prefix(
    sessions: async_sessionmaker[AsyncSession], marketing: Marketing
) -> None:
    async with sessions.begin() as session:
        spb = await create_campaign(session, HEAD, name="Radio SPb centre", now=at(1, 1, 0))
        await add_source(session, HEAD, spb.id, kind="caller_prefix", value="+78123")
        jan5 = at(1, 5, 12)
        assert await attribute_call(session, DID, "+79001110001", jan5) == marketing.yandex
        assert await attribute_call(session, DID, "+78121234567", jan5) == marketing.yandex
        assert await attribute_call(session, "+74959999999", "+78121234567", jan5) == (
            marketing.radio
        )
        assert await attribute_call(session, None, "+78123456789", jan5) == spb.id
        assert await attribute_call(session, DID, "+79001110001", at(12, 28, 10)) is None
        assert await attribute_call(session, None, None, jan5) is None
        assert await attribute_web_form(session, "radio-landing", jan5) == marketing.radio
        assert await attribute_web_form(session, "unknown-form", jan5) is None
        await update_campaign(session, HEAD, marketing.radio, active=False)
        assert await attribute_call(session, None, "+78129999999", jan5) is None


async def test_a_did_moves_to_another_campaign_without_overlap(
    sessions: async_sessionmaker[AsyncSession], marketing: Marketing
) -> None:
    async with sessions.begin() as session:
        with pytest.raises(Conflict):
            await add_source(session, HEAD, marketing.empty, kind="did", value=DID)
        await session.execute(
            CampaignSource.__table__.update()
            .where(CampaignSource.value == DID)
            .values(active_until=FEB)
        )
        await add_source(session, HEAD, marketing.empty, kind="did", value=DID, active_from=FEB)
        assert await attribute_call(session, DID, None, at(1, 31, 23)) == marketing.yandex
        assert await attribute_call(session, DID, None, FEB) == marketing.empty


async def test_campaign_crud_and_validation(
    sessions: async_sessionmaker[AsyncSession], marketing: Marketing
) -> None:
    async with sessions.begin() as session:
        names = [c.name for c in await list_campaigns(session, HEAD)]
        assert names == ["Empty", "Radio", "Yandex"]
        yandex = await get_campaign(session, HEAD, marketing.yandex)
        assert [(s.kind, s.value) for s in yandex.sources] == [("did", DID)]
        assert [(c.amount, c.currency) for c in yandex.costs] == [
            (Decimal("32000.00"), "RUB"),
            (Decimal("30000.00"), "RUB"),
        ]
        with pytest.raises(Conflict):
            await create_campaign(session, HEAD, name=" Radio ", now=at(1, 1, 0))
        with pytest.raises(Conflict):
            await update_campaign(session, HEAD, marketing.empty, name="Yandex")
        with pytest.raises(InvalidInput):
            await add_source(session, HEAD, marketing.empty, kind="did", value="not a number")
        with pytest.raises(InvalidInput):
            await add_source(session, HEAD, marketing.empty, kind="fax", value="123")
        with pytest.raises(InvalidInput):
            await add_cost(
                session, HEAD, marketing.empty, period_start=dt.date(2026, 2, 1),
                period_end=dt.date(2026, 1, 1), amount="1", currency="RUB",
            )  # fmt: skip
        with pytest.raises(NotFound):
            await get_campaign(session, HEAD, 123456)
        renamed = await update_campaign(session, HEAD, marketing.empty, name="Spare", active=False)
        assert (renamed.name, renamed.active) == ("Spare", False)


async def test_sellers_may_not_manage_campaigns(
    sessions: async_sessionmaker[AsyncSession], marketing: Marketing
) -> None:
    async with sessions() as session:
        with pytest.raises(PermissionDenied):
            await create_campaign(session, SELLER, name="Mine", now=at(1, 1, 0))
        with pytest.raises(PermissionDenied):
            await list_campaigns(session, SELLER)
        with pytest.raises(PermissionDenied):
            await delete_campaign(session, SELLER, marketing.yandex)


async def test_deleting_a_campaign_keeps_what_it_brought(
    sessions: async_sessionmaker[AsyncSession], marketing: Marketing
) -> None:
    async with sessions.begin() as session:
        await delete_campaign(session, HEAD, marketing.yandex)
    async with sessions() as session:
        deal = await session.get(Deal, marketing.deals[0])
        attributed_calls = await session.scalar(
            select(Activity.id).where(Activity.campaign_id == marketing.yandex).limit(1)
        )
        names = [c.name for c in await list_campaigns(session, HEAD)]
    assert deal is not None
    assert deal.first_campaign_id is None
    assert attributed_calls is None
    assert names == ["Empty", "Radio"]


async def test_planned_campaign_from_todays_conversions(
    sessions: async_sessionmaker[AsyncSession], marketing: Marketing
) -> None:
    world = marketing.world
    async with sessions() as session:
        plan = await planned_campaign_forecast(
            session, scope(marketing), leads=100, cost="10000", cost_currency="RUB"
        )
        from_demo = await planned_campaign_forecast(
            session, scope(marketing), leads=100, entry_stage_id=world.demo
        )
        yandex_only = await planned_campaign_forecast(
            session, scope(marketing), leads=100, campaign_id=marketing.yandex
        )
        with pytest.raises(InvalidInput):
            await planned_campaign_forecast(
                session, scope(marketing), leads=100, entry_stage_id=world.won
            )
    assert [(s.stage.name, s.expected) for s in plan.steps] == [
        ("Lead", Decimal("100.0")),
        ("Demo", Decimal("66.7")),
        ("Proposal", Decimal("33.3")),
    ]
    assert plan.won == Decimal("33.3")
    assert plan.revenue == {"RUB": Decimal("16666.67"), "USD": Decimal("8333.33")}
    assert plan.roi == Decimal("0.6667")
    assert [s.expected for s in from_demo.steps] == [Decimal("100.0"), Decimal("50.0")]
    assert from_demo.won == Decimal("50.0")
    assert from_demo.revenue == {"RUB": Decimal("25000.00"), "USD": Decimal("12500.00")}
    assert [s.expected for s in yandex_only.steps] == [
        Decimal("100.0"),
        Decimal("100.0"),
        Decimal("66.7"),
    ]
    assert yandex_only.revenue == {"RUB": Decimal("33333.33"), "USD": Decimal("16666.67")}
