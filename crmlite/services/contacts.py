"""Contacts: create with phones (one number, one contact), read, edit, search, find by phone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import joinedload, selectinload

from crmlite.db.models import Contact, ContactPhone, LeadScore
from crmlite.domain.access import may_assign_to_others, sees_owned
from crmlite.domain.clock import Clock
from crmlite.domain.errors import InvalidInput, NotFound, PermissionDenied
from crmlite.domain.phones import PhoneRules, normalize_phone, phone_lookup_key
from crmlite.domain.principal import Principal
from crmlite.services.common import (
    Page,
    check_page,
    insert_row,
    require_active_user,
    resolve_owner,
    text_variants,
    utc_now,
)
from crmlite.services.emails import add_email, remove_email
from crmlite.services.ownership import hand_over
from crmlite.services.phones import (
    PhoneInput,
    ensure_phones_free,
    insert_phones,
    normalize_all,
)


@dataclass(frozen=True, slots=True)
class ContactChanges:
    """Fields to change; ``None`` for name means unchanged, ``clear_*`` flags empty a field."""

    name: str | None = None
    company: str | None = None
    email: str | None = None
    owner_id: int | None = None
    clear_company: bool = False
    clear_email: bool = False


@dataclass(frozen=True, slots=True)
class NewContact:
    """A contact just inserted, as written (its pool state: out of the pool)."""

    id: int
    name: str
    owner_id: int | None


class ContactService:
    """Contact use cases for one principal inside one unit of work (the caller commits)."""

    def __init__(
        self,
        session: AsyncSession,
        principal: Principal,
        rules: PhoneRules | None = None,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.session = session
        self.principal = principal
        self.rules = rules or PhoneRules()
        self.clock = clock

    def _visible(self) -> ColumnElement[bool] | None:
        if self.principal.sees_everything:
            return None
        return Contact.owner_id == self.principal.user_id

    async def create(
        self,
        name: str,
        *,
        company: str | None = None,
        email: str | None = None,
        phones: Sequence[PhoneInput] = (),
        owner_id: int | None = None,
        phones_checked: bool = False,
    ) -> Contact:
        """Create a contact; a phone already held by another contact is a Conflict naming it.

        ``phones_checked``: the caller just looked the phones up in this transaction (the unique
        index still turns a lost race into the Conflict).
        """
        made = await self.insert(
            name,
            company=company,
            email=email,
            phones=phones,
            owner_id=owner_id,
            phones_checked=phones_checked,
        )
        return await self.get(made.id, check_access=False)

    async def insert(
        self,
        name: str,
        *,
        company: str | None = None,
        email: str | None = None,
        phones: Sequence[PhoneInput] = (),
        owner_id: int | None = None,
        phones_checked: bool = False,
    ) -> NewContact:
        """Create a contact as ``create`` does, without reading it back: its id, name and owner."""
        clean_name = _clean_name(name)
        numbers = normalize_all(phones, self.rules)
        owner = await resolve_owner(self.session, self.principal, owner_id)
        if not phones_checked:
            await ensure_phones_free(self.session, numbers)
        now = self.clock()
        clean_email = _clean_email(email)
        contact_id = await insert_row(
            self.session,
            Contact,
            {
                "name": clean_name,
                "company": _optional(company),
                "email": clean_email,
                "owner_id": owner,
                "owned_since": now if owner is not None else None,
                "created_at": now,
                "updated_at": now,
            },
        )
        if clean_email:
            await add_email(self.session, contact_id, clean_email)
        await insert_phones(self.session, contact_id, numbers, [p.label for p in phones])
        return NewContact(contact_id, clean_name, owner)

    async def get(self, contact_id: int, *, check_access: bool = True) -> Contact:
        """Return one contact with its phones; someone else's reads as NotFound."""
        result = await self.session.execute(
            select(Contact)
            .where(Contact.id == contact_id)
            .options(joinedload(Contact.phones))
            .execution_options(populate_existing=True)
        )
        contact = result.unique().scalar_one_or_none()
        if contact is None or (check_access and not sees_owned(self.principal, contact.owner_id)):
            raise NotFound(f"no contact {contact_id}", details={"contact_id": contact_id})
        return contact

    async def update(self, contact_id: int, changes: ContactChanges) -> Contact:
        contact = await self.get(contact_id)
        if changes.name is not None:
            contact.name = _clean_name(changes.name)
        if changes.clear_company or changes.company is not None:
            contact.company = None if changes.clear_company else _optional(changes.company)
        if changes.clear_email or changes.email is not None:
            # The shown email is replaced; the address it had is dropped from the contact's
            # emails too, the new one joins them.
            if contact.email:
                await remove_email(self.session, contact.id, contact.email)
            contact.email = None if changes.clear_email else _clean_email(changes.email)
            if contact.email:
                await add_email(self.session, contact.id, contact.email)
        if changes.owner_id is not None and changes.owner_id != contact.owner_id:
            if not may_assign_to_others(self.principal):
                raise PermissionDenied("sellers cannot give contacts to other users")
            await require_active_user(self.session, changes.owner_id, field="owner_id")
            hand_over(contact, changes.owner_id, self.clock())
        contact.updated_at = self.clock()
        await self.session.flush()
        return await self.get(contact_id, check_access=False)

    async def delete(self, contact_id: int) -> None:
        contact = await self.get(contact_id)
        await self.session.delete(contact)
        await self.session.flush()

    async def add_phone(self, contact_id: int, phone: PhoneInput) -> Contact:
        contact = await self.get(contact_id)
        numbers = normalize_all([phone], self.rules)
        await ensure_phones_free(self.session, numbers, except_contact=contact.id)
        if any(p.normalized == numbers[0].normalized for p in contact.phones):
            return contact
        await insert_phones(self.session, contact.id, numbers, [phone.label])
        contact.updated_at = self.clock()
        await self.session.flush()
        return await self.get(contact_id, check_access=False)

    async def remove_phone(self, contact_id: int, phone_id: int) -> Contact:
        contact = await self.get(contact_id)
        result = await self.session.execute(
            delete(ContactPhone).where(
                ContactPhone.id == phone_id, ContactPhone.contact_id == contact.id
            )
        )
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound(f"no phone {phone_id} on contact {contact_id}")
        contact.updated_at = self.clock()
        await self.session.flush()
        return await self.get(contact_id, check_access=False)

    async def find_by_phone(self, raw: str) -> Contact | None:
        """The contact holding ``raw`` in any typed form, if the principal may see it."""
        number = normalize_phone(raw, self.rules)
        holder = ContactPhone.__table__.alias("holder")
        result = await self.session.execute(
            select(Contact)
            .join(holder, holder.c.contact_id == Contact.id)
            .where(holder.c.normalized == number.normalized)
            .options(joinedload(Contact.phones))
        )
        contact = result.unique().scalar_one_or_none()
        if contact is None or not sees_owned(self.principal, contact.owner_id):
            return None
        return contact

    async def search(
        self,
        *,
        text: str | None = None,
        phone: str | None = None,
        owner_id: int | None = None,
        limit: int = 50,
        offset: int = 0,
        by_score: bool = False,
    ) -> Page[Contact]:
        """Search by text (name, company, email, or a phone typed in any form) and/or by phone.

        By name, or with ``by_score`` best lead score first (crmlite.services.scoring), unscored
        contacts last.
        """
        check_page(limit, offset)
        query = select(Contact).where(*self.conditions(text=text, phone=phone, owner_id=owner_id))
        total = await self.session.scalar(select(func.count()).select_from(query.subquery()))
        order: tuple[Any, ...] = (Contact.name, Contact.id)
        if by_score:
            query = query.outerjoin(
                LeadScore, and_(LeadScore.subject == "contact", LeadScore.subject_id == Contact.id)
            )
            order = (LeadScore.score.desc().nulls_last(), *order)
        rows = await self.session.scalars(
            query.options(selectinload(Contact.phones)).order_by(*order).limit(limit).offset(offset)
        )
        return Page(items=list(rows), total=total or 0, limit=limit, offset=offset)

    def conditions(
        self, *, text: str | None = None, phone: str | None = None, owner_id: int | None = None
    ) -> list[ColumnElement[bool]]:
        """What ``search`` filters on (and exports too): visibility, owner, phone, text."""
        conditions: list[ColumnElement[bool]] = []
        visible = self._visible()
        if visible is not None:
            conditions.append(visible)
        if owner_id is not None:
            conditions.append(Contact.owner_id == owner_id)
        if phone:
            number = normalize_phone(phone, self.rules)
            conditions.append(
                Contact.id.in_(
                    select(ContactPhone.contact_id).where(
                        ContactPhone.normalized == number.normalized
                    )
                )
            )
        if text and text.strip():
            conditions.append(self._text_match(text.strip()))
        return conditions

    def _text_match(self, text: str) -> ColumnElement[bool]:
        conditions = [
            column.ilike(pattern, escape="\\")
            for pattern in text_variants(text)
            for column in (Contact.name, Contact.company, Contact.email)
        ]
        # A phone typed into the search box is an exact, indexed match, never LIKE on phones.
        key = phone_lookup_key(text, self.rules) if any(c.isdigit() for c in text) else None
        if key is not None:
            conditions.append(
                Contact.id.in_(
                    select(ContactPhone.contact_id).where(ContactPhone.normalized == key)
                )
            )
        return or_(*conditions)


def _clean_name(name: str) -> str:
    clean = name.strip()
    if not clean or len(clean) > 200:
        raise InvalidInput("invalid name", fields={"name": "1 to 200 characters"})
    return clean


def _optional(value: str | None) -> str | None:
    if value is None:
        return None
    clean = value.strip()
    if len(clean) > 200:
        raise InvalidInput("too long", fields={"company": "at most 200 characters"})
    return clean or None


def _clean_email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    email = value.strip()
    local, at, domain = email.rpartition("@")
    if not at or not local or "." not in domain or len(email) > 254 or " " in email:
        raise InvalidInput("invalid email", fields={"email": "not an email address"})
    return email
