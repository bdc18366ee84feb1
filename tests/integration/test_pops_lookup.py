"""A card is read with a fixed number of statements, whatever the caller's history (no N+1)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crmlite.db.engine import create_engine
from crmlite.db.models import Activity, Contact, ContactPhone, Deal, Stage, User
from crmlite.db.one_hop import OneHop
from cti.pops.lookup import SqlCallerLookup, format_number

NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=dt.UTC)


async def _seed(sessions: async_sessionmaker[AsyncSession], number: str, activities: int) -> int:
    async with sessions.begin() as db:
        owner = User(login=f"o{number[-4:]}", display_name="Olga", role="seller", created_at=NOW)
        db.add(owner)
        await db.flush()
        contact = Contact(name="Ivan Petrov", company="Romashka", owner_id=owner.id)
        contact.created_at = contact.updated_at = NOW
        db.add(contact)
        await db.flush()
        db.add(ContactPhone(contact_id=contact.id, raw=number, normalized=number, kind="e164"))
        stages = (await db.scalars(select(Stage).where(Stage.kind == "open"))).all()
        for n, stage in enumerate(stages[:3]):
            db.add(
                Deal(
                    title=f"Deal {n}",
                    contact_id=contact.id,
                    owner_id=owner.id,
                    pipeline_id=stage.pipeline_id,
                    stage_id=stage.id,
                    source="call",
                    created_at=NOW,
                    updated_at=NOW + dt.timedelta(minutes=n),
                    stage_entered_at=NOW,
                )
            )
        for n in range(activities):
            db.add(
                Activity(
                    kind="call" if n % 2 else "note",
                    contact_id=contact.id,
                    author_id=owner.id,
                    body=f"activity {n}",
                    created_at=NOW + dt.timedelta(minutes=n),
                )
            )
        return contact.id


class StatementCounter:
    def __init__(self, engine: Engine) -> None:
        self.count = 0
        event.listen(engine, "before_cursor_execute", self._count)

    def _count(self, *_args: Any) -> None:
        self.count += 1


@pytest.mark.db
async def test_the_card_costs_the_same_statements_for_1_and_50_activities(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await _seed(sessions, "+79160000001", activities=1)
    await _seed(sessions, "+79160000050", activities=50)
    reads = OneHop(engine)
    lookup = SqlCallerLookup(reads)
    counter = StatementCounter(lookup.statement_engine)
    few = await lookup.by_number("+79160000001")
    statements_for_one = counter.count
    counter.count = 0
    many = await lookup.by_number("+79160000050")
    statements_for_fifty = counter.count
    assert statements_for_one == statements_for_fifty == 3
    assert len(few.activities) == 1
    assert len(many.activities) == 5
    assert [a["body"] for a in many.activities] == [f"activity {n}" for n in range(49, 44, -1)]
    assert many.activities[0]["author"] == {"id": many.owner["id"], "name": "Olga"}  # type: ignore[index]
    assert len(many.deals) == 3
    assert many.deals[0]["stage"]["name"]
    assert many.contact == {
        "id": many.contact["id"],  # type: ignore[index]
        "name": "Ivan Petrov",
        "company": "Romashka",
        "email": None,
    }
    counter.count = 0
    unknown = await lookup.by_number("+79169999999")
    assert unknown.contact is None
    assert counter.count == 1
    reads.close()


async def test_postgresql_reads_run_without_a_transaction_and_survive_a_lost_connection(
    postgres_url: str,
) -> None:
    engine = create_engine(postgres_url)
    reads = create_engine(
        postgres_url, pool_size=1, max_overflow=0, pre_ping=False, autocommit=True
    )
    units = OneHop(engine, reads=reads)

    def alone(connection: Connection) -> tuple[bool, int]:
        backend = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
        # asyncpg's view of the server's state after the statement: idle, or in a transaction.
        return connection.connection.driver_connection.is_in_transaction(), int(backend)

    try:
        in_transaction, backend = await units.read(alone)
        assert not in_transaction
        async with engine.connect() as admin:  # the server drops the read's pooled connection
            await admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        in_transaction, again = await units.read(alone)
        assert not in_transaction
        assert again != backend
        # The API's engine, for comparison, wraps its statements in a transaction.
        async with engine.connect() as connection:
            assert (await connection.run_sync(alone))[0]
    finally:
        units.close()
        await reads.dispose()
        await engine.dispose()


def test_numbers_are_formatted_national_at_home_and_international_abroad() -> None:
    assert format_number("89161234567", "RU", r"^\d{2,5}$").display == "8 (916) 123-45-67"
    assert format_number("+8613800138000", "RU", r"^\d{2,5}$").display == "+86 138 0013 8000"
    assert format_number("+8613800138000", "CN", r"^\d{2,5}$").display == "138 0013 8000"
    assert format_number("+982112345678", "IR", r"^\d{2,5}$").display == "021 1234 5678"
    assert format_number("0098 21 1234 5678", "RU", r"^\d{2,5}$").e164 == "+982112345678"
    extension = format_number("101", "RU", r"^\d{2,5}$")
    assert (extension.display, extension.key) == ("101", None)
    assert format_number(None, "RU", r"^\d{2,5}$").display == "unknown"
