"""Contacts on the real databases: one number, one contact; lookups in any typed form; RBAC."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.domain.errors import Conflict, NotFound
from crmlite.domain.phones import PhoneRules, normalize_phone
from crmlite.services.contacts import ContactChanges, ContactService
from crmlite.services.phones import PhoneInput, find_phone_owner
from tests.integration.crm_support import add_users

RU = PhoneRules(default_region="RU")
SAME_NUMBER = ["+7 495 123-45-67", "8 (495) 123 45 67", "84951234567"]


async def test_the_three_russian_forms_are_one_number(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, boris, _, _ = await add_users(sessions)
    async with sessions.begin() as session:
        first = await ContactService(session, anna, RU).create(
            "Ivan Petrov", phones=[PhoneInput(SAME_NUMBER[0])]
        )
    assert [p.normalized for p in first.phones] == ["+74951234567"]
    for form in SAME_NUMBER[1:]:
        async with sessions.begin() as session:
            with pytest.raises(Conflict) as caught:
                await ContactService(session, boris, RU).create(
                    "Иван Петров", phones=[PhoneInput(form)]
                )
        assert caught.value.details["contact_id"] == first.id
        assert caught.value.details["contact_name"] == "Ivan Petrov"
        assert caught.value.details["phone"] == "+74951234567"
    async with sessions() as session:
        for form in SAME_NUMBER:
            match = await find_phone_owner(session, normalize_phone(form, RU).normalized)
            assert match is not None
            assert match.contact_id == first.id


async def test_extensions_are_kept_apart(sessions: async_sessionmaker[AsyncSession]) -> None:
    anna, *_ = await add_users(sessions)
    async with sessions.begin() as session:
        contact = await ContactService(session, anna, RU).create(
            "Reception", phones=[PhoneInput("101"), PhoneInput("+7 999 123 45 67", "mobile")]
        )
    assert [(p.normalized, p.kind, p.label) for p in contact.phones] == [
        ("101", "extension", None),
        ("+79991234567", "e164", "mobile"),
    ]


async def test_sellers_see_only_their_own_contacts(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, boris, head, _ = await add_users(sessions)
    async with sessions.begin() as session:
        mine = await ContactService(session, anna, RU).create(
            "Olga", company="Acme", phones=[PhoneInput("+7 495 000 11 22")]
        )
        await ContactService(session, boris, RU).create("Oleg", company="Acme")
    async with sessions() as session:
        with pytest.raises(NotFound):
            await ContactService(session, boris, RU).get(mine.id)
        assert await ContactService(session, boris, RU).find_by_phone("84950001122") is None
        found = await ContactService(session, anna, RU).find_by_phone("8 495 000-11-22")
        assert found is not None
        assert found.id == mine.id
        by_text = await ContactService(session, boris, RU).search(text="acme")
        assert [c.name for c in by_text.items] == ["Oleg"]
        everyone = await ContactService(session, head, RU).search(text="ACME")
        assert [c.name for c in everyone.items] == ["Oleg", "Olga"]
        by_phone_text = await ContactService(session, head, RU).search(text="+74950001122")
        assert [c.id for c in by_phone_text.items] == [mine.id]
    async with sessions.begin() as session:
        with pytest.raises(NotFound):
            await ContactService(session, boris, RU).update(mine.id, ContactChanges(name="x"))


async def test_cyrillic_search_ignores_case(sessions: async_sessionmaker[AsyncSession]) -> None:
    anna, *_ = await add_users(sessions)
    async with sessions.begin() as session:
        await ContactService(session, anna, RU).create("Иван Петров")
    async with sessions() as session:
        page = await ContactService(session, anna, RU).search(text="иван")
    assert [c.name for c in page.items] == ["Иван Петров"]
