"""Report math and definitions: percentiles, funnel conversion, velocity, forecast, SLA.

The database does the counting (crmlite.services.reports_sql); what is left here is arithmetic on a
handful of aggregates, so every definition can be checked table-driven without a database. The
definitions and worked examples are in docs/REPORTS.md.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from crmlite.domain.errors import InvalidInput, PermissionDenied
from crmlite.domain.principal import Principal

CENTS = Decimal("0.01")
RATE_PLACES = 4
SECONDS_PER_DAY = 86400
# Reported percentiles of durations; PERCENTS are whole percent so ranks stay integer math in SQL.
MEDIAN = 50
P90 = 90


@dataclass(frozen=True, slots=True)
class ReportScope:
    """What a report covers: a pipeline, the time window [since, until), one seller or all.

    ``pbx`` narrows the call reports to the calls of one PBX (office); None: every office.
    """

    pipeline_id: int | None
    since: dt.datetime
    until: dt.datetime
    seller_id: int | None = None
    pbx: str | None = None

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise InvalidInput("report window needs timezone-aware times", fields={"since": "tz"})
        if self.until <= self.since:
            raise InvalidInput("empty report window", fields={"until": "must be after since"})


def seller_scope(principal: Principal, requested: int | None) -> int | None:
    """Whose figures a report shows: any seller (or all) for heads/admins, only one's own else.

    A seller who asks for another seller's figures is refused rather than silently shown their own,
    so a chart never shows figures under the wrong name.
    """
    if principal.sees_everything:
        return requested
    if requested is not None and requested != principal.user_id:
        raise PermissionDenied(
            "sellers see only their own figures", details={"seller_id": requested}
        )
    if principal.user_id is None:
        raise PermissionDenied("reports need a user")
    return principal.user_id


def require_head(principal: Principal) -> None:
    """Company-wide figures (campaigns, SLA escalations): heads and admins only."""
    if not principal.sees_everything:
        raise PermissionDenied("only heads of sales and admins see this")


def percentile_ranks(count: int, percent: int) -> tuple[int, int, Decimal]:
    """1-based ranks around the ``percent`` point of ``count`` sorted values, and the weight of
    the upper one: linear interpolation, as PostgreSQL's ``percentile_cont``.

    Integer arithmetic only, so SQL computes the very same ranks on SQLite and PostgreSQL.
    """
    if count < 1 or not 0 <= percent <= 100:
        raise ValueError("need count >= 1 and 0 <= percent <= 100")
    scaled = (count - 1) * percent
    lower = scaled // 100 + 1
    remainder = scaled % 100
    return lower, lower + (1 if remainder else 0), Decimal(remainder) / 100


def interpolate(low: float, high: float, weight: Decimal) -> float:
    """The point ``weight`` (0..1) of the way from ``low`` to ``high``."""
    return float(low + (high - low) * float(weight))


def percentile(values: Sequence[float], percent: int) -> float | None:
    """The ``percent`` percentile of ``values`` by linear interpolation; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    lower, upper, weight = percentile_ranks(len(ordered), percent)
    return interpolate(ordered[lower - 1], ordered[upper - 1], weight)


def rate(part: int, whole: int) -> float | None:
    """``part / whole`` rounded to four places; None when there is nothing to divide by."""
    if whole <= 0:
        return None
    return round(part / whole, RATE_PLACES)


def days(seconds: float | None) -> float | None:
    """Seconds as days, two places."""
    return None if seconds is None else round(seconds / SECONDS_PER_DAY, 2)


def money(value: Decimal) -> Decimal:
    return value.quantize(CENTS, rounding=ROUND_HALF_UP)


@dataclass(frozen=True, slots=True)
class StageInfo:
    id: int
    name: str
    position: int
    kind: str  # open | won | lost
    probability: int  # configured, percent
    is_unsorted: bool = False


@dataclass(frozen=True, slots=True)
class FunnelStep:
    stage: StageInfo
    entered: int  # deals of the cohort with a recorded stay in this stage
    reached: int  # ... that got this far: this stage, a later open stage, or won
    to_next: float | None  # reached(next open stage, or won after the last) / reached(this)
    to_won: float | None  # won / reached(this)


def furthest_rank(kind: str, position: int, top: int) -> int:
    """How far a stay takes a deal along the funnel: its position, or past every stage if won."""
    return top + 1 if kind == "won" else position


def build_funnel(
    stages: Sequence[StageInfo],
    entered: Mapping[int, int],
    deals_by_furthest: Mapping[int, int],
    won: int,
) -> list[FunnelStep]:
    """Funnel steps over the open stages, in position order.

    ``deals_by_furthest`` maps a furthest rank (see :func:`furthest_rank`) to how many deals got
    exactly that far; a deal skipping a stage still counts as having reached it.
    """
    open_stages = sorted((s for s in stages if s.kind == "open"), key=lambda s: s.position)
    reached = [
        sum(n for rank, n in deals_by_furthest.items() if rank >= s.position) for s in open_stages
    ]
    steps: list[FunnelStep] = []
    for index, stage in enumerate(open_stages):
        following = reached[index + 1] if index + 1 < len(reached) else won
        steps.append(
            FunnelStep(
                stage=stage,
                entered=entered.get(stage.id, 0),
                reached=reached[index],
                to_next=rate(following, reached[index]),
                to_won=rate(won, reached[index]),
            )
        )
    return steps


def average_amount(total: Decimal, count: int) -> Decimal | None:
    return None if count == 0 else money(total / count)


def sales_velocity(
    open_deals: int, won: int, closed: int, average_won: Decimal | None, cycle_seconds: float | None
) -> Decimal | None:
    """Expected revenue per day: open deals x win rate x average won deal / cycle (days).

    The win rate enters as ``won / closed`` (not the rounded rate) to keep the result exact.
    """
    if not closed or average_won is None or not cycle_seconds:
        return None
    cycle_days = Decimal(str(cycle_seconds)) / SECONDS_PER_DAY
    return money(Decimal(open_deals) * won * average_won / (closed * cycle_days))


def learned_probability(won: int, closed: int) -> Decimal | None:
    """Share of the closed deals that passed a stage and ended won; None with no history."""
    return None if closed == 0 else Decimal(won) / closed


def weighted_amount(amount: Decimal, probability: Decimal | None) -> Decimal:
    """``amount`` x ``probability`` (a fraction); a stage with no known chance weighs nothing."""
    return Decimal("0.00") if probability is None else money(amount * probability)


@dataclass(frozen=True, slots=True)
class PlannedStep:
    stage: StageInfo
    expected: Decimal  # leads expected to reach the stage, one decimal


@dataclass(frozen=True, slots=True)
class CampaignPlan:
    leads: int
    steps: list[PlannedStep]
    won: Decimal
    revenue: dict[str, Decimal]
    cost: Decimal | None
    roi: Decimal | None


def plan_campaign(
    leads: int,
    entry_stage_id: int,
    funnel: Sequence[FunnelStep],
    won: int,
    won_amount: Mapping[str, Decimal],
    cost: Decimal | None = None,
    cost_currency: str | None = None,
) -> CampaignPlan:
    """What ``leads`` entering at ``entry_stage_id`` yield at the conversions of ``funnel``.

    A later stage gets ``leads x reached(stage) / reached(entry)``, won deals
    ``leads x won / reached(entry)`` and revenue, per currency,
    ``leads x won amount / reached(entry)``: each lead brings the revenue a cohort deal brought.
    """
    if leads < 0:
        raise InvalidInput("leads are not negative", fields={"leads": "must be >= 0"})
    stage_ids = [step.stage.id for step in funnel]
    if entry_stage_id not in stage_ids:
        raise InvalidInput("not an open stage of the pipeline", fields={"entry_stage_id": "open"})
    start = stage_ids.index(entry_stage_id)
    base = funnel[start].reached
    tenth = Decimal("0.1")

    def share(count: Decimal | int) -> Decimal:
        return Decimal(0) if base == 0 else Decimal(leads) * count / base

    steps = [
        PlannedStep(step.stage, share(step.reached).quantize(tenth)) for step in funnel[start:]
    ]
    revenue = {cur: money(share(amount)) for cur, amount in sorted(won_amount.items())}
    roi = None
    if cost is not None and cost_currency is not None:
        roi = campaign_roi(revenue.get(cost_currency, Decimal("0.00")), cost)
    return CampaignPlan(leads, steps, share(won).quantize(tenth), revenue, cost, roi)


@dataclass(frozen=True, slots=True)
class CostPeriod:
    start: dt.date  # first day
    end: dt.date  # last day, included
    amount: Decimal
    currency: str


def prorated_cost(
    periods: Sequence[CostPeriod], first: dt.date, last: dt.date
) -> dict[str, Decimal]:
    """Cost per currency falling on the days first..last (both included), pro rata per day."""
    totals: dict[str, Decimal] = {}
    for period in periods:
        overlap = (min(period.end, last) - max(period.start, first)).days + 1
        if overlap <= 0:
            continue
        length = (period.end - period.start).days + 1
        share = period.amount * overlap / length
        totals[period.currency] = totals.get(period.currency, Decimal(0)) + share
    return {currency: money(total) for currency, total in sorted(totals.items())}


def campaign_roi(revenue: Decimal, cost: Decimal) -> Decimal | None:
    """(revenue - cost) / cost, four places; None for a campaign that cost nothing."""
    if cost == 0:
        return None
    return ((revenue - cost) / cost).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


def cost_per_lead(cost: Decimal, leads: int) -> Decimal | None:
    return None if leads == 0 else money(cost / leads)


@dataclass(frozen=True, slots=True)
class Escalation:
    """A missed call nobody called back within the SLA: who to tell, and about what."""

    activity_id: int
    caller: str
    missed_at: dt.datetime
    deadline: dt.datetime
    contact_id: int | None
    notify_user_ids: tuple[int, ...]


def sla_deadline(missed_at: dt.datetime, sla: dt.timedelta) -> dt.datetime:
    return missed_at + sla


def check_sla(sla: dt.timedelta) -> None:
    if sla <= dt.timedelta(0):
        raise InvalidInput("the call-back SLA is positive", fields={"sla_minutes": "must be > 0"})
