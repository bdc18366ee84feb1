"""Deal reports against the hand-computed January example (docs/REPORTS.md), on every backend."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import DealStageChange
from crmlite.domain.errors import NotFound
from crmlite.domain.reports import ReportScope, percentile
from crmlite.services.reports import (
    forecast_report,
    funnel_report,
    loss_reasons_report,
    sales_summary,
    time_in_stage_report,
)
from tests.integration.reports_world import FEB, JAN, World, build_world

pytestmark = pytest.mark.db

HOUR = 3600.0


@pytest.fixture
async def world(sessions: async_sessionmaker[AsyncSession]) -> World:
    return await build_world(sessions)


def scope(world: World, seller: int | None = None) -> ReportScope:
    return ReportScope(pipeline_id=world.pipeline_id, since=JAN, until=FEB, seller_id=seller)


async def test_funnel_counts_entries_reach_and_conversions(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    async with sessions() as session:
        report = await funnel_report(session, scope(world))
    rows = [(s.stage.name, s.entered, s.reached, s.to_next, s.to_won) for s in report.stages]
    assert rows == [
        ("Lead", 6, 6, 0.6667, 0.3333),
        ("Demo", 3, 4, 0.5, 0.5),  # the USD deal skipped Demo: reached, not entered
        ("Proposal", 2, 2, 1.0, 1.0),
    ]
    assert (report.deals, report.won, report.lost, report.open) == (6, 2, 2, 2)
    assert report.win_rate == 0.5
    assert report.won_amount == {"RUB": Decimal("1000.00"), "USD": Decimal("500.00")}


async def test_funnel_of_one_seller(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    async with sessions() as session:
        report = await funnel_report(session, scope(world, world.anna))
    rows = [(s.entered, s.reached, s.to_next, s.to_won) for s in report.stages]
    assert rows == [(3, 3, 0.6667, 0.3333), (2, 2, 0.5, 0.5), (1, 1, 1.0, 1.0)]
    assert (report.deals, report.won, report.lost, report.open) == (3, 1, 1, 1)


async def test_time_in_stage_median_p90_and_open_stays(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    async with sessions() as session:
        report = await time_in_stage_report(session, scope(world))
    rows = [(t.stage.name, t.stays, t.median_s, t.p90_s, t.average_s, t.open_stays) for t in report]
    assert rows == [
        ("Lead", 5, 6 * HOUR, 33_120.0, 6 * HOUR, 1),
        ("Demo", 3, 24 * HOUR, 155_520.0, 32 * HOUR, 1),
        ("Proposal", 2, 84 * HOUR, 406_080.0, 84 * HOUR, 0),
    ]


async def test_time_in_stage_of_one_seller(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    async with sessions() as session:
        report = await time_in_stage_report(session, scope(world, world.boris))
    rows = [(t.stage.name, t.stays, t.median_s, t.p90_s, t.open_stays) for t in report]
    assert rows == [
        ("Lead", 3, 8 * HOUR, 34_560.0, 0),
        ("Demo", 1, 48 * HOUR, 48 * HOUR, 1),
        ("Proposal", 1, 120 * HOUR, 120 * HOUR, 0),
    ]


async def test_sales_summary_win_rate_cycle_size_velocity(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    async with sessions() as session:
        summary = await sales_summary(session, scope(world))
    assert (summary.won, summary.lost, summary.win_rate) == (2, 3, 0.4)
    assert summary.average_cycle_s == 100 * HOUR
    rub, usd = summary.currencies["RUB"], summary.currencies["USD"]
    assert (rub.won_deals, rub.won_amount, rub.average_won) == (
        1,
        Decimal("1000.00"),
        Decimal("1000.00"),
    )
    assert (rub.open_deals, rub.open_amount) == (2, Decimal("7000.00"))
    assert rub.velocity_per_day == Decimal("192.00")
    assert (usd.won_deals, usd.average_won, usd.open_deals) == (1, Decimal("500.00"), 0)
    assert usd.velocity_per_day == Decimal("0.00")


async def test_sales_summary_of_one_seller(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    async with sessions() as session:
        summary = await sales_summary(session, scope(world, world.anna))
    assert (summary.won, summary.lost, summary.win_rate) == (1, 1, 0.5)
    assert summary.average_cycle_s == 74 * HOUR
    assert summary.currencies["RUB"].velocity_per_day == Decimal("162.16")
    assert list(summary.currencies) == ["RUB"]


async def test_forecast_by_configured_and_learned_probability(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    async with sessions() as session:
        forecast = await forecast_report(session, scope(world))
    rows = [
        (
            f.stage.name,
            f.open_deals,
            f.configured_weighted,
            f.learned_probability,
            f.learned_from,
            f.learned_weighted,
        )
        for f in forecast.stages
    ]
    assert rows == [
        ("Lead", 1, {"RUB": Decimal("400.00")}, Decimal("0.4"), 5, {"RUB": Decimal("1600.00")}),
        ("Demo", 1, {"RUB": Decimal("1200.00")}, Decimal(1) / 3, 3, {"RUB": Decimal("1000.00")}),
        ("Proposal", 0, {}, Decimal(1), 2, {}),
    ]
    assert forecast.configured_total == {"RUB": Decimal("1600.00")}
    assert forecast.learned_total == {"RUB": Decimal("2600.00")}


async def test_loss_reasons_grouped_with_amounts_per_currency(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    async with sessions() as session:
        reasons = await loss_reasons_report(session, scope(world))
    assert [(r.reason, r.deals, r.amount) for r in reasons] == [
        ("price", 2, {"RUB": Decimal("3500.00")}),
        (None, 1, {"USD": Decimal("700.00")}),
    ]


async def test_unknown_pipeline_is_not_found(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    missing = ReportScope(pipeline_id=world.pipeline_id + 1000, since=JAN, until=FEB)
    async with sessions() as session:
        with pytest.raises(NotFound):
            await funnel_report(session, missing)


async def test_percentiles_match_the_reference_definition(
    sessions: async_sessionmaker[AsyncSession], world: World
) -> None:
    """PostgreSQL's percentile_cont (or, on SQLite, the domain formula) agrees with the report."""
    async with sessions() as session:
        report = await time_in_stage_report(session, scope(world))
        for row in report:
            stays = select(DealStageChange.stay_s).where(
                DealStageChange.to_stage_id == row.stage.id,
                DealStageChange.stay_s.is_not(None),
                DealStageChange.changed_at >= JAN,
                DealStageChange.changed_at < FEB,
            )
            if session.bind.dialect.name == "postgresql":
                expected = []
                for fraction in (0.5, 0.9):
                    cont = func.percentile_cont(fraction).within_group(DealStageChange.stay_s)
                    expected.append(await session.scalar(stays.with_only_columns(cont)))
            else:
                values = [float(v) for v in (await session.scalars(stays)).all()]
                expected = [percentile(values, 50), percentile(values, 90)]
            assert [row.median_s, row.p90_s] == pytest.approx(expected), row.stage.name
