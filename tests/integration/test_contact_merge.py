"""Merging contacts on the real databases: nothing is lost, nothing half-done, roles respected."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import (
    Activity,
    CallEffect,
    Contact,
    ContactEmail,
    ContactMerge,
    ContactPhone,
    Deal,
)
from crmlite.domain.errors import InvalidInput, NotFound
from crmlite.domain.phones import PhoneRules
from crmlite.domain.principal import SYSTEM, Principal
from crmlite.services.activities import ActivityService, CallDirection, CallLog, Parent
from crmlite.services.contacts import ContactService
from crmlite.services.deals import DealService
from crmlite.services.duplicates import DuplicateService
from crmlite.services.merge import ContactMerged, ContactMerger, survivor_of
from crmlite.services.phones import PhoneInput
from crmlite.services.tasks import TaskService
from cti.pops.hints import DuplicateHints
from cti.pops.wrapup import WrapupRequest, save_wrapup
from tests.integration.crm_support import START, add_users

RU = PhoneRules(default_region="RU")


@dataclass
class Holdings:
    """What one contact holds, as ids: every one must be on the survivor after a merge."""

    contact_id: int
    phones: set[str]
    emails: set[str]
    deals: set[int]
    activities: set[int]
    effects: set[int]


async def _contact_with_history(
    sessions: async_sessionmaker[AsyncSession],
    owner: Principal,
    name: str,
    *,
    company: str,
    phone: str,
    email: str,
    linkedid: str,
) -> Holdings:
    async with sessions.begin() as session:
        contact = await ContactService(session, owner, RU).create(
            name, company=company, email=email, phones=[PhoneInput(phone)]
        )
        number = contact.phones[0].normalized
        deal = await DealService(session, owner).create(f"{name}'s order", contact_id=contact.id)
        activities = ActivityService(session, owner)
        note = await activities.add_note(Parent(contact_id=contact.id), f"spoke to {name}")
        call = await activities.log_call(
            Parent(contact_id=contact.id, deal_id=deal.id),
            CallLog(
                direction=CallDirection.INBOUND,
                from_number=number,
                to_number="101",
                started_at=START,
                ended_at=START + dt.timedelta(minutes=1),
                outcome="answered",
                linkedid=linkedid,
            ),
        )
        task = await TaskService(session, owner).create(
            f"call {name} back", parent=Parent(contact_id=contact.id)
        )
        effect = CallEffect(
            linkedid=linkedid,
            effect="contact",
            contact_id=contact.id,
            deal_id=deal.id,
            created=True,
            created_at=START,
        )
        session.add(effect)
        await session.flush()
        return Holdings(
            contact.id,
            {number},
            {email.lower()},
            {deal.id},
            {note.id, call.id, task.id},
            {effect.id},
        )


async def _holdings(session: AsyncSession, contact_id: int) -> Holdings:
    async def ids(query: object) -> set[int]:
        return set(await session.scalars(query))  # type: ignore[call-overload]

    return Holdings(
        contact_id,
        set(
            await session.scalars(
                select(ContactPhone.normalized).where(ContactPhone.contact_id == contact_id)
            )
        ),
        set(
            await session.scalars(
                select(ContactEmail.normalized).where(ContactEmail.contact_id == contact_id)
            )
        ),
        await ids(select(Deal.id).where(Deal.contact_id == contact_id)),
        await ids(select(Activity.id).where(Activity.contact_id == contact_id)),
        await ids(select(CallEffect.id).where(CallEffect.contact_id == contact_id)),
    )


async def _two_petrovs(
    sessions: async_sessionmaker[AsyncSession], owner: Principal, other: Principal | None = None
) -> tuple[Holdings, Holdings]:
    into = await _contact_with_history(
        sessions,
        owner,
        "Ivan Petrov",
        company="Romashka",
        phone="+7 495 123-45-67",
        email="ivan@romashka.ru",
        linkedid="1700000000.1",
    )
    merged = await _contact_with_history(
        sessions,
        other or owner,
        "Иван Петров",
        company="ООО «Ромашка»",
        phone="+7 999 765-43-21",
        email="Petrov@Mail.ru",
        linkedid="1700000000.2",
    )
    return into, merged


async def test_a_merge_moves_everything_to_the_survivor(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, _, _, _ = await add_users(sessions)
    into, merged = await _two_petrovs(sessions, anna)
    async with sessions.begin() as session:
        result = await ContactMerger(session, anna).merge(
            into.contact_id, merged.contact_id, {"name": "from", "company": "into"}
        )
    assert result.keep == {"name": "from", "company": "into", "email": "into"}
    async with sessions() as session:
        after = await _holdings(session, into.contact_id)
        assert after.phones == into.phones | merged.phones
        assert after.emails == into.emails | merged.emails
        assert after.deals == into.deals | merged.deals
        assert after.activities == into.activities | merged.activities
        assert after.effects == into.effects | merged.effects
        survivor = await session.get(Contact, into.contact_id)
        assert survivor is not None
        assert (survivor.name, survivor.company, survivor.email) == (
            "Иван Петров",
            "Romashka",
            "ivan@romashka.ru",
        )
        assert await session.get(Contact, merged.contact_id) is None
        record = await session.scalar(
            select(ContactMerge).where(ContactMerge.merged_id == merged.contact_id)
        )
        assert record is not None
        assert record.survivor_id == into.contact_id
        assert record.merged_by_id == anna.user_id
        assert record.keep == result.keep
        assert record.snapshot["name"] == "Иван Петров"
        assert record.snapshot["company"] == "ООО «Ромашка»"
        snapshot: dict[str, Any] = record.snapshot
        assert [phone["normalized"] for phone in snapshot["phones"]] == ["+79997654321"]
        assert snapshot["moved"]["deals"] == sorted(merged.deals)
        assert await survivor_of(session, merged.contact_id) == into.contact_id
        assert await survivor_of(session, into.contact_id) is None


async def test_chains_are_followed_to_the_last_survivor(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    _, _, head, _ = await add_users(sessions)
    async with sessions.begin() as session:
        service = ContactService(session, head, RU)
        first, second, third = [await service.create(f"Olga {n}") for n in range(3)]
    async with sessions.begin() as session:
        await ContactMerger(session, head).merge(second.id, first.id)
    async with sessions.begin() as session:
        await ContactMerger(session, head).merge(third.id, second.id)
    async with sessions() as session:
        assert await survivor_of(session, first.id) == third.id
        assert await survivor_of(session, second.id) == third.id
        with pytest.raises(ContactMerged) as caught:
            await ContactMerger(session, head).merge(third.id, first.id)
        assert caught.value.details["survivor_id"] == third.id


class _FailingMerger(ContactMerger):
    """Fails after phones, emails and records have moved: the savepoint must undo all of it."""

    def _take_campaigns(self, into: Contact, merged: Contact) -> None:
        raise RuntimeError("the disk is full")


@pytest.mark.parametrize("outer_transaction_survives", [False, True])
async def test_a_failure_halfway_leaves_both_contacts_as_they_were(
    sessions: async_sessionmaker[AsyncSession], *, outer_transaction_survives: bool
) -> None:
    anna, _, _, _ = await add_users(sessions)
    into, merged = await _two_petrovs(sessions, anna)
    async with sessions() as session:
        before = [await _holdings(session, h.contact_id) for h in (into, merged)]
    assert before == [into, merged]
    if outer_transaction_survives:
        async with sessions.begin() as session:
            with pytest.raises(RuntimeError, match="disk is full"):
                await _FailingMerger(session, anna).merge(into.contact_id, merged.contact_id)
            # The caller goes on in its transaction: only the merge's savepoint was undone.
            assert [await _holdings(session, h.contact_id) for h in (into, merged)] == before
    else:
        with pytest.raises(RuntimeError, match="disk is full"):
            async with sessions.begin() as session:
                await _FailingMerger(session, anna).merge(into.contact_id, merged.contact_id)
    async with sessions() as session:
        assert [await _holdings(session, h.contact_id) for h in (into, merged)] == before
        assert await session.get(Contact, merged.contact_id) is not None
        assert await session.scalar(select(func.count()).select_from(ContactMerge)) == 0


async def test_sellers_merge_only_their_own_contacts_heads_any(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, boris, head, _ = await add_users(sessions)
    into, merged = await _two_petrovs(sessions, anna, boris)
    for seller in (anna, boris):
        async with sessions.begin() as session:
            with pytest.raises(NotFound):
                await ContactMerger(session, seller).merge(into.contact_id, merged.contact_id)
    async with sessions.begin() as session:
        with pytest.raises(InvalidInput):
            await ContactMerger(session, head).merge(into.contact_id, into.contact_id)
    async with sessions.begin() as session:
        result = await ContactMerger(session, head).merge(
            into.contact_id, merged.contact_id, {"owner_id": "from"}
        )
    assert result.keep["owner_id"] == "from"
    async with sessions() as session:
        survivor = await session.get(Contact, into.contact_id)
        assert survivor is not None
        assert survivor.owner_id == boris.user_id
        assert (await _holdings(session, into.contact_id)).deals == into.deals | merged.deals


async def test_duplicates_of_a_contact_rank_and_respect_roles(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, boris, head, _ = await add_users(sessions)
    into, merged = await _two_petrovs(sessions, anna, boris)
    async with sessions.begin() as session:
        same_email = await ContactService(session, anna, RU).create(
            "Someone", email="IVAN@romashka.ru"
        )
        await ContactService(session, anna, RU).create("Olga Sidorova", company="Romashka")
    async with sessions() as session:
        seen_by_head = await DuplicateService(session, head).for_contact(into.contact_id)
        seen_by_anna = await DuplicateService(session, anna).for_contact(into.contact_id)
        with pytest.raises(NotFound):
            await DuplicateService(session, boris).for_contact(into.contact_id)
    assert [(c.contact_id, c.match.reasons) for c in seen_by_head.items] == [
        (same_email.id, ("email",)),
        (merged.contact_id, ("name", "company")),
    ]
    assert seen_by_head.hidden == 0
    assert [c.contact_id for c in seen_by_anna.items] == [same_email.id]
    assert seen_by_anna.hidden == 1


async def test_a_wrapup_on_a_card_of_the_merged_contact_lands_on_the_survivor(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, _, _, _ = await add_users(sessions)
    into, merged = await _two_petrovs(sessions, anna)
    # The card rang before the merge: it names the contact that is merged away meanwhile.
    card = {"linkedid": "1700000000.2", "status": "wrap-up", "contact": {"id": merged.contact_id}}
    async with sessions.begin() as session:
        await ContactMerger(session, anna).merge(into.contact_id, merged.contact_id)
    result = await save_wrapup(
        sessions,
        anna,
        card,
        WrapupRequest(linkedid="1700000000.2", note="wants two more", callback_due_at=START),
    )
    async with sessions() as session:
        note = await session.get(Activity, result.note_id)
        task = await session.get(Activity, result.task_id)
    assert note is not None
    assert task is not None
    assert (note.contact_id, task.contact_id) == (into.contact_id, into.contact_id)


async def test_the_ringing_card_hint_names_the_likely_duplicate(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, boris, _, _ = await add_users(sessions)
    into, merged = await _two_petrovs(sessions, anna, boris)
    now = [0.0]
    hints = DuplicateHints(sessions, clock=lambda: now[0])
    found = await hints(into.contact_id)
    assert [(h["id"], h["name"], h["company"], h["reasons"]) for h in found] == [
        (merged.contact_id, "Иван Петров", "ООО «Ромашка»", ["name", "company"])
    ]
    async with sessions.begin() as session:
        await ContactMerger(session, SYSTEM).merge(into.contact_id, merged.contact_id)
    assert await hints(into.contact_id) == found  # within the minute: the cached answer
    now[0] += 61
    assert await hints(into.contact_id) == ()
