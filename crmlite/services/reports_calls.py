"""Call reports: calls per seller, speed to lead, missed calls and the call-back SLA.

They read the call log (activities of kind ``call``): ``from_number`` of inbound and ``to_number``
of outbound calls are the customer's normalized E.164 number; ``answered_at`` NULL means missed.
Definitions and worked examples: docs/REPORTS.md.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from crmlite.db.models import Activity, Contact, User
from crmlite.domain.office_hours import SlaClock
from crmlite.domain.reports import (
    Escalation,
    ReportScope,
    check_sla,
    rate,
    sla_deadline,
)
from crmlite.services.reports_sql import materialized, seconds_between

MAX_BREACHES = 500
PLAIN_MINUTES = SlaClock()  # no office hours: every SLA counts plain minutes


def _aware(at: dt.datetime) -> dt.datetime:
    # The UtcDateTime column answers aware datetimes; a raw subquery value may come back naive.
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def call_conditions(direction: str | None = None, pbx: str | None = None) -> list[Any]:
    conditions: list[Any] = [Activity.kind == "call"]
    if direction is not None:
        conditions.append(Activity.direction == direction)
    if pbx is not None:
        conditions.append(Activity.pbx == pbx)  # one office's calls; follow-ups from any office
    return conditions


@dataclass(frozen=True, slots=True)
class SellerCalls:
    agent_id: int | None  # None: calls nobody answered or took
    agent_name: str | None
    calls: int
    answered: int
    answer_rate: float | None
    inbound: int
    inbound_answered: int
    outbound: int
    talk_s: int


@dataclass(frozen=True, slots=True)
class CallsReport:
    sellers: list[SellerCalls]
    calls: int
    answered: int
    answer_rate: float | None


async def calls_report(session: AsyncSession, scope: ReportScope) -> CallsReport:
    """Calls started in the window per agent, answered share, inbound/outbound, talk time."""
    answered = Activity.answered_at.is_not(None)
    inbound = Activity.direction == "inbound"
    conditions = [
        *call_conditions(pbx=scope.pbx),
        Activity.started_at >= scope.since,
        Activity.started_at < scope.until,
    ]
    if scope.seller_id is not None:
        conditions.append(Activity.agent_id == scope.seller_id)
    per_agent = (
        select(
            Activity.agent_id,
            func.count().label("calls"),
            func.sum(case((answered, 1), else_=0)).label("answered"),
            func.sum(case((inbound, 1), else_=0)).label("inbound"),
            func.sum(case((and_(inbound, answered), 1), else_=0)).label("inbound_answered"),
            func.sum(case((Activity.direction == "outbound", 1), else_=0)).label("outbound"),
            func.coalesce(func.sum(Activity.duration_s), 0).label("talk"),
        )
        .where(*conditions)
        .group_by(Activity.agent_id)
        .subquery()
    )
    # Names are joined to the few per-agent rows, not to every call.
    rows = await session.execute(
        select(
            per_agent.c.agent_id,
            User.display_name,
            *(column for column in per_agent.c if column.key != "agent_id"),
        ).outerjoin(User, User.id == per_agent.c.agent_id)
    )
    sellers = [
        SellerCalls(
            agent_id=agent,
            agent_name=name,
            calls=n,
            answered=int(ans),
            answer_rate=rate(int(ans), n),
            inbound=int(n_in),
            inbound_answered=int(in_ans),
            outbound=int(n_out),
            talk_s=int(talk),
        )
        for agent, name, n, ans, n_in, in_ans, n_out, talk in rows
    ]
    sellers.sort(key=lambda s: (s.agent_id is None, -s.calls, s.agent_id or 0))
    total = sum(s.calls for s in sellers)
    total_answered = sum(s.answered for s in sellers)
    return CallsReport(sellers, total, total_answered, rate(total_answered, total))


@dataclass(frozen=True, slots=True)
class MissedCall:
    activity_id: int
    caller: str | None
    missed_at: dt.datetime
    deadline: dt.datetime
    contact_id: int | None
    called_back_at: dt.datetime | None


@dataclass(frozen=True, slots=True)
class MissedCallsReport:
    sla_s: int
    missed: int  # inbound calls in the window nobody answered
    called_back: int  # ... followed by a call-back or an answered call from the same number
    never_called_back: int
    within_sla: int
    breached: int  # called back late, or not at all while the deadline has passed
    open_breaches: list[MissedCall]  # not called back and past the deadline, oldest first


def _missed_calls(scope: ReportScope) -> Any:
    """Missed inbound calls of the window, each with when it was first followed up (or NULL)."""
    later = aliased(Activity)
    callback = (
        select(func.min(later.started_at))
        .where(
            later.kind == "call",
            later.direction == "outbound",
            later.to_number == Activity.from_number,
            later.started_at >= Activity.started_at,
        )
        .scalar_subquery()
    )
    answered_again = (
        select(func.min(later.answered_at))
        .where(
            later.kind == "call",
            later.direction == "inbound",
            later.from_number == Activity.from_number,
            later.started_at > Activity.started_at,
            later.answered_at.is_not(None),
        )
        .scalar_subquery()
    )
    conditions = [
        *call_conditions("inbound", scope.pbx),
        Activity.answered_at.is_(None),
        Activity.started_at >= scope.since,
        Activity.started_at < scope.until,
    ]
    query = select(
        Activity.id,
        Activity.from_number,
        Activity.started_at,
        Activity.contact_id,
        Activity.pbx,
        callback.label("callback"),
        answered_again.label("answered_again"),
    )
    if scope.seller_id is not None:
        # A seller answers for missed calls that rang them or came from their own contacts.
        query = query.outerjoin(Contact, Contact.id == Activity.contact_id)
        conditions.append(
            or_(Activity.agent_id == scope.seller_id, Contact.owner_id == scope.seller_id)
        )
    raw = materialized(query.where(*conditions), "missed_raw")
    followed_up = case(
        (raw.c.callback.is_(None), raw.c.answered_again),
        (raw.c.answered_again.is_(None), raw.c.callback),
        (raw.c.callback < raw.c.answered_again, raw.c.callback),
        else_=raw.c.answered_again,
    )
    return select(
        raw.c.id,
        raw.c.from_number,
        raw.c.started_at,
        raw.c.contact_id,
        raw.c.pbx,
        followed_up.label("followed_up"),
    ).subquery("missed")


async def missed_calls_report(
    session: AsyncSession,
    scope: ReportScope,
    *,
    sla: dt.timedelta,
    now: dt.datetime,
    clock: SlaClock = PLAIN_MINUTES,
) -> MissedCallsReport:
    """Missed calls of the window, how many were called back, and the SLA breaches."""
    check_sla(sla)
    sla_s = int(sla.total_seconds())
    missed = _missed_calls(scope)
    if not clock.plain:
        return await _missed_in_office_hours(session, missed, sla, now, clock)
    resolved = missed.c.followed_up.is_not(None)
    late = seconds_between(missed.c.followed_up, missed.c.started_at) > sla_s
    overdue = and_(missed.c.followed_up.is_(None), missed.c.started_at <= now - sla)
    as_count = {"type_": Integer()}
    # One pass: the totals ride along on every row (window aggregates over all missed calls)
    # while the rows themselves are the open breaches first, oldest first.
    rows = (
        await session.execute(
            select(
                missed.c.id,
                missed.c.from_number,
                missed.c.started_at,
                missed.c.contact_id,
                overdue.label("open_breach"),
                func.count().over(),
                func.sum(case((resolved, 1), else_=0), **as_count).over(),
                func.sum(case((and_(resolved, ~late), 1), else_=0), **as_count).over(),
                func.sum(case((or_(and_(resolved, late), overdue), 1), else_=0), **as_count).over(),
            )
            .order_by(overdue.desc(), missed.c.started_at, missed.c.id)
            .limit(MAX_BREACHES)
        )
    ).all()
    total, called_back, within, breached = (int(v or 0) for v in rows[0][5:]) if rows else (0,) * 4
    breaches = [
        MissedCall(id_, number, at, sla_deadline(at, sla), contact, None)
        for id_, number, at, contact, open_breach, *_totals in rows
        if open_breach
    ]
    return MissedCallsReport(
        sla_s=sla_s,
        missed=total,
        called_back=called_back,
        never_called_back=total - called_back,
        within_sla=within,
        breached=breached,
        open_breaches=breaches,
    )


async def _missed_in_office_hours(
    session: AsyncSession, missed: Any, sla: dt.timedelta, now: dt.datetime, clock: SlaClock
) -> MissedCallsReport:
    # Each deadline depends on its office's hours, which SQL does not know: count in Python.
    rows = await session.execute(
        select(
            missed.c.id,
            missed.c.from_number,
            missed.c.started_at,
            missed.c.contact_id,
            missed.c.pbx,
            missed.c.followed_up,
        ).order_by(missed.c.started_at, missed.c.id)
    )
    total = called_back = within = breached = 0
    breaches: list[MissedCall] = []
    for id_, number, at, contact, pbx, followed_up in rows:
        total += 1
        deadline = clock.deadline(_aware(at), pbx, sla)
        if followed_up is not None:
            called_back += 1
            late = _aware(followed_up) > deadline
            within += not late
            breached += late
        elif deadline <= now:
            breached += 1
            if len(breaches) < MAX_BREACHES:
                breaches.append(MissedCall(id_, number, at, deadline, contact, None))
    return MissedCallsReport(
        sla_s=int(sla.total_seconds()),
        missed=total,
        called_back=called_back,
        never_called_back=total - called_back,
        within_sla=within,
        breached=breached,
        open_breaches=breaches,
    )


async def heads_of_sales(session: AsyncSession) -> tuple[int, ...]:
    """Who hears of SLA breaches: the active heads, or the active admins when there is no head."""
    for role in ("head", "admin"):
        ids = (
            await session.scalars(
                select(User.id).where(User.role == role, User.active.is_(True)).order_by(User.id)
            )
        ).all()
        if ids:
            return tuple(ids)
    return ()


async def sla_escalations(
    session: AsyncSession,
    *,
    now: dt.datetime,
    sla: dt.timedelta,
    since: dt.datetime | None = None,
    lookback: dt.timedelta = dt.timedelta(days=7),
    clock: SlaClock = PLAIN_MINUTES,
) -> list[Escalation]:
    """Missed calls not called back whose SLA deadline passed in (since, now]: what to notify.

    Calling it every minute with ``since`` = the previous ``now`` reports each breach once. It
    changes nothing; the caller (the pop hub, a mail job) delivers the notifications. With office
    hours (``clock``) each call's deadline counts the SLA in its own office's open time only.
    """
    check_sla(sla)
    start = (since if since is not None else now - lookback) - sla
    if not clock.plain:
        # A call missed on Friday evening falls due on Monday: look back a week further.
        start -= lookback
    scope = ReportScope(
        pipeline_id=None, since=start, until=now - sla + dt.timedelta(microseconds=1)
    )
    missed = _missed_calls(scope)
    rows = await session.execute(
        select(
            missed.c.id,
            missed.c.from_number,
            missed.c.started_at,
            missed.c.contact_id,
            missed.c.pbx,
        )
        .where(missed.c.followed_up.is_(None), missed.c.started_at > start)
        .order_by(missed.c.started_at, missed.c.id)
    )
    due: list[tuple[int, str | None, dt.datetime, int | None, dt.datetime]] = []
    for id_, number, at, contact, pbx in rows:
        deadline = clock.deadline(_aware(at), pbx, sla)
        if deadline <= now and (since is None or deadline > since):
            due.append((id_, number, at, contact, deadline))
    due.sort(key=lambda row: (row[4], row[0]))
    heads = await heads_of_sales(session)
    return [
        Escalation(id_, number or "", at, deadline, contact, heads)
        for id_, number, at, contact, deadline in due[:MAX_BREACHES]
    ]
