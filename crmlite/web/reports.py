"""Reports API: funnel, time in stage, sales, forecast, losses, calls, speed to lead, missed calls.

Heads and admins see any seller's figures (``seller_id``) or the whole team's; a seller sees only
their own: without ``seller_id`` they get theirs, with another seller's id they get 403.
Definitions and worked examples: docs/REPORTS.md.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from aiohttp import web
from pydantic import AwareDatetime, BaseModel, Field, PlainSerializer

from crmlite.domain.office_hours import SlaClock
from crmlite.domain.principal import Principal
from crmlite.domain.reports import ReportScope, require_head, seller_scope
from crmlite.services import reports as deal_reports
from crmlite.services import reports_calls, reports_speed
from crmlite.services.common import utc_now
from crmlite.web.crm_schemas import AmountOut
from crmlite.web.keys import SESSIONS, SLA_CLOCK
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import ApiModel, QueryModel
from crmlite.web.security import principal

routes = ApiRoutes("reports", "Sales funnel and call figures, computed in the database")

Fraction = Annotated[
    float,
    PlainSerializer(lambda v: round(v, 4), return_type=float, when_used="json"),
    Field(description="a share from 0 to 1, four places"),
]
Money = dict[str, AmountOut]
FORBIDDEN = {403: "A seller asked for another seller's figures"}
NOT_FOUND = {404: "No such pipeline"}


class WindowQuery(QueryModel):
    since: AwareDatetime = Field(description="start of the window, included (ISO 8601 with zone)")
    until: AwareDatetime = Field(description="end of the window, excluded")
    seller_id: int | None = Field(None, ge=1, description="one seller; all when left out")
    pbx: str | None = Field(
        None, min_length=1, max_length=64, description="call reports: one PBX (office); all if out"
    )


class PipelineQuery(WindowQuery):
    pipeline_id: int = Field(ge=1)


class MissedCallsQuery(WindowQuery):
    sla_minutes: int = Field(15, ge=1, le=7 * 24 * 60, description="call-back SLA")


class EscalationQuery(QueryModel):
    sla_minutes: int = Field(15, ge=1, le=7 * 24 * 60)
    since: AwareDatetime | None = Field(
        None, description="report breaches whose deadline passed after this (default: a week)"
    )


def scope_of(actor: Principal, query: WindowQuery, pipeline_id: int | None = None) -> ReportScope:
    return ReportScope(
        pipeline_id=pipeline_id,
        since=query.since,
        until=query.until,
        seller_id=seller_scope(actor, query.seller_id),
        pbx=query.pbx,
    )


class StageOut(ApiModel):
    id: int
    name: str
    position: int
    kind: str
    probability: int = Field(description="configured, percent")
    is_unsorted: bool


class FunnelStepOut(ApiModel):
    stage: StageOut
    entered: int = Field(description="cohort deals that were in this stage")
    reached: int = Field(description="... that got this far (a skipped stage counts)")
    to_next: Fraction | None = Field(description="reached(next) / reached(this); won after last")
    to_won: Fraction | None


class FunnelOut(ApiModel):
    stages: list[FunnelStepOut]
    deals: int = Field(description="the cohort: deals created in the window")
    won: int
    lost: int
    open: int
    win_rate: Fraction | None
    won_amount: Money = Field(description="what the cohort's won deals are worth")


class StageTimeOut(ApiModel):
    stage: StageOut
    stays: int = Field(description="completed stays that began in the window")
    median_s: float | None
    p90_s: float | None
    average_s: float | None
    open_stays: int = Field(description="stays that began in the window and go on")


class CurrencyFiguresOut(ApiModel):
    won_deals: int
    won_amount: AmountOut
    average_won: AmountOut | None
    open_deals: int
    open_amount: AmountOut
    velocity_per_day: AmountOut | None


class SalesOut(ApiModel):
    won: int = Field(description="deals closed won in the window")
    lost: int
    win_rate: Fraction | None
    average_cycle_s: float | None = Field(description="created to won, seconds")
    currencies: dict[str, CurrencyFiguresOut]


class ForecastStageOut(ApiModel):
    stage: StageOut
    open_deals: int
    amount: Money
    configured_probability: Fraction
    learned_probability: Fraction | None
    learned_from: int = Field(description="closed deals of the window that passed the stage")
    configured_weighted: Money
    learned_weighted: Money


class ForecastOut(ApiModel):
    stages: list[ForecastStageOut]
    configured_total: Money
    learned_total: Money


class LossReasonOut(ApiModel):
    reason: str | None
    deals: int
    amount: Money


class SellerCallsOut(ApiModel):
    agent_id: int | None
    agent_name: str | None
    calls: int
    answered: int
    answer_rate: Fraction | None
    inbound: int
    inbound_answered: int
    outbound: int
    talk_s: int


class CallsOut(ApiModel):
    sellers: list[SellerCallsOut]
    calls: int
    answered: int
    answer_rate: Fraction | None


class SpeedToLeadOut(ApiModel):
    leads: int
    responded: int
    median_s: float | None
    p90_s: float | None
    average_s: float | None


class MissedCallOut(ApiModel):
    activity_id: int
    caller: str | None
    missed_at: dt.datetime
    deadline: dt.datetime
    contact_id: int | None


class MissedCallsOut(ApiModel):
    sla_s: int
    missed: int
    called_back: int
    never_called_back: int
    within_sla: int
    breached: int
    open_breaches: list[MissedCallOut]


class EscalationOut(ApiModel):
    activity_id: int
    caller: str
    missed_at: dt.datetime
    deadline: dt.datetime
    contact_id: int | None
    notify_user_ids: list[int]


def _out(model: type[BaseModel], value: object) -> BaseModel:
    return model.model_validate(value, from_attributes=True)


@routes.get(
    "/api/v1/reports/funnel", query=PipelineQuery, response=FunnelOut, errors=FORBIDDEN | NOT_FOUND
)
async def funnel(request: web.Request, *, query: PipelineQuery) -> BaseModel:
    """Deals created in the window: how many entered and reached each stage, conversions."""
    scope = scope_of(principal(request), query, query.pipeline_id)
    async with request.app[SESSIONS]() as db:
        return _out(FunnelOut, await deal_reports.funnel_report(db, scope))


@routes.get(
    "/api/v1/reports/time-in-stage",
    query=PipelineQuery,
    response=list[StageTimeOut],
    errors=FORBIDDEN | NOT_FOUND,
)
async def time_in_stage(request: web.Request, *, query: PipelineQuery) -> list[BaseModel]:
    """Median, p90 and mean time in each open stage, for stays that began in the window."""
    scope = scope_of(principal(request), query, query.pipeline_id)
    async with request.app[SESSIONS]() as db:
        rows = await deal_reports.time_in_stage_report(db, scope)
    return [_out(StageTimeOut, row) for row in rows]


@routes.get(
    "/api/v1/reports/sales", query=PipelineQuery, response=SalesOut, errors=FORBIDDEN | NOT_FOUND
)
async def sales(request: web.Request, *, query: PipelineQuery) -> BaseModel:
    """Win rate, average cycle and won deal size of the window; open deals and velocity now."""
    scope = scope_of(principal(request), query, query.pipeline_id)
    async with request.app[SESSIONS]() as db:
        return _out(SalesOut, await deal_reports.sales_summary(db, scope))


@routes.get(
    "/api/v1/reports/forecast",
    query=PipelineQuery,
    response=ForecastOut,
    errors=FORBIDDEN | NOT_FOUND,
)
async def forecast(request: web.Request, *, query: PipelineQuery) -> BaseModel:
    """Weighted value of open deals: configured and learned (from the window) probabilities."""
    scope = scope_of(principal(request), query, query.pipeline_id)
    async with request.app[SESSIONS]() as db:
        return _out(ForecastOut, await deal_reports.forecast_report(db, scope))


@routes.get(
    "/api/v1/reports/loss-reasons",
    query=PipelineQuery,
    response=list[LossReasonOut],
    errors=FORBIDDEN | NOT_FOUND,
)
async def loss_reasons(request: web.Request, *, query: PipelineQuery) -> list[BaseModel]:
    """Deals lost in the window by reason, with their amounts per currency."""
    scope = scope_of(principal(request), query, query.pipeline_id)
    async with request.app[SESSIONS]() as db:
        rows = await deal_reports.loss_reasons_report(db, scope)
    return [_out(LossReasonOut, row) for row in rows]


@routes.get("/api/v1/reports/calls", query=WindowQuery, response=CallsOut, errors=FORBIDDEN)
async def calls(request: web.Request, *, query: WindowQuery) -> BaseModel:
    """Calls started in the window per seller: answered, answer rate, inbound/outbound, talk."""
    scope = scope_of(principal(request), query)
    async with request.app[SESSIONS]() as db:
        return _out(CallsOut, await reports_calls.calls_report(db, scope))


@routes.get(
    "/api/v1/reports/speed-to-lead", query=WindowQuery, response=SpeedToLeadOut, errors=FORBIDDEN
)
async def speed_to_lead(request: web.Request, *, query: WindowQuery) -> BaseModel:
    """New callers of the window: time from their first call to an answer or a call-back."""
    scope = scope_of(principal(request), query)
    async with request.app[SESSIONS]() as db:
        report = await reports_speed.speed_to_lead_report(db, scope, _sla_clock(request))
    return _out(SpeedToLeadOut, report)


def _sla_clock(request: web.Request) -> SlaClock:
    # Each office's hours ([callbacks]/[[pbx]] hours); an app without them counts plain minutes.
    return request.app.get(SLA_CLOCK, reports_calls.PLAIN_MINUTES)


@routes.get(
    "/api/v1/reports/missed-calls",
    query=MissedCallsQuery,
    response=MissedCallsOut,
    errors=FORBIDDEN,
)
async def missed_calls(request: web.Request, *, query: MissedCallsQuery) -> BaseModel:
    """Missed calls of the window: called back or not, within the SLA or not, open breaches."""
    scope = scope_of(principal(request), query)
    sla = dt.timedelta(minutes=query.sla_minutes)
    async with request.app[SESSIONS]() as db:
        report = await reports_calls.missed_calls_report(
            db, scope, sla=sla, now=utc_now(), clock=_sla_clock(request)
        )
    return _out(MissedCallsOut, report)


@routes.get(
    "/api/v1/reports/sla-escalations",
    query=EscalationQuery,
    response=list[EscalationOut],
    errors={403: "Heads of sales and admins only"},
)
async def sla_escalations(request: web.Request, *, query: EscalationQuery) -> list[BaseModel]:
    """Missed calls nobody called back whose SLA deadline passed: who to notify (heads)."""
    require_head(principal(request))
    sla = dt.timedelta(minutes=query.sla_minutes)
    async with request.app[SESSIONS]() as db:
        rows = await reports_calls.sla_escalations(
            db, now=utc_now(), sla=sla, since=query.since, clock=_sla_clock(request)
        )
    return [_out(EscalationOut, row) for row in rows]
