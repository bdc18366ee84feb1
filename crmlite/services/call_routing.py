"""Who should take a caller's call: the seller responsible for the contact behind the number."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Contact, ContactPhone, Deal, Stage, TelephonyIdentity, User


@dataclass(frozen=True, slots=True)
class SellerRoute:
    contact_id: int
    user_id: int
    login: str
    display_name: str
    extension: str
    via: str  # "contact-owner" or "open-deal"


async def responsible_seller(session: AsyncSession, normalized: str) -> SellerRoute | None:
    """The extension of the contact's owner, else of the owner of their newest open deal.

    One statement: a probe of the unique phone index, the owner's (or the open deal owner's)
    extension through indexed joins. Inactive users and users without an extension route nowhere.
    """
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
            )
            .select_from(ContactPhone)
            .join(Contact, Contact.id == ContactPhone.contact_id)
            .join(User, and_(User.id == responsible, User.active.is_(True)))
            .join(
                TelephonyIdentity,
                and_(TelephonyIdentity.user_id == User.id, TelephonyIdentity.kind == "extension"),
            )
            .where(ContactPhone.normalized == normalized)
            .order_by(TelephonyIdentity.id)
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    via = "contact-owner" if row.owner_id is not None else "open-deal"
    return SellerRoute(row.id, row.user_id, row.login, row.display_name, row.value, via)
