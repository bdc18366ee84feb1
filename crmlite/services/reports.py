"""Deal reports of a pipeline: funnel, time in stage, win rate / cycle / velocity, forecast, losses.

Every figure is an aggregate computed by the database; Python only combines a few rows per stage
or currency with the definitions of crmlite.domain.reports. Definitions: docs/REPORTS.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, case, distinct, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Deal, DealStageChange, Pipeline, Stage
from crmlite.domain.errors import InvalidInput, NotFound
from crmlite.domain.reports import (
    MEDIAN,
    P90,
    FunnelStep,
    ReportScope,
    StageInfo,
    average_amount,
    build_funnel,
    learned_probability,
    money,
    rate,
    sales_velocity,
    weighted_amount,
)
from crmlite.services.reports_sql import percentile_of, seconds_between

ZERO = Decimal("0.00")


async def pipeline_stages(session: AsyncSession, pipeline_id: int | None) -> list[StageInfo]:
    """The stages of the report's pipeline in order; NotFound for an unknown pipeline."""
    if pipeline_id is None:
        raise InvalidInput("pick a pipeline", fields={"pipeline_id": "required"})
    if await session.get(Pipeline, pipeline_id) is None:
        raise NotFound("no such pipeline", details={"pipeline_id": pipeline_id})
    rows = await session.execute(
        select(Stage.id, Stage.name, Stage.position, Stage.kind, Stage.probability)
        .where(Stage.pipeline_id == pipeline_id)
        .order_by(Stage.position, Stage.id)
    )
    return [StageInfo(*row) for row in rows]


def _deal_filter(scope: ReportScope) -> list[Any]:
    conditions: list[Any] = [Deal.pipeline_id == scope.pipeline_id]
    if scope.seller_id is not None:
        conditions.append(Deal.owner_id == scope.seller_id)
    return conditions


def _visits(deals: Select[int, int]) -> Any:
    """(deal_id, stage_id) for every stage a deal of ``deals`` was ever in, its current one too."""
    ids = deals.subquery()
    recorded = select(DealStageChange.deal_id, DealStageChange.to_stage_id.label("stage_id")).join(
        ids, ids.c.id == DealStageChange.deal_id
    )
    current = select(ids.c.id.label("deal_id"), ids.c.stage_id)
    return union_all(recorded, current).subquery("visits")


@dataclass(frozen=True, slots=True)
class FunnelReport:
    stages: list[FunnelStep]
    deals: int  # the cohort: deals created in the window
    won: int
    lost: int
    open: int
    win_rate: float | None  # won / (won + lost) of the cohort


async def funnel_report(
    session: AsyncSession, scope: ReportScope, *, campaign_id: int | None = None
) -> FunnelReport:
    """How far the deals created in the window got, stage by stage (optionally one campaign's)."""
    stages = await pipeline_stages(session, scope.pipeline_id)
    cohort_filter = [
        *_deal_filter(scope),
        Deal.created_at >= scope.since,
        Deal.created_at < scope.until,
    ]
    if campaign_id is not None:
        cohort_filter.append(Deal.first_campaign_id == campaign_id)
    cohort = select(Deal.id, Deal.stage_id).where(*cohort_filter)
    visits = _visits(cohort)
    entered_rows = await session.execute(
        select(visits.c.stage_id, func.count(distinct(visits.c.deal_id))).group_by(
            visits.c.stage_id
        )
    )
    entered = {stage_id: n for stage_id, n in entered_rows}

    # The SQL twin of crmlite.domain.reports.furthest_rank.
    top = max((s.position for s in stages), default=0)
    rank = case((Stage.kind == "won", top + 1), else_=Stage.position)
    per_deal = (
        select(visits.c.deal_id, func.max(rank).label("furthest"))
        .join(Stage, Stage.id == visits.c.stage_id)
        .where(Stage.pipeline_id == scope.pipeline_id, Stage.kind != "lost")
        .group_by(visits.c.deal_id)
        .subquery()
    )
    furthest_rows = await session.execute(
        select(per_deal.c.furthest, func.count()).group_by(per_deal.c.furthest)
    )
    deals_by_furthest = {int(r): n for r, n in furthest_rows}

    outcome_rows = await session.execute(
        select(Stage.kind, func.count())
        .select_from(Deal)
        .join(Stage, Stage.id == Deal.stage_id)
        .where(*cohort_filter)
        .group_by(Stage.kind)
    )
    outcomes = {kind: n for kind, n in outcome_rows}
    won, lost, still_open = outcomes.get("won", 0), outcomes.get("lost", 0), outcomes.get("open", 0)
    return FunnelReport(
        stages=build_funnel(stages, entered, deals_by_furthest, won),
        deals=won + lost + still_open,
        won=won,
        lost=lost,
        open=still_open,
        win_rate=rate(won, won + lost),
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
    """Median, p90 and mean length of the stays in each open stage that began in the window."""
    stages = await pipeline_stages(session, scope.pipeline_id)
    changes = (
        select(
            DealStageChange.to_stage_id.label("stage_id"),
            DealStageChange.changed_at.label("entered_at"),
            func.lead(DealStageChange.changed_at)
            .over(
                partition_by=DealStageChange.deal_id,
                order_by=(DealStageChange.changed_at, DealStageChange.id),
            )
            .label("left_at"),
        )
        .join(Deal, Deal.id == DealStageChange.deal_id)
        # The stay after a change never starts before it, so older changes are not needed.
        .where(*_deal_filter(scope), DealStageChange.changed_at >= scope.since)
        .subquery()
    )
    is_open = changes.c.left_at.is_(None)
    stays = (
        select(
            changes.c.stage_id,
            is_open.label("is_open"),
            seconds_between(changes.c.left_at, changes.c.entered_at).label("seconds"),
        )
        .where(changes.c.entered_at < scope.until)
        .subquery()
    )
    group = (stays.c.stage_id, stays.c.is_open)
    ranked = select(
        stays.c.stage_id,
        stays.c.is_open,
        stays.c.seconds,
        func.row_number().over(partition_by=group, order_by=stays.c.seconds).label("rank"),
        func.count().over(partition_by=group).label("n"),
    ).subquery()
    done = ranked.c.is_open == literal(False)
    rows = await session.execute(
        select(
            ranked.c.stage_id,
            func.sum(case((done, 1), else_=0)),
            percentile_of(ranked.c.seconds, ranked.c.rank, ranked.c.n, MEDIAN, include=done),
            percentile_of(ranked.c.seconds, ranked.c.rank, ranked.c.n, P90, include=done),
            func.avg(ranked.c.seconds),
            func.sum(case((done, 0), else_=1)),
        ).group_by(ranked.c.stage_id)
    )
    figures = {row[0]: row[1:] for row in rows}
    report: list[StageTime] = []
    for stage in stages:
        if stage.kind != "open":
            continue
        completed, median, p90, average, still = figures.get(stage.id, (0, None, None, None, 0))
        completed = int(completed or 0)
        report.append(
            StageTime(
                stage=stage,
                stays=completed,
                median_s=round(float(median), 1) if completed else None,
                p90_s=round(float(p90), 1) if completed else None,
                average_s=round(float(average), 1) if completed else None,
                open_stays=int(still or 0),
            )
        )
    return report


@dataclass(frozen=True, slots=True)
class CurrencyFigures:
    won_deals: int
    won_amount: Decimal
    average_won: Decimal | None
    open_deals: int
    open_amount: Decimal
    velocity_per_day: Decimal | None


@dataclass(frozen=True, slots=True)
class SalesSummary:
    won: int  # deals closed won in the window
    lost: int  # deals closed lost in the window
    win_rate: float | None
    average_cycle_s: float | None  # created -> closed won, over the won deals
    currencies: dict[str, CurrencyFigures]


async def sales_summary(session: AsyncSession, scope: ReportScope) -> SalesSummary:
    """Win rate, average cycle and won deal size of the window; open deals and velocity now."""
    await pipeline_stages(session, scope.pipeline_id)
    closed_rows = await session.execute(
        select(
            Stage.kind,
            Deal.currency,
            func.count(),
            func.sum(Deal.amount),
            func.sum(seconds_between(Deal.closed_at, Deal.created_at)),
        )
        .select_from(Deal)
        .join(Stage, Stage.id == Deal.stage_id)
        .where(
            *_deal_filter(scope),
            Stage.kind.in_(("won", "lost")),
            Deal.closed_at >= scope.since,
            Deal.closed_at < scope.until,
        )
        .group_by(Stage.kind, Deal.currency)
    )
    won = lost = 0
    cycle_total = 0
    won_by_currency: dict[str, tuple[int, Decimal]] = {}
    for kind, currency, count, amount, seconds in closed_rows:
        if kind == "won":
            won += count
            cycle_total += int(seconds or 0)
            won_by_currency[currency] = (count, Decimal(amount or 0))
        else:
            lost += count
    open_rows = await session.execute(
        select(Deal.currency, func.count(), func.sum(Deal.amount))
        .select_from(Deal)
        .join(Stage, Stage.id == Deal.stage_id)
        .where(*_deal_filter(scope), Stage.kind == "open")
        .group_by(Deal.currency)
    )
    open_by_currency = {cur: (n, Decimal(total or 0)) for cur, n, total in open_rows}
    cycle = cycle_total / won if won else None
    currencies: dict[str, CurrencyFigures] = {}
    for currency in sorted(set(won_by_currency) | set(open_by_currency)):
        won_n, won_amount = won_by_currency.get(currency, (0, ZERO))
        open_n, open_amount = open_by_currency.get(currency, (0, ZERO))
        average = average_amount(won_amount, won_n)
        currencies[currency] = CurrencyFigures(
            won_deals=won_n,
            won_amount=money(won_amount),
            average_won=average,
            open_deals=open_n,
            open_amount=money(open_amount),
            velocity_per_day=sales_velocity(open_n, won, won + lost, average, cycle),
        )
    return SalesSummary(
        won=won,
        lost=lost,
        win_rate=rate(won, won + lost),
        average_cycle_s=None if cycle is None else round(cycle, 1),
        currencies=currencies,
    )


@dataclass(frozen=True, slots=True)
class ForecastStage:
    stage: StageInfo
    open_deals: int
    amount: dict[str, Decimal]
    configured_probability: Decimal  # fraction, from the stage's setting
    learned_probability: Decimal | None  # fraction, from deals closed in the window
    learned_from: int  # closed deals in the window that passed the stage
    configured_weighted: dict[str, Decimal]
    learned_weighted: dict[str, Decimal]


@dataclass(frozen=True, slots=True)
class Forecast:
    stages: list[ForecastStage]
    configured_total: dict[str, Decimal]
    learned_total: dict[str, Decimal]


async def forecast_report(session: AsyncSession, scope: ReportScope) -> Forecast:
    """Weighted value of today's open deals, by configured and by learned stage probabilities."""
    stages = await pipeline_stages(session, scope.pipeline_id)
    open_rows = await session.execute(
        select(Deal.stage_id, Deal.currency, func.count(), func.sum(Deal.amount))
        .join(Stage, Stage.id == Deal.stage_id)
        .where(*_deal_filter(scope), Stage.kind == "open")
        .group_by(Deal.stage_id, Deal.currency)
    )
    open_amounts: dict[int, dict[str, Decimal]] = {}
    open_counts: dict[int, int] = {}
    for stage_id, currency, count, total in open_rows:
        open_amounts.setdefault(stage_id, {})[currency] = Decimal(total or 0)
        open_counts[stage_id] = open_counts.get(stage_id, 0) + count

    closed = select(Deal.id, Deal.stage_id).where(
        *_deal_filter(scope), Deal.closed_at >= scope.since, Deal.closed_at < scope.until
    )
    visits = _visits(closed)
    final = Stage.__table__.alias("final_stage")
    history_rows = await session.execute(
        select(
            visits.c.stage_id,
            func.count(distinct(visits.c.deal_id)),
            func.count(distinct(case((final.c.kind == "won", visits.c.deal_id)))),
        )
        .join(Deal, Deal.id == visits.c.deal_id)
        .join(final, final.c.id == Deal.stage_id)
        .where(final.c.kind.in_(("won", "lost")))
        .group_by(visits.c.stage_id)
    )
    history = {stage_id: (passed, won) for stage_id, passed, won in history_rows}

    report: list[ForecastStage] = []
    configured_total: dict[str, Decimal] = {}
    learned_total: dict[str, Decimal] = {}
    for stage in stages:
        if stage.kind != "open":
            continue
        amounts = open_amounts.get(stage.id, {})
        passed, won = history.get(stage.id, (0, 0))
        configured = Decimal(stage.probability) / 100
        learned = learned_probability(won, passed)
        by_config = {cur: weighted_amount(a, configured) for cur, a in sorted(amounts.items())}
        by_history = {cur: weighted_amount(a, learned) for cur, a in sorted(amounts.items())}
        for totals, weighted in ((configured_total, by_config), (learned_total, by_history)):
            for cur, value in weighted.items():
                totals[cur] = totals.get(cur, ZERO) + value
        report.append(
            ForecastStage(
                stage=stage,
                open_deals=open_counts.get(stage.id, 0),
                amount={cur: money(a) for cur, a in sorted(amounts.items())},
                configured_probability=configured,
                learned_probability=learned,
                learned_from=passed,
                configured_weighted=by_config,
                learned_weighted=by_history,
            )
        )
    return Forecast(
        report, dict(sorted(configured_total.items())), dict(sorted(learned_total.items()))
    )


@dataclass(frozen=True, slots=True)
class LossReason:
    reason: str | None
    deals: int
    amount: dict[str, Decimal]


async def loss_reasons_report(session: AsyncSession, scope: ReportScope) -> list[LossReason]:
    """Deals closed lost in the window by reason (None: no reason given), most frequent first."""
    await pipeline_stages(session, scope.pipeline_id)
    rows = await session.execute(
        select(Deal.lost_reason, Deal.currency, func.count(), func.sum(Deal.amount))
        .join(Stage, Stage.id == Deal.stage_id)
        .where(
            *_deal_filter(scope),
            Stage.kind == "lost",
            Deal.closed_at >= scope.since,
            Deal.closed_at < scope.until,
        )
        .group_by(Deal.lost_reason, Deal.currency)
    )
    reasons: dict[str | None, tuple[int, dict[str, Decimal]]] = {}
    for reason, currency, count, total in rows:
        deals, amounts = reasons.get(reason, (0, {}))
        amounts[currency] = money(Decimal(total or 0))
        reasons[reason] = (deals + count, amounts)
    ordered = sorted(reasons.items(), key=lambda item: (-item[1][0], item[0] or ""))
    return [LossReason(r, n, dict(sorted(a.items()))) for r, (n, a) in ordered]


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
