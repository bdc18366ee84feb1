"""Helpers for the import tests: run an import of a fixture file and read what it left."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from crmlite.db.models import Contact, ContactEmail
from crmlite.domain.import_fields import ImportKind
from crmlite.domain.phones import PhoneRules
from crmlite.domain.principal import SYSTEM, Principal
from crmlite.services.import_contacts import ContactImporter
from crmlite.services.import_deals import DealImporter
from crmlite.services.import_report import RowReport
from crmlite.services.imports import ImportOptions, ImportProgress, OnBatch, run_import

FIXTURES = Path(__file__).parents[1] / "fixtures" / "import"


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


class Collected:
    """The row reports of a run, in order."""

    def __init__(self) -> None:
        self.rows: list[RowReport] = []

    async def __call__(self, progress: ImportProgress, reports: Sequence[RowReport]) -> None:
        self.rows.extend(reports)

    def by_row(self) -> dict[int, tuple[str, str]]:
        return {r.row: (r.status.value, r.column) for r in self.rows}


async def import_file(
    sessions: async_sessionmaker[AsyncSession],
    data: bytes,
    *,
    kind: ImportKind = ImportKind.CONTACTS,
    principal: Principal = SYSTEM,
    merge: bool = False,
    dry_run: bool = False,
    batch_size: int = 500,
    owner_id: int | None = None,
    on_batch: OnBatch | None = None,
    read_in_worker: bool | None = None,
) -> tuple[ImportProgress, Collected]:
    collected = Collected()

    async def both(progress: ImportProgress, reports: Sequence[RowReport]) -> None:
        await collected(progress, reports)
        if on_batch is not None:
            await on_batch(progress, reports)

    applier = (
        ContactImporter(principal, owner_id=owner_id, merge=merge)
        if kind is ImportKind.CONTACTS
        else DealImporter(principal, owner_id=owner_id)
    )
    options = ImportOptions(
        kind=kind,
        file_name="fixture.csv",
        dry_run=dry_run,
        merge=merge,
        owner_id=owner_id,
        batch_size=batch_size,
        read_in_worker=read_in_worker,
    )
    progress = await run_import(
        sessions, principal, data, options, applier, PhoneRules(), on_batch=both
    )
    return progress, collected


async def contacts_by_name(session: AsyncSession) -> dict[str, Contact]:
    rows = await session.scalars(select(Contact).options(selectinload(Contact.phones)))
    return {c.name: c for c in rows}


async def phones_of(contact: Contact) -> list[str]:
    return sorted(p.normalized for p in contact.phones)


async def count_contacts(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count(Contact.id))) or 0)


async def emails_of(session: AsyncSession, contact_id: int) -> list[str]:
    rows = await session.scalars(
        select(ContactEmail.normalized).where(ContactEmail.contact_id == contact_id)
    )
    return sorted(rows)
