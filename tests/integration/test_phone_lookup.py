"""Find-by-phone: any typed form finds the contact, through the unique index, never a scan."""

from __future__ import annotations

from sqlalchemy import Connection, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crmlite.domain.phones import PhoneRules, normalize_phone
from crmlite.domain.principal import SYSTEM
from crmlite.services.contacts import ContactService
from crmlite.services.phones import PhoneInput, find_phone_owner, phone_owner_query

RULES = PhoneRules("RU")


async def test_every_typed_form_finds_the_contact_in_one_statement(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions.begin() as db:
        contact = await ContactService(db, SYSTEM, RULES).create(
            "Ирина Петрова", company="ООО Ромашка", phones=[PhoneInput("+7 495 123-45-67")]
        )
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        async with sessions() as db:
            for typed in ("+7 495 123-45-67", "8 (495) 123 45 67", "84951234567"):
                key = normalize_phone(typed, RULES).normalized
                match = await find_phone_owner(db, key)
                assert match is not None
                assert (match.contact_id, match.contact_name) == (contact.id, "Ирина Петрова")
                assert match.normalized == "+74951234567"
            assert await find_phone_owner(db, "+74950000000") is None
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    lookups = [s for s in statements if "contact_phones" in s]
    assert len(lookups) == 4, "one statement per lookup"


async def test_the_lookup_probes_the_unique_index(engine: AsyncEngine) -> None:
    def plan(connection: Connection) -> str:
        dialect = connection.dialect
        sql = str(
            phone_owner_query("+74951234567").compile(
                dialect=dialect, compile_kwargs={"literal_binds": True}
            )
        )
        if dialect.name == "sqlite":
            rows = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}").all()
            return "\n".join(str(row[-1]) for row in rows)
        # An empty table makes a scan the cheapest plan; forbid it to see the index is usable.
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        return "\n".join(row[0] for row in connection.exec_driver_sql(f"EXPLAIN {sql}").all())

    async with engine.begin() as connection:
        found = await connection.run_sync(plan)
    if engine.dialect.name == "sqlite":
        assert "SEARCH contact_phones USING INDEX" in found, found
        assert "(normalized=?)" in found, found
    else:
        assert "Index Scan using uq_contact_phones_normalized" in found, found
    assert "SCAN contact_phones" not in found, found
    assert "Seq Scan on contact_phones" not in found, found
