"""Who called, in words: the caller-id name when it is one, the contact's name, else the number
as people read it (national format at home). Titles of call-made deals and tasks use it."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Contact
from crmlite.domain.phones import NormalizedPhone, PhoneRules, display_phone, looks_like_number
from crmlite.services.call_work import CallWork

# What PBXs put in the caller name when there is none.
_NO_NAME = frozenset({"<unknown>", "unknown", "anonymous", "<anonymous>", "unavailable", "null"})


def person_name(raw: str | None) -> str | None:
    """The caller name, unless it is a placeholder or just digits (a number, not a name)."""
    name = (raw or "").strip()
    if not name or name.lower() in _NO_NAME or looks_like_number(name):
        return None
    return name[:200]


async def caller_label(
    session: AsyncSession,
    work: CallWork,
    contact_id: int | None,
    phone: NormalizedPhone | None,
    rules: PhoneRules,
    *,
    contact_name: str | None = None,
) -> str:
    """Who called, for titles: the contact's name, else the number as people read it.

    ``contact_name``: the contact's name when the caller just read or wrote it.
    """
    name = contact_name
    if name is None and contact_id is not None:
        name = await session.scalar(select(Contact.name).where(Contact.id == contact_id))
    name = name or person_name(work.call.customer_name)
    if name and not looks_like_number(name):
        return name
    if phone is not None:
        return display_phone(phone.normalized, rules.default_region)
    return work.call.customer_number or work.text.unknown_caller
