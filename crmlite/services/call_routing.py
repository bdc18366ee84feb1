"""Who should take a caller's call: the seller responsible for the contact behind the number."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
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

    At most three indexed probes: the unique phone index, the deals of the contact, the user's
    identities. Inactive users and users without an extension route nowhere.
    """
    contact = (
        await session.execute(
            select(Contact.id, Contact.owner_id)
            .join(ContactPhone, ContactPhone.contact_id == Contact.id)
            .where(ContactPhone.normalized == normalized)
        )
    ).first()
    if contact is None:
        return None
    for via, owner_id in (
        ("contact-owner", contact.owner_id),
        ("open-deal", await _open_deal_owner(session, contact.id)),
    ):
        if owner_id is None:
            continue
        seller = (
            await session.execute(
                select(User.id, User.login, User.display_name, TelephonyIdentity.value)
                .join(TelephonyIdentity, TelephonyIdentity.user_id == User.id)
                .where(
                    User.id == owner_id,
                    User.active.is_(True),
                    TelephonyIdentity.kind == "extension",
                )
                .order_by(TelephonyIdentity.id)
                .limit(1)
            )
        ).first()
        if seller is not None:
            return SellerRoute(
                contact.id, seller.id, seller.login, seller.display_name, seller.value, via
            )
    return None


async def _open_deal_owner(session: AsyncSession, contact_id: int) -> int | None:
    return await session.scalar(
        select(Deal.owner_id)
        .join(Stage, Stage.id == Deal.stage_id)
        .where(Deal.contact_id == contact_id, Stage.kind == "open", Deal.owner_id.is_not(None))
        .order_by(Deal.updated_at.desc(), Deal.id.desc())
        .limit(1)
    )
