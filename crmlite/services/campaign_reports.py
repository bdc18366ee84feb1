"""Campaign figures (calls, callers, leads, deals, revenue, cost per lead, ROI) and plans."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Activity, Campaign, CampaignCost, Contact, Deal, Stage
from crmlite.domain.errors import InvalidInput
from crmlite.domain.money import parse_amount, parse_currency
from crmlite.domain.reports import (
    CampaignPlan,
    CostPeriod,
    ReportScope,
    campaign_roi,
    cost_per_lead,
    money,
    plan_campaign,
    prorated_cost,
)
from crmlite.services.reports import funnel_report

ATTRIBUTIONS = ("first", "latest")


@dataclass(frozen=True, slots=True)
class CampaignFigures:
    campaign_id: int
    name: str
    calls: int
    unique_callers: int
    missed: int
    leads: int  # contacts created in the window whose touch (first / latest) is the campaign
    deals: int  # deals created in the window attributed to the campaign
    won: int  # ... of which are won now
    revenue: dict[str, Decimal]
    cost: dict[str, Decimal]  # pro rata over the window's days
    cost_per_lead: dict[str, Decimal | None]
    roi: dict[str, Decimal | None]  # per cost currency: (revenue - cost) / cost


def _window_days(scope: ReportScope) -> tuple[dt.date, dt.date]:
    """The calendar days (UTC) the half-open window touches."""
    return scope.since.date(), (scope.until - dt.timedelta(microseconds=1)).date()


async def campaign_report(
    session: AsyncSession, scope: ReportScope, *, attribution: str = "first"
) -> list[CampaignFigures]:
    """One row per campaign for the window; deals and leads by first or latest touch."""
    if attribution not in ATTRIBUTIONS:
        raise InvalidInput("unknown attribution", fields={"attribution": "first | latest"})
    first = attribution == "first"
    contact_campaign = Contact.first_campaign_id if first else Contact.latest_campaign_id
    deal_campaign = Deal.first_campaign_id if first else Deal.latest_campaign_id

    inbound = Activity.direction == "inbound"
    call_rows = await session.execute(
        select(
            Activity.campaign_id,
            func.count(),
            func.count(distinct(case((inbound, Activity.from_number)))),
            func.sum(case((inbound & Activity.answered_at.is_(None), 1), else_=0)),
        )
        .where(
            Activity.kind == "call",
            Activity.campaign_id.is_not(None),
            Activity.started_at >= scope.since,
            Activity.started_at < scope.until,
        )
        .group_by(Activity.campaign_id)
    )
    calls = {cid: (n, callers, int(missed or 0)) for cid, n, callers, missed in call_rows}

    lead_rows = await session.execute(
        select(contact_campaign, func.count())
        .where(
            contact_campaign.is_not(None),
            Contact.created_at >= scope.since,
            Contact.created_at < scope.until,
        )
        .group_by(contact_campaign)
    )
    leads = {cid: n for cid, n in lead_rows}

    won = Stage.kind == "won"
    deal_rows = await session.execute(
        select(
            deal_campaign,
            Deal.currency,
            func.count(),
            func.sum(case((won, 1), else_=0)),
            func.sum(case((won, Deal.amount), else_=0)),
        )
        .join(Stage, Stage.id == Deal.stage_id)
        .where(
            deal_campaign.is_not(None),
            Deal.created_at >= scope.since,
            Deal.created_at < scope.until,
        )
        .group_by(deal_campaign, Deal.currency)
    )
    deals: dict[int, tuple[int, int, dict[str, Decimal]]] = {}
    for cid, currency, n, n_won, revenue in deal_rows:
        total, total_won, by_currency = deals.get(cid, (0, 0, {}))
        if n_won:
            by_currency[currency] = money(Decimal(revenue or 0))
        deals[cid] = (total + n, total_won + int(n_won), by_currency)

    first_day, last_day = _window_days(scope)
    cost_rows = await session.execute(
        select(
            CampaignCost.campaign_id,
            CampaignCost.period_start,
            CampaignCost.period_end,
            CampaignCost.amount,
            CampaignCost.currency,
        ).where(CampaignCost.period_start <= last_day, CampaignCost.period_end >= first_day)
    )
    periods: dict[int, list[CostPeriod]] = {}
    for cid, start, end, amount, currency in cost_rows:
        periods.setdefault(cid, []).append(CostPeriod(start, end, Decimal(amount), currency))

    report: list[CampaignFigures] = []
    for cid, name in await session.execute(
        select(Campaign.id, Campaign.name).order_by(Campaign.name)
    ):
        n_calls, callers, missed = calls.get(cid, (0, 0, 0))
        n_deals, n_won, revenue = deals.get(cid, (0, 0, {}))
        cost = prorated_cost(periods.get(cid, []), first_day, last_day)
        n_leads = leads.get(cid, 0)
        report.append(
            CampaignFigures(
                campaign_id=cid,
                name=name,
                calls=n_calls,
                unique_callers=callers,
                missed=missed,
                leads=n_leads,
                deals=n_deals,
                won=n_won,
                revenue=dict(sorted(revenue.items())),
                cost=cost,
                cost_per_lead={cur: cost_per_lead(c, n_leads) for cur, c in cost.items()},
                roi={
                    cur: campaign_roi(revenue.get(cur, Decimal("0.00")), c)
                    for cur, c in cost.items()
                },
            )
        )
    return report


async def planned_campaign_forecast(
    session: AsyncSession,
    scope: ReportScope,
    *,
    leads: int,
    entry_stage_id: int | None = None,
    campaign_id: int | None = None,
    cost: object | None = None,
    cost_currency: str | None = None,
) -> CampaignPlan:
    """What ``leads`` new leads would yield at the conversions of the deals created in the window
    (of one campaign's deals, when given); they enter at ``entry_stage_id`` (the first stage)."""
    funnel = await funnel_report(session, scope, campaign_id=campaign_id)
    if not funnel.stages:
        raise InvalidInput("the pipeline has no open stage", fields={"pipeline_id": "stages"})
    entry = entry_stage_id if entry_stage_id is not None else funnel.stages[0].stage.id
    planned_cost = None if cost is None else parse_amount(cost, field="cost")
    currency = None if cost_currency is None else parse_currency(cost_currency, field="currency")
    return plan_campaign(
        leads, entry, funnel.stages, funnel.won, funnel.won_amount, planned_cost, currency
    )
