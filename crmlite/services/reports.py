"""Deal reports of a pipeline: the funnel and time in stage (sales figures: reports_sales).

Every figure is an aggregate computed by the database; Python only combines a few rows per stage
or currency with the definitions of crmlite.domain.reports. Definitions: docs/REPORTS.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Deal, DealStageChange
from crmlite.domain.reports import (
    MEDIAN,
    P90,
    FunnelStep,
    ReportScope,
    StageInfo,
    build_funnel,
    money,
    rate,
)
from crmlite.services.reports_sales import (
    CurrencyFigures,
    Forecast,
    ForecastStage,
    LossReason,
    SalesSummary,
    forecast_report,
    loss_reasons_report,
    sales_summary,
)
from crmlite.services.reports_sql import (
    deal_filter,
    deal_stage_flags,
    entered_column,
    percentile_of,
    pipeline_stages,
    ranked_percentile,
    unindexed,
    window_conditions,
)


@dataclass(frozen=True, slots=True)
class FunnelReport:
    stages: list[FunnelStep]
    deals: int  # the cohort: deals created in the window
    won: int
    lost: int
    open: int
    win_rate: float | None  # won / (won + lost) of the cohort
    won_amount: dict[str, Decimal]  # what the cohort's won deals are worth, per currency


async def funnel_report(
    session: AsyncSession, scope: ReportScope, *, campaign_id: int | None = None
) -> FunnelReport:
    """How far the deals created in the window got, stage by stage (optionally one campaign's)."""
    stages = await pipeline_stages(session, scope.pipeline_id)
    cohort = await window_conditions(session, Deal.created_at, scope, deal_filter(scope))
    if campaign_id is not None:
        cohort.append(Deal.first_campaign_id == campaign_id)
    flags = deal_stage_flags(stages, cohort)
    tracked = [s for s in stages if s.kind == "open"]
    rows = await session.execute(
        select(
            flags.c.furthest,
            flags.c.final,
            func.count(),
            *(func.sum(flags.c[entered_column(s)]) for s in tracked),
        ).group_by(flags.c.furthest, flags.c.final)
    )
    entered: dict[int, int] = {}
    deals_by_furthest: dict[int, int] = {}
    outcomes: dict[str, int] = {}
    for furthest, final, count, *entries in rows:
        if furthest is not None:
            deals_by_furthest[int(furthest)] = deals_by_furthest.get(int(furthest), 0) + count
        outcomes[final] = outcomes.get(final, 0) + count
        for stage, n in zip(tracked, entries, strict=True):
            entered[stage.id] = entered.get(stage.id, 0) + int(n or 0)
    won, lost, still_open = outcomes.get("won", 0), outcomes.get("lost", 0), outcomes.get("open", 0)
    won_ids = [s.id for s in stages if s.kind == "won"]
    won_rows = await session.execute(
        select(Deal.currency, func.sum(Deal.amount))
        .where(*cohort, Deal.stage_id.in_(won_ids))
        .group_by(Deal.currency)
    )
    return FunnelReport(
        stages=build_funnel(stages, entered, deals_by_furthest, won),
        deals=sum(outcomes.values()),
        won=won,
        lost=lost,
        open=still_open,
        win_rate=rate(won, won + lost),
        won_amount={cur: money(Decimal(total or 0)) for cur, total in sorted(won_rows.all())},
    )


@dataclass(frozen=True, slots=True)
class StageTime:
    stage: StageInfo
    stays: int  # completed stays that began in the window
    median_s: float | None
    p90_s: float | None
    average_s: float | None
    open_stays: int  # stays that began in the window and have not ended yet


async def time_in_stage_report(session: AsyncSession, scope: ReportScope) -> list[StageTime]:
    """Median, p90 and mean length of the stays in each open stage that began in the window.

    Stay lengths are kept on the change rows by a database trigger (migration 0004), so the
    database counts them per stage and reads each percentile's one or two rows off an index.
    """
    stages = [s for s in await pipeline_stages(session, scope.pipeline_id) if s.kind == "open"]
    change = DealStageChange
    window = [change.changed_at >= scope.since, change.changed_at < scope.until]
    if scope.seller_id is not None:
        sellers_deals = select(Deal.id).where(*deal_filter(scope))
        window.append(change.deal_id.in_(sellers_deals.scalar_subquery()))
    rows = await session.execute(
        select(
            change.to_stage_id,
            func.count(change.stay_s),
            func.avg(change.stay_s),
            func.sum(case((change.stay_s.is_(None), 1), else_=0)),
        )
        .where(change.to_stage_id.in_([s.id for s in stages]), *window)
        .group_by(change.to_stage_id)
    )
    figures = {stage_id: (int(n), avg, int(still or 0)) for stage_id, n, avg, still in rows}
    if scope.seller_id is not None:
        # One seller's stays are few: rank them all in one query instead of a query per figure.
        percentiles = await _ranked_stay_percentiles(session, stages, window)
    report: list[StageTime] = []
    for stage in stages:
        completed, average, still = figures.get(stage.id, (0, None, 0))
        if scope.seller_id is not None:
            median, p90 = percentiles.get(stage.id, (None, None))
        else:
            stays = [
                change.to_stage_id == stage.id,
                change.stay_s.is_not(None),
                unindexed(change.changed_at) >= scope.since,
                unindexed(change.changed_at) < scope.until,
            ]
            median = await ranked_percentile(session, change.stay_s, stays, completed, MEDIAN)
            p90 = await ranked_percentile(session, change.stay_s, stays, completed, P90)
        report.append(
            StageTime(
                stage=stage,
                stays=completed,
                median_s=median,
                p90_s=p90,
                average_s=None if average is None else round(float(average), 1),
                open_stays=still,
            )
        )
    return report


async def _ranked_stay_percentiles(
    session: AsyncSession, stages: list[StageInfo], window: list[ColumnElement[bool]]
) -> dict[int, tuple[float | None, float | None]]:
    """Median and p90 of the completed stays per stage, with ROW_NUMBER / COUNT windows."""
    change = DealStageChange
    ranked = (
        select(
            change.to_stage_id,
            change.stay_s,
            func.row_number()
            .over(partition_by=change.to_stage_id, order_by=change.stay_s)
            .label("rank"),
            func.count().over(partition_by=change.to_stage_id).label("n"),
        )
        .where(change.to_stage_id.in_([s.id for s in stages]), change.stay_s.is_not(None), *window)
        .subquery()
    )
    rows = await session.execute(
        select(
            ranked.c.to_stage_id,
            percentile_of(ranked.c.stay_s, ranked.c.rank, ranked.c.n, MEDIAN),
            percentile_of(ranked.c.stay_s, ranked.c.rank, ranked.c.n, P90),
        ).group_by(ranked.c.to_stage_id)
    )
    return {
        stage_id: (round(float(median), 1), round(float(p90), 1)) for stage_id, median, p90 in rows
    }


__all__ = [
    "CurrencyFigures",
    "Forecast",
    "ForecastStage",
    "FunnelReport",
    "LossReason",
    "SalesSummary",
    "StageTime",
    "forecast_report",
    "funnel_report",
    "loss_reasons_report",
    "pipeline_stages",
    "sales_summary",
    "time_in_stage_report",
]
