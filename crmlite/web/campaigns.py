"""Campaigns API (heads and admins): campaigns, their tracking sources and costs, their figures,
and the forecast of a planned campaign. Definitions: docs/REPORTS.md."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, Field

from crmlite.domain.reports import ReportScope, require_head
from crmlite.services import campaign_reports
from crmlite.services import campaigns as campaign_service
from crmlite.services.common import utc_now
from crmlite.web.crm_schemas import AmountIn, AmountOut, Currency
from crmlite.web.keys import SESSIONS
from crmlite.web.reports import Fraction, Money, StageOut
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import ApiModel, IdPath, QueryModel
from crmlite.web.security import principal

routes = ApiRoutes("campaigns", "Marketing campaigns, call tracking and their return")

HEADS_ONLY = {403: "Heads of sales and admins only"}
NOT_FOUND = {404: "No such campaign"}


class SourceIn(ApiModel):
    kind: Literal["did", "caller_prefix", "web_form"]
    value: str = Field(
        min_length=1,
        max_length=64,
        description="the DID (E.164), a caller-number prefix (+7812) or a web form's source",
        examples=["+74951234567"],
    )
    active_from: AwareDatetime | None = None
    active_until: AwareDatetime | None = None


class SourceOut(ApiModel):
    id: int
    kind: str
    value: str
    active_from: dt.datetime | None
    active_until: dt.datetime | None


class CostIn(ApiModel):
    period_start: dt.date = Field(description="first day")
    period_end: dt.date = Field(description="last day, included")
    amount: AmountIn
    currency: Currency


class CostOut(ApiModel):
    id: int
    period_start: dt.date
    period_end: dt.date
    amount: AmountOut
    currency: str


class CampaignCreate(ApiModel):
    name: str = Field(min_length=1, max_length=100)
    channel: str | None = Field(None, max_length=50, examples=["search ads"])
    active: bool = True


class CampaignUpdate(ApiModel):
    name: str | None = Field(None, min_length=1, max_length=100)
    channel: str | None = Field(None, max_length=50)
    active: bool | None = None


class CampaignOut(ApiModel):
    id: int
    name: str
    channel: str | None
    active: bool
    created_at: dt.datetime
    sources: list[SourceOut]
    costs: list[CostOut]


class SourcePath(IdPath):
    source_id: int = Field(ge=1)


class CostPath(IdPath):
    cost_id: int = Field(ge=1)


class CampaignReportQuery(QueryModel):
    since: AwareDatetime
    until: AwareDatetime
    attribution: Literal["first", "latest"] = Field(
        "first", description="credit deals and leads to their first or their latest campaign"
    )


class CampaignFiguresOut(ApiModel):
    campaign_id: int
    name: str
    calls: int
    unique_callers: int
    missed: int
    leads: int = Field(description="contacts created in the window credited to the campaign")
    deals: int
    won: int
    revenue: Money
    cost: Money
    cost_per_lead: dict[str, AmountOut | None]
    roi: dict[str, float | None] = Field(description="(revenue - cost) / cost per currency")


class PlanQuery(QueryModel):
    pipeline_id: int = Field(ge=1)
    since: AwareDatetime = Field(description="learn conversions from deals created from here")
    until: AwareDatetime
    leads: int = Field(ge=0, le=10_000_000, description="planned qualified leads")
    entry_stage_id: int | None = Field(None, ge=1, description="where they enter (first stage)")
    campaign_id: int | None = Field(None, ge=1, description="learn from this campaign's deals")
    cost: AmountIn | None = None
    currency: Currency | None = None


class PlannedStepOut(ApiModel):
    stage: StageOut
    expected: float


class PlanOut(ApiModel):
    leads: int
    steps: list[PlannedStepOut]
    won: float
    revenue: Money
    cost: AmountOut | None
    roi: Fraction | None


def _out(model: type[BaseModel], value: object) -> BaseModel:
    return model.model_validate(value, from_attributes=True)


@routes.get("/api/v1/campaigns", response=list[CampaignOut], errors=HEADS_ONLY)
async def list_campaigns(request: web.Request) -> list[BaseModel]:
    """Every campaign with its sources and costs, by name."""
    actor = principal(request)
    async with request.app[SESSIONS]() as db:
        rows = await campaign_service.list_campaigns(db, actor)
    return [_out(CampaignOut, row) for row in rows]


@routes.post(
    "/api/v1/campaigns",
    body=CampaignCreate,
    response=CampaignOut,
    status=201,
    errors=HEADS_ONLY | {409: "The name is taken"},
)
async def create_campaign(request: web.Request, *, body: CampaignCreate) -> BaseModel:
    """Create a campaign."""
    actor = principal(request)
    async with request.app[SESSIONS].begin() as db:
        campaign = await campaign_service.create_campaign(
            db, actor, name=body.name, channel=body.channel, active=body.active, now=utc_now()
        )
    return _out(CampaignOut, campaign)


@routes.get(
    "/api/v1/campaigns/{id}",
    path_model=IdPath,
    response=CampaignOut,
    errors=HEADS_ONLY | NOT_FOUND,
)
async def get_campaign(request: web.Request, *, path: IdPath) -> BaseModel:
    """One campaign with its sources and costs."""
    actor = principal(request)
    async with request.app[SESSIONS]() as db:
        return _out(CampaignOut, await campaign_service.get_campaign(db, actor, path.id))


@routes.patch(
    "/api/v1/campaigns/{id}",
    path_model=IdPath,
    body=CampaignUpdate,
    response=CampaignOut,
    errors=HEADS_ONLY | NOT_FOUND | {409: "The name is taken"},
)
async def update_campaign(request: web.Request, *, path: IdPath, body: CampaignUpdate) -> BaseModel:
    """Rename, re-channel, pause or resume a campaign (fields left out stay)."""
    actor = principal(request)
    async with request.app[SESSIONS].begin() as db:
        campaign = await campaign_service.update_campaign(
            db, actor, path.id, name=body.name, channel=body.channel, active=body.active
        )
    return _out(CampaignOut, campaign)


@routes.delete(
    "/api/v1/campaigns/{id}", path_model=IdPath, status=204, errors=HEADS_ONLY | NOT_FOUND
)
async def delete_campaign(request: web.Request, *, path: IdPath) -> None:
    """Delete a campaign; the calls, contacts and deals it brought stay, uncredited."""
    actor = principal(request)
    async with request.app[SESSIONS].begin() as db:
        await campaign_service.delete_campaign(db, actor, path.id)


@routes.post(
    "/api/v1/campaigns/{id}/sources",
    path_model=IdPath,
    body=SourceIn,
    response=SourceOut,
    status=201,
    errors=HEADS_ONLY | NOT_FOUND | {409: "The source belongs to a campaign at that time"},
)
async def add_source(request: web.Request, *, path: IdPath, body: SourceIn) -> BaseModel:
    """Track a DID, a caller-number prefix or a web form source as this campaign's."""
    actor = principal(request)
    async with request.app[SESSIONS].begin() as db:
        source = await campaign_service.add_source(
            db,
            actor,
            path.id,
            kind=body.kind,
            value=body.value,
            active_from=body.active_from,
            active_until=body.active_until,
        )
    return _out(SourceOut, source)


@routes.delete(
    "/api/v1/campaigns/{id}/sources/{source_id}",
    path_model=SourcePath,
    status=204,
    errors=HEADS_ONLY | {404: "No such source"},
)
async def remove_source(request: web.Request, *, path: SourcePath) -> None:
    """Stop tracking a source."""
    actor = principal(request)
    async with request.app[SESSIONS].begin() as db:
        await campaign_service.remove_source(db, actor, path.id, path.source_id)


@routes.post(
    "/api/v1/campaigns/{id}/costs",
    path_model=IdPath,
    body=CostIn,
    response=CostOut,
    status=201,
    errors=HEADS_ONLY | NOT_FOUND,
)
async def add_cost(request: web.Request, *, path: IdPath, body: CostIn) -> BaseModel:
    """Record what the campaign cost over a period of days."""
    actor = principal(request)
    async with request.app[SESSIONS].begin() as db:
        cost = await campaign_service.add_cost(
            db,
            actor,
            path.id,
            period_start=body.period_start,
            period_end=body.period_end,
            amount=body.amount,
            currency=body.currency,
        )
    return _out(CostOut, cost)


@routes.delete(
    "/api/v1/campaigns/{id}/costs/{cost_id}",
    path_model=CostPath,
    status=204,
    errors=HEADS_ONLY | {404: "No such cost"},
)
async def remove_cost(request: web.Request, *, path: CostPath) -> None:
    """Remove a cost entry."""
    actor = principal(request)
    async with request.app[SESSIONS].begin() as db:
        await campaign_service.remove_cost(db, actor, path.id, path.cost_id)


@routes.get(
    "/api/v1/reports/campaigns",
    query=CampaignReportQuery,
    response=list[CampaignFiguresOut],
    errors=HEADS_ONLY,
)
async def campaign_figures(request: web.Request, *, query: CampaignReportQuery) -> list[BaseModel]:
    """Per campaign: calls, callers, missed, leads, deals, won, revenue, cost, cost/lead, ROI."""
    require_head(principal(request))
    scope = ReportScope(pipeline_id=None, since=query.since, until=query.until)
    async with request.app[SESSIONS]() as db:
        rows = await campaign_reports.campaign_report(db, scope, attribution=query.attribution)
    return [_out(CampaignFiguresOut, row) for row in rows]


@routes.get(
    "/api/v1/reports/campaign-plan",
    query=PlanQuery,
    response=PlanOut,
    errors=HEADS_ONLY | {404: "No such pipeline"},
)
async def campaign_plan(request: web.Request, *, query: PlanQuery) -> BaseModel:
    """What a planned campaign's leads yield at the stage conversions seen in the window."""
    require_head(principal(request))
    scope = ReportScope(pipeline_id=query.pipeline_id, since=query.since, until=query.until)
    async with request.app[SESSIONS]() as db:
        plan = await campaign_reports.planned_campaign_forecast(
            db,
            scope,
            leads=query.leads,
            entry_stage_id=query.entry_stage_id,
            campaign_id=query.campaign_id,
            cost=query.cost,
            cost_currency=query.currency,
        )
    return _out(PlanOut, plan)
