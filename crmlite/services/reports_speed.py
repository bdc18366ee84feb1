"""Speed to lead: how long a new caller waited for an answer or a call-back.

Counted in SQL (percentiles included) when the clock runs round the clock; with office hours the
waits are counted here, each in the open time of the office the lead first called, since SQL does
not know the hours.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, func, or_, select, type_coerce
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from crmlite.db.models import Activity, UtcDateTime
from crmlite.domain.office_hours import SlaClock
from crmlite.domain.reports import MEDIAN, P90, ReportScope, percentile
from crmlite.services.reports_calls import PLAIN_MINUTES, call_conditions
from crmlite.services.reports_sql import materialized, percentile_of, seconds_between


@dataclass(frozen=True, slots=True)
class SpeedToLead:
    leads: int  # new callers whose first call fell in the window (seller view: they responded)
    responded: int
    median_s: float | None
    p90_s: float | None
    average_s: float | None


async def speed_to_lead_report(
    session: AsyncSession, scope: ReportScope, clock: SlaClock = PLAIN_MINUTES
) -> SpeedToLead:
    """Time from a new caller's first call to the first answered call or call-back.

    With office hours (``clock``), only the time the first call's office was open counts: a lead
    who called at 19:00 and was called back at 09:05 next morning waited five minutes.
    """
    # One pass over the callers' inbound calls (index order) gives each number its first call
    # and its first answer; only the call-back needs a look-up per lead.
    first_calls = materialized(
        select(
            Activity.from_number.label("number"),
            func.min(Activity.started_at).label("first"),
            func.min(Activity.answered_at).label("answered"),
        )
        .where(*call_conditions("inbound", scope.pbx), Activity.from_number.is_not(None))
        .group_by(Activity.from_number)
        .having(func.min(Activity.started_at) >= scope.since)
        .having(func.min(Activity.started_at) < scope.until),
        "first_calls",
    )
    later = aliased(Activity)
    called_back = (
        select(func.min(later.started_at))
        .where(
            later.to_number == first_calls.c.number,
            later.kind == "call",
            later.direction == "outbound",
            later.started_at >= first_calls.c.first,
        )
        .scalar_subquery()
    )
    responses = materialized(
        select(
            first_calls.c.number,
            first_calls.c.first,
            first_calls.c.answered,
            called_back.label("called_back"),
        ),
        "responses",
    )
    by_call_back = and_(
        responses.c.called_back.is_not(None),
        or_(responses.c.answered.is_(None), responses.c.called_back <= responses.c.answered),
    )
    response_at = case((by_call_back, responses.c.called_back), else_=responses.c.answered)
    picked = select(seconds_between(response_at, responses.c.first).label("seconds"))
    if scope.seller_id is not None:
        # A seller's view: the leads they were first to respond to.
        caller_back = (
            select(later.agent_id)
            .where(
                later.to_number == responses.c.number,
                later.kind == "call",
                later.direction == "outbound",
                later.started_at == responses.c.called_back,
            )
            .limit(1)
            .scalar_subquery()
        )
        answerer = (
            select(later.agent_id)
            .where(
                later.from_number == responses.c.number,
                later.kind == "call",
                later.direction == "inbound",
                later.answered_at == responses.c.answered,
            )
            .limit(1)
            .scalar_subquery()
        )
        responder = case((by_call_back, caller_back), else_=answerer)
        picked = picked.where(responder == scope.seller_id)
    if not clock.plain:
        office = (
            select(later.pbx)
            .where(
                later.from_number == responses.c.number,
                later.kind == "call",
                later.direction == "inbound",
                later.started_at == responses.c.first,
            )
            .limit(1)
            .scalar_subquery()
        )
        moments = picked.with_only_columns(
            responses.c.first, type_coerce(response_at, UtcDateTime), office
        )
        return _in_office_hours((await session.execute(moments)).all(), clock)
    chosen = picked.subquery()
    waiting = chosen.c.seconds.is_(None)
    ranked = select(
        chosen.c.seconds,
        func.row_number().over(partition_by=waiting, order_by=chosen.c.seconds).label("rank"),
        func.count().over(partition_by=waiting).label("n"),
    ).subquery()
    done = ranked.c.seconds.is_not(None)
    row = (
        await session.execute(
            select(
                func.count(),
                func.sum(case((done, 1), else_=0)),
                percentile_of(ranked.c.seconds, ranked.c.rank, ranked.c.n, MEDIAN, include=done),
                percentile_of(ranked.c.seconds, ranked.c.rank, ranked.c.n, P90, include=done),
                func.avg(ranked.c.seconds),
            )
        )
    ).one()
    count, answered_n, median, p90, average = row
    answered_n = int(answered_n or 0)
    return SpeedToLead(
        leads=int(count),
        responded=answered_n,
        median_s=round(float(median), 1) if answered_n else None,
        p90_s=round(float(p90), 1) if answered_n else None,
        average_s=round(float(average), 1) if answered_n else None,
    )


def _in_office_hours(
    rows: Sequence[tuple[dt.datetime, dt.datetime | None, str | None]], clock: SlaClock
) -> SpeedToLead:
    waits = [
        clock.open_time(first, answered, pbx).total_seconds()
        for first, answered, pbx in rows
        if answered is not None
    ]
    return SpeedToLead(
        leads=len(rows),
        responded=len(waits),
        median_s=_rounded(percentile(waits, MEDIAN)),
        p90_s=_rounded(percentile(waits, P90)),
        average_s=_rounded(sum(waits) / len(waits)) if waits else None,
    )


def _rounded(value: Any) -> float | None:
    return None if value is None else round(float(value), 1)
