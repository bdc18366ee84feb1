"""Phones of contacts: the duplicate check and the indexed lookup by any typed form."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Select, Table, bindparam, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import Contact, ContactPhone
from crmlite.domain.errors import InvalidInput
from crmlite.domain.phones import DuplicatePhone, NormalizedPhone, PhoneRules, normalize_phone

# Lookups run while a phone rings: plain Core over the tables, no ORM entity loading.
CONTACTS = cast(Table, Contact.__table__)
PHONES = cast(Table, ContactPhone.__table__)


@dataclass(frozen=True, slots=True)
class PhoneInput:
    raw: str
    label: str | None = None


@dataclass(frozen=True, slots=True)
class PhoneMatch:
    """The contact a number belongs to, as the call side needs it (no RBAC: system lookups)."""

    contact_id: int
    contact_name: str
    company: str | None
    owner_id: int | None
    normalized: str


def normalize_all(phones: Sequence[PhoneInput], rules: PhoneRules) -> list[NormalizedPhone]:
    """Normalize every phone; the same number twice in one request is invalid."""
    result: list[NormalizedPhone] = []
    seen: set[str] = set()
    for index, phone in enumerate(phones):
        number = normalize_phone(phone.raw, rules, field=f"phones.{index}.raw")
        if number.normalized in seen:
            raise InvalidInput(
                "the same number is given twice",
                fields={f"phones.{index}.raw": "duplicate of another phone in this request"},
            )
        seen.add(number.normalized)
        result.append(number)
    return result


# One probe of the unique index on contact_phones, joined to its contact; built once (every call
# runs it, and building a statement costs more than the probe).
_PHONE_OWNER = (
    select(CONTACTS.c.id, CONTACTS.c.name, CONTACTS.c.company, CONTACTS.c.owner_id)
    .select_from(PHONES.join(CONTACTS, CONTACTS.c.id == PHONES.c.contact_id))
    .where(PHONES.c.normalized == bindparam("normalized"))
)
_INSERT_PHONE = insert(ContactPhone)


def phone_owner_query(normalized: str) -> Select[Any]:
    """The lookup of ``normalized`` as one statement (to read its plan)."""
    return _PHONE_OWNER.params(normalized=normalized)


def _match(row: Sequence[Any] | None, normalized: str) -> PhoneMatch | None:
    return None if row is None else PhoneMatch(row[0], row[1], row[2], row[3], normalized)


async def find_phone_owner(session: AsyncSession, normalized: str) -> PhoneMatch | None:
    """Find who holds ``normalized`` inside the caller's unit of work."""
    found = (await session.execute(_PHONE_OWNER, {"normalized": normalized})).first()
    return _match(found, normalized)


async def ensure_phones_free(
    session: AsyncSession, numbers: Sequence[NormalizedPhone], *, except_contact: int | None = None
) -> None:
    """Raise Conflict naming the contact that already holds one of ``numbers``."""
    for index, number in enumerate(numbers):
        match = await find_phone_owner(session, number.normalized)
        if match is not None and match.contact_id != except_contact:
            raise duplicate_phone(number, match, index)


def duplicate_phone(number: NormalizedPhone, match: PhoneMatch, index: int = 0) -> DuplicatePhone:
    return DuplicatePhone(
        f"{number.normalized} already belongs to contact {match.contact_name!r}",
        details={
            "phone": number.normalized,
            "field": f"phones.{index}.raw",
            "contact_id": match.contact_id,
            "contact_name": match.contact_name,
            "owner_id": match.owner_id,
        },
    )


async def insert_phones(
    session: AsyncSession,
    contact_id: int,
    numbers: Sequence[NormalizedPhone],
    labels: Sequence[str | None],
) -> None:
    """Add phones to a contact; a race lost on the unique index still reads as a Conflict."""
    if not numbers:
        return
    rows = [
        {
            "contact_id": contact_id,
            "raw": number.raw,
            "normalized": number.normalized,
            "kind": number.kind.value,
            "label": label,
        }
        for number, label in zip(numbers, labels, strict=True)
    ]
    try:
        # Values, not objects: a Core insert on the session's connection (the contact's phones
        # are read back with it when the caller wants them).
        connection = await session.connection()
        await connection.execute(_INSERT_PHONE, rows)
    except IntegrityError as err:
        # Lost a race with another request after ensure_phones_free: the transaction is spoiled,
        # so the holder cannot be looked up here; the client retries and gets the full answer.
        raise DuplicatePhone(
            "one of the numbers was just given to another contact",
            details={"phones": [number.normalized for number in numbers]},
        ) from err
