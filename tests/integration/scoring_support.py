"""Leads for the scoring tests: contacts, deals and calls written straight into the tables."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Activity, Campaign, Contact, ContactPhone, Deal, LeadScore, Stage

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
_numbers = itertools.count(1_000_000)


def hours_ago(hours: float, now: dt.datetime = NOW) -> dt.datetime:
    return now - dt.timedelta(hours=hours)


async def stage_ids(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """An open (not Unsorted), a won and a lost stage of the default pipeline."""
    async with sessions() as db:
        rows = (await db.execute(select(Stage.id, Stage.kind, Stage.is_unsorted))).all()
    return {
        "open": next(r.id for r in rows if r.kind == "open" and not r.is_unsorted),
        "won": next(r.id for r in rows if r.kind == "won"),
        "lost": next(r.id for r in rows if r.kind == "lost"),
    }


async def campaign(db: AsyncSession, name: str) -> int:
    row = Campaign(name=name, channel=None, active=True, created_at=NOW)
    db.add(row)
    await db.flush()
    return row.id


async def lead(
    db: AsyncSession,
    stage_id: int,
    *,
    phone: str | None = None,
    source: str = "manual",
    amount: str = "100",
    campaign_id: int | None = None,
    created_at: dt.datetime | None = None,
    closed_at: dt.datetime | None = None,
) -> tuple[int, int]:
    """A contact with one phone and one deal; answers (contact id, deal id)."""
    created = created_at or hours_ago(24 * 60)
    contact = Contact(
        name="Lead", company=None, email=None, owner_id=None, created_at=created, updated_at=created
    )
    db.add(contact)
    await db.flush()
    number = phone or f"+7812{next(_numbers):07d}"
    db.add(ContactPhone(contact_id=contact.id, raw=number, normalized=number, kind="e164"))
    deal = Deal(
        title="Deal",
        amount=Decimal(amount),
        currency="RUB",
        contact_id=contact.id,
        owner_id=None,
        pipeline_id=await db.scalar(select(Stage.pipeline_id).where(Stage.id == stage_id)),
        stage_id=stage_id,
        source=source,
        created_at=created,
        updated_at=closed_at or created,
        stage_entered_at=closed_at or created,
        closed_at=closed_at,
        first_campaign_id=campaign_id,
    )
    db.add(deal)
    await db.flush()
    return contact.id, deal.id


async def call(
    db: AsyncSession,
    contact_id: int,
    direction: str,
    started_at: dt.datetime,
    *,
    talk_min: float | None = None,
    deal_id: int | None = None,
) -> None:
    """A call of the contact: answered with ``talk_min`` minutes of talk, else not answered."""
    answered = None if talk_min is None else started_at + dt.timedelta(seconds=5)
    ended = (
        (answered + dt.timedelta(minutes=talk_min))
        if answered and talk_min is not None
        else (started_at + dt.timedelta(seconds=25))
    )
    db.add(
        Activity(
            kind="call",
            contact_id=contact_id,
            deal_id=deal_id,
            created_at=started_at,
            direction=direction,
            started_at=started_at,
            answered_at=answered,
            ended_at=ended,
            outcome="answered" if answered else "missed",
        )
    )
    await db.flush()


async def stored(
    sessions: async_sessionmaker[AsyncSession], subject: str, subject_id: int
) -> LeadScore | None:
    async with sessions() as db:
        return await db.get(LeadScore, (subject, subject_id))
