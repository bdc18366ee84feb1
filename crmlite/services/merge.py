"""Merge one contact into another: everything it had moves to the survivor, in one savepoint.

Phones, emails, deals, activities (notes, calls, tasks), call effects, inbox decisions and pool
events are re-pointed; the fields that differ follow ``keep`` (per field, ``"into"`` keeps the
survivor's value, ``"from"`` takes the merged contact's); campaign touches keep the earliest first
one. The merged contact is recorded whole in ``contact_merges`` (its fields, phones, emails, the
ids of what moved and of the webhook deliveries that named it, whose signed bodies stay as sent)
and then deleted; its id answers through that record afterwards, chains flattened on write.

Everything runs in one savepoint: a failure at any step leaves both contacts as they were.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import (
    Activity,
    CallEffect,
    Contact,
    ContactEmail,
    ContactMerge,
    ContactPhone,
    ContactPoolEvent,
    Deal,
    InboxDecision,
    WebhookDelivery,
)
from crmlite.domain.access import sees_owned
from crmlite.domain.clock import Clock
from crmlite.domain.errors import Gone, InvalidInput, NotFound
from crmlite.domain.principal import Principal
from crmlite.services.common import utc_now

Side = Literal["into", "from"]
MERGEABLE_FIELDS = ("name", "company", "email", "owner_id")
MAX_CHAIN = 32


class ContactMerged(Gone):
    """The contact was merged into another (``details`` name the survivor)."""

    slug = "contact-merged"


@dataclass(frozen=True, slots=True)
class MergeResult:
    survivor_id: int
    merged_id: int
    moved: dict[str, list[int]]
    keep: dict[str, Side]


def conflicting_fields(into: Contact, merged: Contact) -> list[str]:
    """The fields on which the two contacts disagree (both set, different)."""
    return [
        field
        for field in MERGEABLE_FIELDS
        if getattr(merged, field) is not None
        and getattr(into, field) is not None
        and getattr(merged, field) != getattr(into, field)
    ]


async def survivor_of(session: AsyncSession, contact_id: int) -> int | None:
    """The contact a merged id now lives on (following chains), or None if it was not merged."""
    survivor: int | None = None
    current = contact_id
    for _ in range(MAX_CHAIN):
        found = await session.scalar(
            select(ContactMerge.survivor_id).where(ContactMerge.merged_id == current)
        )
        if found is None:
            return survivor
        survivor = current = found
    return survivor


class ContactMerger:
    """Merges for one principal inside one unit of work (the caller commits)."""

    def __init__(
        self, session: AsyncSession, principal: Principal, *, clock: Clock = utc_now
    ) -> None:
        self.session = session
        self.principal = principal
        self.clock = clock

    async def merge(
        self, into_id: int, from_id: int, keep: Mapping[str, str] | None = None
    ) -> MergeResult:
        """Merge contact ``from_id`` into ``into_id``; sellers only merge contacts they own."""
        choices = _check_keep(keep or {})
        if into_id == from_id:
            raise InvalidInput("a contact cannot be merged into itself", fields={"from_id": "same"})
        # A seller cannot see other sellers' contacts: merging one reads as NotFound.
        into = await self._load(into_id, "id")
        merged = await self._load(from_id, "from_id")
        async with self.session.begin_nested():
            return await self._merge(into, merged, choices)

    async def _load(self, contact_id: int, field: str) -> Contact:
        contact = await self.session.scalar(
            select(Contact)
            .where(Contact.id == contact_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if contact is not None and sees_owned(self.principal, contact.owner_id):
            return contact
        survivor = await survivor_of(self.session, contact_id)
        if survivor is not None:
            raise ContactMerged(
                f"contact {contact_id} was merged into {survivor}",
                details={"contact_id": contact_id, "survivor_id": survivor, "field": field},
            )
        raise NotFound(f"no contact {contact_id}", details={"contact_id": contact_id})

    async def _merge(self, into: Contact, merged: Contact, choices: dict[str, Side]) -> MergeResult:
        keep = {field: choices.get(field, "into") for field in conflicting_fields(into, merged)}
        snapshot = await self._snapshot(merged)
        moved = await self.move_phones(into, merged)
        moved |= await self.move_emails(into, merged)
        moved |= await self.move_records(into, merged)
        self._take_fields(into, merged, keep)
        self._take_campaigns(into, merged)
        snapshot["moved"] = moved
        snapshot["webhook_delivery_ids"] = await self._deliveries_naming(merged.id)
        await self.session.execute(
            update(ContactMerge)
            .where(ContactMerge.survivor_id == merged.id)
            .values(survivor_id=into.id)
        )
        self.session.add(
            ContactMerge(
                merged_id=merged.id,
                survivor_id=into.id,
                snapshot=snapshot,
                keep=dict(keep),
                merged_by_id=self.principal.user_id,
                merged_at=self.clock(),
            )
        )
        into.updated_at = self.clock()
        await self.session.flush()
        # Core deletes: the ORM would load the merged contact's (now empty) phone list first.
        await self.session.execute(delete(ContactEmail).where(ContactEmail.contact_id == merged.id))
        await self.session.execute(delete(Contact).where(Contact.id == merged.id))
        self.session.expunge(merged)
        return MergeResult(into.id, merged.id, moved, keep)

    async def _snapshot(self, merged: Contact) -> dict[str, object]:
        phones = await self.session.execute(
            select(ContactPhone.raw, ContactPhone.normalized, ContactPhone.kind, ContactPhone.label)
            .where(ContactPhone.contact_id == merged.id)
            .order_by(ContactPhone.id)
        )
        emails = await self.session.scalars(
            select(ContactEmail.address)
            .where(ContactEmail.contact_id == merged.id)
            .order_by(ContactEmail.id)
        )
        return {
            "id": merged.id,
            "name": merged.name,
            "company": merged.company,
            "email": merged.email,
            "owner_id": merged.owner_id,
            "created_at": merged.created_at.isoformat(),
            "first_campaign_id": merged.first_campaign_id,
            "latest_campaign_id": merged.latest_campaign_id,
            "phones": [dict(row._mapping) for row in phones],
            "emails": list(emails),
        }

    async def move_phones(self, into: Contact, merged: Contact) -> dict[str, list[int]]:
        """Re-point the merged contact's numbers (unique, so nothing can clash)."""
        return {"phones": await self._repoint(ContactPhone, into, merged)}

    async def move_emails(self, into: Contact, merged: Contact) -> dict[str, list[int]]:
        """Re-point the emails the survivor lacks; the ones it has are kept in the snapshot."""
        held = select(ContactEmail.normalized).where(ContactEmail.contact_id == into.id)
        ids = list(
            await self.session.scalars(
                select(ContactEmail.id).where(
                    ContactEmail.contact_id == merged.id, ContactEmail.normalized.not_in(held)
                )
            )
        )
        if ids:
            await self.session.execute(
                update(ContactEmail).where(ContactEmail.id.in_(ids)).values(contact_id=into.id)
            )
        return {"emails": ids}

    async def move_records(self, into: Contact, merged: Contact) -> dict[str, list[int]]:
        """Re-point deals, activities, call effects, inbox decisions and pool events."""
        moved: dict[str, list[int]] = {}
        moved["deals"] = await self._repoint(Deal, into, merged)
        moved["activities"] = await self._repoint(Activity, into, merged)
        moved["call_effects"] = await self._repoint(CallEffect, into, merged)
        moved["inbox_decisions"] = await self._repoint(InboxDecision, into, merged)
        moved["pool_events"] = await self._repoint(ContactPoolEvent, into, merged)
        return moved

    async def _repoint(
        self,
        model: type[ContactPhone | Deal | Activity | CallEffect | InboxDecision | ContactPoolEvent],
        into: Contact,
        merged: Contact,
    ) -> list[int]:
        ids = list(
            await self.session.scalars(
                select(model.id).where(model.contact_id == merged.id).order_by(model.id)
            )
        )
        if ids:
            await self.session.execute(
                update(model).where(model.id.in_(ids)).values(contact_id=into.id)
            )
        return ids

    def _take_fields(self, into: Contact, merged: Contact, keep: dict[str, Side]) -> None:
        same_owner = into.owner_id is not None and into.owner_id == merged.owner_id
        for field in MERGEABLE_FIELDS:
            theirs = getattr(merged, field)
            if (getattr(into, field) is None and theirs is not None) or keep.get(field) == "from":
                setattr(into, field, theirs)
        # The pool's idle clock: the holder's since-when travels with the owner that was kept.
        if same_owner:
            into.owned_since = _earliest(into.owned_since, merged.owned_since)
        elif into.owner_id is not None and into.owner_id == merged.owner_id:
            into.owned_since = merged.owned_since
        if into.owner_id is not None:
            into.pooled_at = None

    def _take_campaigns(self, into: Contact, merged: Contact) -> None:
        # The earlier-made contact was touched first; its first campaign is the real first touch.
        earlier, later = sorted((into, merged), key=lambda c: (c.created_at, c.id))
        into.first_campaign_id = earlier.first_campaign_id or later.first_campaign_id
        into.latest_campaign_id = into.latest_campaign_id or merged.latest_campaign_id

    async def _deliveries_naming(self, contact_id: int) -> list[int]:
        # Bodies are compact, sorted-key JSON (cti.webhooks.sender); the id ends at , or }.
        needle = f'"contact_id":{contact_id}'
        rows = await self.session.scalars(
            select(WebhookDelivery.id)
            .where(
                or_(
                    WebhookDelivery.body.contains(needle + ",", autoescape=True),
                    WebhookDelivery.body.contains(needle + "}", autoescape=True),
                )
            )
            .order_by(WebhookDelivery.id)
        )
        return list(rows)


def _earliest(*moments: dt.datetime | None) -> dt.datetime | None:
    present = [moment for moment in moments if moment is not None]
    return min(present) if present else None


def _check_keep(keep: Mapping[str, str]) -> dict[str, Side]:
    choices: dict[str, Side] = {}
    for field, side in keep.items():
        if field not in MERGEABLE_FIELDS:
            raise InvalidInput(
                f"cannot choose {field!r}", fields={f"keep.{field}": "unknown field"}
            )
        if side not in ("into", "from"):
            raise InvalidInput("keep is 'into' or 'from'", fields={f"keep.{field}": "into or from"})
        choices[field] = "into" if side == "into" else "from"
    return choices
