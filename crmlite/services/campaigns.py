"""Campaigns and call tracking: which DID, caller prefix or web form brings whose leads.

Heads and admins keep campaigns, their tracking sources and costs. The call side asks
:func:`attribute_call` which campaign a call belongs to and records the touch with
:func:`record_touch` (contacts and deals keep their first and latest campaign). See docs/REPORTS.md.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import ColumnElement, delete, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Activity, Campaign, CampaignCost, CampaignSource, Contact, Deal
from crmlite.domain.errors import AlreadyTaken, Conflict, InvalidInput, NotFound
from crmlite.domain.money import parse_amount, parse_currency
from crmlite.domain.principal import Principal
from crmlite.domain.reports import require_head

SOURCE_KINDS = ("did", "caller_prefix", "web_form")
_NUMBER = re.compile(r"^\+?[0-9]{2,20}$")


@dataclass(frozen=True, slots=True)
class SourceView:
    id: int
    kind: str
    value: str
    active_from: dt.datetime | None
    active_until: dt.datetime | None


@dataclass(frozen=True, slots=True)
class CostView:
    id: int
    period_start: dt.date
    period_end: dt.date
    amount: Decimal
    currency: str


@dataclass(frozen=True, slots=True)
class CampaignView:
    id: int
    name: str
    channel: str | None
    active: bool
    created_at: dt.datetime
    sources: list[SourceView]
    costs: list[CostView]


async def _view(session: AsyncSession, campaign: Campaign) -> CampaignView:
    sources = await session.scalars(
        select(CampaignSource)
        .where(CampaignSource.campaign_id == campaign.id)
        .order_by(CampaignSource.id)
    )
    costs = await session.scalars(
        select(CampaignCost)
        .where(CampaignCost.campaign_id == campaign.id)
        .order_by(CampaignCost.period_start, CampaignCost.id)
    )
    return CampaignView(
        id=campaign.id,
        name=campaign.name,
        channel=campaign.channel,
        active=campaign.active,
        created_at=campaign.created_at,
        sources=[SourceView(s.id, s.kind, s.value, s.active_from, s.active_until) for s in sources],
        costs=[CostView(c.id, c.period_start, c.period_end, c.amount, c.currency) for c in costs],
    )


async def _campaign(session: AsyncSession, campaign_id: int) -> Campaign:
    campaign = await session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound("no such campaign", details={"campaign_id": campaign_id})
    return campaign


def _clean_name(name: str) -> str:
    cleaned = name.strip()
    if not 1 <= len(cleaned) <= 100:
        raise InvalidInput("a campaign needs a name", fields={"name": "1 to 100 characters"})
    return cleaned


async def _check_name_free(session: AsyncSession, name: str, campaign_id: int | None) -> None:
    clash = await session.scalar(
        select(Campaign.id).where(Campaign.name == name, Campaign.id != (campaign_id or 0))
    )
    if clash is not None:
        raise AlreadyTaken(
            "a campaign with this name exists", fields=["name"], details={"campaign_id": clash}
        )


async def list_campaigns(session: AsyncSession, principal: Principal) -> list[CampaignView]:
    require_head(principal)
    campaigns = await session.scalars(select(Campaign).order_by(Campaign.name))
    return [await _view(session, c) for c in campaigns]


async def get_campaign(
    session: AsyncSession, principal: Principal, campaign_id: int
) -> CampaignView:
    require_head(principal)
    return await _view(session, await _campaign(session, campaign_id))


async def create_campaign(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    channel: str | None = None,
    active: bool = True,
    now: dt.datetime,
) -> CampaignView:
    require_head(principal)
    cleaned = _clean_name(name)
    await _check_name_free(session, cleaned, None)
    campaign = Campaign(name=cleaned, channel=channel, active=active, created_at=now)
    session.add(campaign)
    await session.flush()
    return await _view(session, campaign)


async def update_campaign(
    session: AsyncSession,
    principal: Principal,
    campaign_id: int,
    *,
    name: str | None = None,
    channel: str | None = None,
    active: bool | None = None,
) -> CampaignView:
    """Change what is given; ``None`` leaves a field as it is."""
    require_head(principal)
    campaign = await _campaign(session, campaign_id)
    if name is not None:
        cleaned = _clean_name(name)
        await _check_name_free(session, cleaned, campaign_id)
        campaign.name = cleaned
    if channel is not None:
        campaign.channel = channel or None
    if active is not None:
        campaign.active = active
    await session.flush()
    return await _view(session, campaign)


async def delete_campaign(session: AsyncSession, principal: Principal, campaign_id: int) -> None:
    """Delete a campaign; calls, contacts and deals it brought forget it (they stay)."""
    require_head(principal)
    await _campaign(session, campaign_id)
    for model in (Contact, Deal):
        for column in (model.first_campaign_id, model.latest_campaign_id):
            await session.execute(
                update(model).where(column == campaign_id).values({column.key: None})
            )
    await session.execute(
        update(Activity).where(Activity.campaign_id == campaign_id).values(campaign_id=None)
    )
    await session.execute(delete(CampaignSource).where(CampaignSource.campaign_id == campaign_id))
    await session.execute(delete(CampaignCost).where(CampaignCost.campaign_id == campaign_id))
    await session.execute(delete(Campaign).where(Campaign.id == campaign_id))


def _overlaps(
    a_from: dt.datetime | None,
    a_until: dt.datetime | None,
    b_from: dt.datetime | None,
    b_until: dt.datetime | None,
) -> bool:
    starts_before_b_ends = b_until is None or a_from is None or a_from < b_until
    ends_after_b_starts = a_until is None or b_from is None or b_from < a_until
    return starts_before_b_ends and ends_after_b_starts


async def add_source(
    session: AsyncSession,
    principal: Principal,
    campaign_id: int,
    *,
    kind: str,
    value: str,
    active_from: dt.datetime | None = None,
    active_until: dt.datetime | None = None,
) -> SourceView:
    """Track a DID (E.164 as the PBX reports it), a caller-number prefix or a web form source.

    One value belongs to one campaign at a time: windows of the same kind and value never overlap.
    """
    require_head(principal)
    await _campaign(session, campaign_id)
    cleaned = value.strip()
    if kind not in SOURCE_KINDS:
        raise InvalidInput("unknown source kind", fields={"kind": " | ".join(SOURCE_KINDS)})
    if kind != "web_form" and not _NUMBER.fullmatch(cleaned):
        raise InvalidInput("not a phone number", fields={"value": "digits, optional leading +"})
    if not 1 <= len(cleaned) <= 64:
        raise InvalidInput("empty source", fields={"value": "1 to 64 characters"})
    if active_from and active_until and active_until <= active_from:
        raise InvalidInput("empty window", fields={"active_until": "must be after active_from"})
    same = await session.scalars(
        select(CampaignSource).where(CampaignSource.kind == kind, CampaignSource.value == cleaned)
    )
    for other in same:
        if _overlaps(active_from, active_until, other.active_from, other.active_until):
            raise Conflict(
                "this source already belongs to a campaign then",
                details={"campaign_id": other.campaign_id, "source_id": other.id},
            )
    source = CampaignSource(
        campaign_id=campaign_id,
        kind=kind,
        value=cleaned,
        active_from=active_from,
        active_until=active_until,
    )
    session.add(source)
    await session.flush()
    return SourceView(source.id, kind, cleaned, active_from, active_until)


async def remove_source(
    session: AsyncSession, principal: Principal, campaign_id: int, source_id: int
) -> None:
    require_head(principal)
    result = await session.execute(
        delete(CampaignSource).where(
            CampaignSource.id == source_id, CampaignSource.campaign_id == campaign_id
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound("no such source", details={"source_id": source_id})


async def add_cost(
    session: AsyncSession,
    principal: Principal,
    campaign_id: int,
    *,
    period_start: dt.date,
    period_end: dt.date,
    amount: object,
    currency: str,
) -> CostView:
    """Record what the campaign cost over the days period_start..period_end (both included)."""
    require_head(principal)
    await _campaign(session, campaign_id)
    if period_end < period_start:
        raise InvalidInput("empty period", fields={"period_end": "on or after period_start"})
    cost = CampaignCost(
        campaign_id=campaign_id,
        period_start=period_start,
        period_end=period_end,
        amount=parse_amount(amount),
        currency=parse_currency(currency),
    )
    session.add(cost)
    await session.flush()
    return CostView(cost.id, period_start, period_end, cost.amount, cost.currency)


async def remove_cost(
    session: AsyncSession, principal: Principal, campaign_id: int, cost_id: int
) -> None:
    require_head(principal)
    result = await session.execute(
        delete(CampaignCost).where(
            CampaignCost.id == cost_id, CampaignCost.campaign_id == campaign_id
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise NotFound("no such cost", details={"cost_id": cost_id})


def _active_at(at: dt.datetime) -> list[ColumnElement[bool]]:
    return [
        Campaign.active.is_(True),
        or_(CampaignSource.active_from.is_(None), CampaignSource.active_from <= at),
        or_(CampaignSource.active_until.is_(None), CampaignSource.active_until > at),
    ]


async def attribute_call(
    session: AsyncSession, did: str | None, caller_e164: str | None, at: dt.datetime
) -> int | None:
    """The campaign of a call to ``did`` from ``caller_e164`` at ``at``, or None.

    The dialled DID decides first (it is the tracking number); failing that, the longest
    caller-number prefix of an active campaign.
    """
    if did:
        campaign_id = await session.scalar(
            select(CampaignSource.campaign_id)
            .join(Campaign, Campaign.id == CampaignSource.campaign_id)
            .where(CampaignSource.kind == "did", CampaignSource.value == did, *_active_at(at))
            .order_by(CampaignSource.id.desc())
            .limit(1)
        )
        if campaign_id is not None:
            return int(campaign_id)
    if not caller_e164:
        return None
    caller = literal(caller_e164)
    campaign_id = await session.scalar(
        select(CampaignSource.campaign_id)
        .join(Campaign, Campaign.id == CampaignSource.campaign_id)
        .where(
            CampaignSource.kind == "caller_prefix",
            func.substr(caller, 1, func.length(CampaignSource.value)) == CampaignSource.value,
            *_active_at(at),
        )
        .order_by(func.length(CampaignSource.value).desc(), CampaignSource.id.desc())
        .limit(1)
    )
    return None if campaign_id is None else int(campaign_id)


async def attribute_web_form(
    session: AsyncSession, form_source: str, at: dt.datetime
) -> int | None:
    """The campaign of a web form lead whose form reported ``form_source``, or None."""
    campaign_id = await session.scalar(
        select(CampaignSource.campaign_id)
        .join(Campaign, Campaign.id == CampaignSource.campaign_id)
        .where(
            CampaignSource.kind == "web_form",
            CampaignSource.value == form_source.strip(),
            *_active_at(at),
        )
        .order_by(CampaignSource.id.desc())
        .limit(1)
    )
    return None if campaign_id is None else int(campaign_id)


async def record_touch(
    session: AsyncSession,
    campaign_id: int | None,
    *,
    contact_id: int | None = None,
    deal_id: int | None = None,
    call_id: int | None = None,
) -> None:
    """Remember that a campaign touched a contact / deal (first touch kept, latest replaced)
    and that a call came through it. Nothing happens for ``campaign_id`` None."""
    if campaign_id is None:
        return
    for model, row_id in ((Contact, contact_id), (Deal, deal_id)):
        if row_id is None:
            continue
        await session.execute(
            update(model)
            .where(model.id == row_id)
            .values(
                first_campaign_id=func.coalesce(model.first_campaign_id, campaign_id),
                latest_campaign_id=campaign_id,
            )
        )
    if call_id is not None:
        await session.execute(
            update(Activity).where(Activity.id == call_id).values(campaign_id=campaign_id)
        )
