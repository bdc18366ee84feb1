"""Exports of the contacts, deals and call-log lists: their filters and RBAC, every row, streamed.

Each export is one Core select over the same conditions as its JSON list (the services'
``conditions``), read through a server-side cursor (``AsyncSession.stream`` with ``yield_per``)
in partitions, so 100,000 rows never sit in memory at once. Columns are named as the JSON fields
are (``phones`` is the contact's numbers in E.164, comma-separated): an exported contacts file
imports back with the same header.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, String, Table, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, aliased

from crmlite.db.models import Activity, Contact, ContactPhone, Deal, Pipeline, Stage, User
from crmlite.domain.phones import PhoneRules
from crmlite.domain.principal import Principal
from crmlite.services.activities import ActivityKind, ActivityService
from crmlite.services.contacts import ContactService
from crmlite.services.deals import SORT_COLUMNS, DealFilter, DealService

PARTITION = 2_000
PHONES = cast(Table, ContactPhone.__table__)
TimeColumn = InstrumentedAttribute[dt.datetime] | InstrumentedAttribute[dt.datetime | None]


def utc_text(
    session: AsyncSession, column: TimeColumn, text: bool
) -> ColumnElement[Any] | TimeColumn:
    """A timestamp column, or (``text``) its ISO 8601 UTC text made by the database.

    Parsing every timestamp into a datetime and printing it again is a third of a CSV export's
    time; a spreadsheet (XLSX) wants real dates, so it gets the datetimes.
    """
    if not text:
        return column
    if session.get_bind().dialect.name == "postgresql":
        utc = column.op("AT TIME ZONE")(literal("UTC"))
        return func.to_char(utc, literal('YYYY-MM-DD"T"HH24:MI:SS"Z"'))
    # SQLite holds UTC as text, "YYYY-MM-DD HH:MM:SS[.ffffff]" (crmlite.db.models.UtcDateTime):
    # cutting it costs half of what strftime's parse and print do, per row, per column.
    return (
        func.substr(column, 1, 10, type_=String)
        + literal("T")
        + func.substr(column, 12, 8, type_=String)
        + literal("Z")
    )


@dataclass(frozen=True, slots=True)
class Export:
    """What an export writes: a file name stem, the header, and the query giving the rows."""

    name: str
    columns: tuple[str, ...]
    query: Select[*tuple[Any, ...]]


def contacts_export(
    session: AsyncSession,
    principal: Principal,
    rules: PhoneRules,
    *,
    text: str | None = None,
    phone: str | None = None,
    owner_id: int | None = None,
    text_times: bool = False,
) -> Export:
    """Contacts the principal sees, as ``GET /contacts`` filters them, by name."""
    service = ContactService(session, principal, rules)
    owner = aliased(User)
    phones = (
        select(func.aggregate_strings(PHONES.c.normalized, ", "))
        .where(PHONES.c.contact_id == Contact.id)
        .scalar_subquery()
    )
    query = (
        select(
            Contact.id,
            Contact.name,
            Contact.company,
            Contact.email,
            phones,
            owner.login,
            utc_text(session, Contact.created_at, text_times),
            utc_text(session, Contact.updated_at, text_times),
        )
        .outerjoin(owner, owner.id == Contact.owner_id)
        .where(*service.conditions(text=text, phone=phone, owner_id=owner_id))
        .order_by(Contact.name, Contact.id)
    )
    columns = ("id", "name", "company", "email", "phones", "owner", "created_at", "updated_at")
    return Export("contacts", columns, query)


def deals_export(
    session: AsyncSession, principal: Principal, criteria: DealFilter, *, text_times: bool = False
) -> Export:
    """Deals the principal sees, as ``GET /deals`` filters and sorts them."""
    service = DealService(session, principal)
    owner = aliased(User)
    descending = criteria.sort.startswith("-")
    order = SORT_COLUMNS.get(criteria.sort.lstrip("-"), Deal.created_at)
    query: Select[*tuple[Any, ...]] = (
        select(
            Deal.id,
            Deal.title,
            Deal.amount,
            Deal.currency,
            Pipeline.name,
            Stage.name,
            Stage.kind,
            owner.login,
            Deal.contact_id,
            Contact.name,
            Deal.source,
            Deal.lost_reason,
            Deal.expected_close_date,
            utc_text(session, Deal.created_at, text_times),
            utc_text(session, Deal.closed_at, text_times),
        )
        .select_from(Deal)
        .join(Stage, Stage.id == Deal.stage_id)
        .join(Pipeline, Pipeline.id == Deal.pipeline_id)
        .outerjoin(owner, owner.id == Deal.owner_id)
        .outerjoin(Contact, Contact.id == Deal.contact_id)
        .where(*service.conditions(criteria))
        .order_by(order.desc() if descending else order, Deal.id.desc() if descending else Deal.id)
    )
    columns = (
        "id", "title", "amount", "currency", "pipeline", "stage", "status", "owner",
        "contact_id", "contact", "source", "lost_reason", "expected_close_date", "created_at",
        "closed_at",
    )  # fmt: skip
    return Export("deals", columns, query)


def calls_export(
    session: AsyncSession,
    principal: Principal,
    *,
    contact_id: int | None = None,
    deal_id: int | None = None,
    kind: ActivityKind | None = ActivityKind.CALL,
    pbx: str | None = None,
    text_times: bool = False,
) -> Export:
    """The call log (or any activities) the principal sees, newest first."""
    service = ActivityService(session, principal)
    agent = aliased(User)
    query: Select[*tuple[Any, ...]] = (
        select(
            Activity.id,
            Activity.kind,
            utc_text(session, Activity.started_at, text_times),
            Activity.direction,
            Activity.from_number,
            Activity.to_number,
            Activity.outcome,
            Activity.duration_s,
            agent.login,
            Activity.contact_id,
            Contact.name,
            Activity.deal_id,
            Activity.linkedid,
            Activity.body,
            utc_text(session, Activity.created_at, text_times),
        )
        .select_from(Activity)
        .outerjoin(agent, agent.id == Activity.agent_id)
        .outerjoin(Contact, Contact.id == Activity.contact_id)
        .where(*service.conditions(contact_id=contact_id, deal_id=deal_id, kind=kind, pbx=pbx))
        .order_by(Activity.created_at.desc(), Activity.id.desc())
    )
    columns = (
        "id", "kind", "started_at", "direction", "from_number", "to_number", "outcome",
        "duration_s", "agent", "contact_id", "contact", "deal_id", "linkedid", "body",
        "created_at",
    )  # fmt: skip
    return Export("calls" if kind is ActivityKind.CALL else "activities", columns, query)


async def stream_rows(
    session: AsyncSession, export: Export, *, partition: int = PARTITION
) -> AsyncIterator[Sequence[tuple[Any, ...]]]:
    """The export's rows in partitions, off a server-side cursor (Core: no ORM row loading)."""
    connection = await session.connection()
    result = await connection.stream(export.query.execution_options(yield_per=partition))
    async for rows in result.partitions(partition):
        yield rows
