"""Emails of contacts: ``contacts.email`` is the one shown first, ``contact_emails`` holds them all.

The duplicate check, imports and merges match on the lower-cased address through the index on
``contact_emails.normalized``; an email may be shared (a company's info@), so it is not unique.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import ContactEmail


def normalize_email(address: str) -> str:
    """The form emails are matched on: trimmed and lower-cased."""
    return address.strip().lower()


async def add_email(session: AsyncSession, contact_id: int, address: str) -> None:
    """Give the contact ``address`` unless it already has it (in any letter case)."""
    normalized = normalize_email(address)
    held = await session.scalar(
        select(ContactEmail.id).where(
            ContactEmail.contact_id == contact_id, ContactEmail.normalized == normalized
        )
    )
    if held is None:
        session.add(ContactEmail(contact_id=contact_id, address=address, normalized=normalized))
        await session.flush()


async def remove_email(session: AsyncSession, contact_id: int, address: str) -> None:
    await session.execute(
        delete(ContactEmail).where(
            ContactEmail.contact_id == contact_id,
            ContactEmail.normalized == normalize_email(address),
        )
    )


async def emails_of(session: AsyncSession, contact_id: int) -> list[str]:
    """Every email of the contact, in the order they were added."""
    rows = await session.scalars(
        select(ContactEmail.address)
        .where(ContactEmail.contact_id == contact_id)
        .order_by(ContactEmail.id)
    )
    return list(rows)


async def contacts_with_email(
    session: AsyncSession, address: str, *, exclude: Sequence[int] = ()
) -> list[int]:
    """Ids of the contacts that have ``address`` (letter case aside), oldest first."""
    query = select(ContactEmail.contact_id).where(
        ContactEmail.normalized == normalize_email(address)
    )
    if exclude:
        query = query.where(ContactEmail.contact_id.not_in(exclude))
    return list(await session.scalars(query.order_by(ContactEmail.contact_id)))
