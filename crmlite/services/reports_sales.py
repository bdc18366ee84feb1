"""Sales figures of a pipeline: win rate, cycle, deal size, velocity, forecast, loss reasons."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Deal, Stage
from crmlite.domain.reports import (
    ReportScope,
    StageInfo,
    average_amount,
    learned_probability,
    money,
    rate,
    sales_velocity,
    weighted_amount,
)
from crmlite.services.reports_sql import (
    deal_filter,
    deal_stage_flags,
    entered_column,
    pipeline_stages,
    seconds_between,
    window_conditions,
)

ZERO = Decimal("0.00")


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
            *deal_filter(scope),
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
        .where(*deal_filter(scope), Stage.kind == "open")
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
        .where(*deal_filter(scope), Stage.kind == "open")
        .group_by(Deal.stage_id, Deal.currency)
    )
    open_amounts: dict[int, dict[str, Decimal]] = {}
    open_counts: dict[int, int] = {}
    for stage_id, currency, count, total in open_rows:
        open_amounts.setdefault(stage_id, {})[currency] = Decimal(total or 0)
        open_counts[stage_id] = open_counts.get(stage_id, 0) + count

    closed = await window_conditions(session, Deal.closed_at, scope, deal_filter(scope))
    flags = deal_stage_flags(stages, closed)
    tracked = [s for s in stages if s.kind == "open"]
    history_rows = await session.execute(
        select(flags.c.final, *(func.sum(flags.c[entered_column(s)]) for s in tracked))
        .where(flags.c.final.in_(("won", "lost")))
        .group_by(flags.c.final)
    )
    passed_by_final = {final: [int(n or 0) for n in counts] for final, *counts in history_rows}
    history = {
        stage.id: (
            sum(counts[index] for counts in passed_by_final.values()),
            passed_by_final.get("won", [0] * len(tracked))[index],
        )
        for index, stage in enumerate(tracked)
    }

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
            *deal_filter(scope),
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
