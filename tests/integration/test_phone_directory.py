"""The call side's phone lookup: any typed form finds the contact, in one hop off the loop."""

from __future__ import annotations

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crmlite.db.one_hop import OneHop
from crmlite.domain.phones import PhoneRules
from crmlite.domain.principal import SYSTEM
from crmlite.services.contacts import ContactService
from crmlite.services.phones import PhoneDirectory, PhoneInput

RULES = PhoneRules("RU")


async def test_every_typed_form_finds_the_contact(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    async with sessions.begin() as db:
        contact = await ContactService(db, SYSTEM, RULES).create(
            "Ирина Петрова", company="ООО Ромашка", phones=[PhoneInput("+7 495 123-45-67")]
        )
    reads = OneHop(engine)
    directory = PhoneDirectory(reads, RULES)
    statements: list[str] = []
    event.listen(
        reads.statement_engine, "before_cursor_execute", lambda *a: statements.append(a[2])
    )
    try:
        for typed in ("+7 495 123-45-67", "8 (495) 123 45 67", "84951234567"):
            match = await directory.lookup(typed)
            assert match is not None
            assert (match.contact_id, match.contact_name) == (contact.id, "Ирина Петрова")
            assert match.normalized == "+74951234567"
        assert await directory.lookup("+7 495 000-00-00") is None
        assert await directory.lookup("not a number") is None
    finally:
        reads.close()
    assert len(statements) == 4, "one statement per lookup of a number, none for garbage"
    assert all("contact_phones.normalized" in sql for sql in statements)
