"""Duplicate candidates of a contact or of a person about to be saved (查重), with roles applied.

The scoring is crmlite.domain.duplicates'. Candidates are looked for among every contact, so a
seller learns that a customer is already someone else's; a seller is shown only the candidates
they may see (their own) and a count of the others (``hidden``) to take to a head, who sees all.

An email in common is found through the ``contact_emails`` index and a number through the unique
phone; names alike through the process-wide name index (``crmlite.services.contact_names``),
whose proposals are read afresh and scored, so a call reads a few rows, not the base. An import
keeps its own DuplicateIndex instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Contact, ContactEmail, ContactPhone
from crmlite.domain.access import sees_owned
from crmlite.domain.duplicates import DuplicateIndex, DuplicateMatch, PersonKey
from crmlite.domain.errors import NotFound
from crmlite.domain.principal import Principal
from crmlite.services.contact_names import ContactNameIndex, name_index_of
from crmlite.services.emails import normalize_email

DEFAULT_LIMIT = 5
MAX_LIMIT = 20
_CHUNK = 2000


@dataclass(frozen=True, slots=True)
class DuplicateCandidate:
    """One stored contact that may be the same person, as a list or a hint shows it."""

    contact_id: int
    name: str
    company: str | None
    owner_id: int | None
    match: DuplicateMatch


@dataclass(frozen=True, slots=True)
class DuplicateCandidates:
    items: list[DuplicateCandidate]
    hidden: int  # matches the principal may not see (other sellers' contacts)


async def person_key_of(session: AsyncSession, contact_id: int) -> PersonKey | None:
    """What the duplicate check reads of a stored contact; None when there is no such contact."""
    row = (
        await session.execute(select(Contact.name, Contact.company).where(Contact.id == contact_id))
    ).first()
    if row is None:
        return None
    emails = await session.scalars(
        select(ContactEmail.normalized).where(ContactEmail.contact_id == contact_id)
    )
    phones = await session.scalars(
        select(ContactPhone.normalized).where(ContactPhone.contact_id == contact_id)
    )
    return PersonKey(row.name, row.company, tuple(emails), tuple(phones))


class DuplicateService:
    """Candidates for one principal inside one unit of work."""

    def __init__(
        self, session: AsyncSession, principal: Principal, names: ContactNameIndex | None = None
    ) -> None:
        self.session = session
        self.principal = principal
        self.names = names if names is not None else name_index_of(session)

    async def for_contact(
        self, contact_id: int, *, limit: int = DEFAULT_LIMIT
    ) -> DuplicateCandidates:
        """Candidates of a stored contact the principal may see (someone else's reads NotFound)."""
        owner = await self.session.scalar(select(Contact.owner_id).where(Contact.id == contact_id))
        person = await person_key_of(self.session, contact_id)
        if person is None or not sees_owned(self.principal, owner):
            raise NotFound(f"no contact {contact_id}", details={"contact_id": contact_id})
        return await self.for_person(person, limit=limit, exclude=(contact_id,))

    async def for_person(
        self, person: PersonKey, *, limit: int = DEFAULT_LIMIT, exclude: Sequence[int] = ()
    ) -> DuplicateCandidates:
        """Candidates of a person as typed (a form, an import row), best first."""
        limit = max(1, min(limit, MAX_LIMIT))
        index = DuplicateIndex(max_named=_CHUNK)
        owners: dict[int, tuple[str, str | None, int | None]] = {}
        await self._index_exact(person, index, owners)
        found: dict[int, DuplicateMatch] = {}
        named = [
            contact_id
            for contact_id in await self.names.named_like(self.session, person, exclude=exclude)
            if contact_id not in owners
        ]
        # The name index proposes; the contacts as stored now decide.
        for start in range(0, len(named), _CHUNK):
            rows = await self.session.execute(
                select(Contact.id, Contact.name, Contact.company, Contact.owner_id).where(
                    Contact.id.in_(named[start : start + _CHUNK])
                )
            )
            chunk = DuplicateIndex(max_named=_CHUNK)
            for row in rows:
                owners[row.id] = (row.name, row.company, row.owner_id)
                chunk.add(row.id, PersonKey(row.name, row.company))
            found.update(chunk.candidates(person, limit=_CHUNK, exclude=exclude))
        found.update(index.candidates(person, limit=_CHUNK, exclude=exclude))
        ranked = sorted(found.items(), key=lambda item: (-item[1].score, item[0]))
        items: list[DuplicateCandidate] = []
        hidden = 0
        for contact_id, match in ranked:
            name, company, owner_id = owners[contact_id]
            if not sees_owned(self.principal, owner_id):
                hidden += 1
            elif len(items) < limit:
                items.append(DuplicateCandidate(contact_id, name, company, owner_id, match))
        return DuplicateCandidates(items=items, hidden=hidden)

    async def _index_exact(
        self,
        person: PersonKey,
        index: DuplicateIndex,
        owners: dict[int, tuple[str, str | None, int | None]],
    ) -> None:
        """Index, whole, the contacts sharing a phone or an email with ``person``."""
        emails = {normalize_email(email) for email in person.emails if email.strip()}
        ids: set[int] = set()
        if emails:
            ids.update(
                await self.session.scalars(
                    select(ContactEmail.contact_id).where(ContactEmail.normalized.in_(emails))
                )
            )
        if person.phones:
            ids.update(
                await self.session.scalars(
                    select(ContactPhone.contact_id).where(
                        ContactPhone.normalized.in_(person.phones)
                    )
                )
            )
        for contact_id in sorted(ids):
            key = await person_key_of(self.session, contact_id)
            owner = await self.session.scalar(
                select(Contact.owner_id).where(Contact.id == contact_id)
            )
            if key is not None:
                owners[contact_id] = (key.name, key.company, owner)
                index.add(contact_id, key)
