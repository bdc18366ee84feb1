"""Who should take a caller's call: the seller responsible for the contact behind the number."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Contact, ContactPhone, Deal, Stage, TelephonyIdentity, User
from crmlite.domain.pool import RingPolicy
from crmlite.services.pool_routing import pool_call


@dataclass(frozen=True, slots=True)
class SellerRoute:
    contact_id: int
    user_id: int
    login: str
    display_name: str
    extension: str
    # "contact-owner", "open-deal", or for a pool contact "pool-previous-owner" / "pool-head"
    via: str
    # The PBX the extension belongs to (None: every PBX). With an asking PBX, another name here
    # means the seller sits in the other office: the call crosses the inter-office trunk.
    pbx: str | None = None


def _extension_order(pbx: str | None) -> tuple[ColumnElement[Any], ...]:
    """The asking PBX's own extensions (or every PBX's) first, then the other offices'."""
    if pbx is None:
        return (TelephonyIdentity.id.expression,)
    here = or_(TelephonyIdentity.pbx.is_(None), TelephonyIdentity.pbx == pbx)
    return (case((here, 0), else_=1), TelephonyIdentity.id.expression)


async def responsible_seller(
    session: AsyncSession,
    normalized: str,
    *,
    pool_ring: RingPolicy = RingPolicy.PREVIOUS_OWNER,
    pbx: str | None = None,
) -> SellerRoute | None:
    """The extension of the contact's owner, else of the owner of their newest open deal.

    Two statements: a probe of the unique phone index for a pool contact, then the owner's (or
    the open deal owner's) extension through indexed joins. Inactive users and users without an
    extension route nowhere.
    A contact in the public pool routes by ``pool_ring`` instead (a few more indexed reads): its
    previous owner, a head, or nobody (the queue). With ``pbx`` (the PBX asking), an extension
    of that PBX or of every PBX is preferred; else the seller's extension in another office.
    """
    pooled = (
        await session.execute(
            select(Contact.id)
            .join(ContactPhone, ContactPhone.contact_id == Contact.id)
            .where(ContactPhone.normalized == normalized, Contact.pooled_at.is_not(None))
        )
    ).first()
    if pooled is not None:
        return await _pool_route(session, int(pooled.id), pool_ring, pbx)
    open_deal_owner = (
        select(Deal.owner_id)
        .join(Stage, Stage.id == Deal.stage_id)
        .where(Deal.contact_id == Contact.id, Stage.kind == "open", Deal.owner_id.is_not(None))
        .order_by(Deal.updated_at.desc(), Deal.id.desc())
        .limit(1)
        .correlate(Contact)
        .scalar_subquery()
    )
    responsible = func.coalesce(Contact.owner_id, open_deal_owner)
    row = (
        await session.execute(
            select(
                Contact.id,
                Contact.owner_id,
                User.id.label("user_id"),
                User.login,
                User.display_name,
                TelephonyIdentity.value,
                TelephonyIdentity.pbx,
            )
            .select_from(ContactPhone)
            .join(Contact, Contact.id == ContactPhone.contact_id)
            .join(User, and_(User.id == responsible, User.active.is_(True)))
            .join(
                TelephonyIdentity,
                and_(TelephonyIdentity.user_id == User.id, TelephonyIdentity.kind == "extension"),
            )
            .where(ContactPhone.normalized == normalized)
            .order_by(*_extension_order(pbx))
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    via = "contact-owner" if row.owner_id is not None else "open-deal"
    return SellerRoute(row.id, row.user_id, row.login, row.display_name, row.value, via, row.pbx)


async def _pool_route(
    session: AsyncSession, contact_id: int, ring: RingPolicy, pbx: str | None
) -> SellerRoute | None:
    call = await pool_call(session, contact_id, ring)
    if call is None or call.target.user_id is None:
        return None
    row = (
        await session.execute(
            select(
                User.id,
                User.login,
                User.display_name,
                TelephonyIdentity.value,
                TelephonyIdentity.pbx,
            )
            .join(
                TelephonyIdentity,
                and_(TelephonyIdentity.user_id == User.id, TelephonyIdentity.kind == "extension"),
            )
            .where(User.id == call.target.user_id)
            .order_by(*_extension_order(pbx))
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    return SellerRoute(
        contact_id, row.id, row.login, row.display_name, row.value, call.target.via, row.pbx
    )
