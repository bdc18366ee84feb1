"""Notes, call logs and tasks on the real databases, with who sees what."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.domain.errors import InvalidInput, NotFound, PermissionDenied
from crmlite.domain.phones import PhoneRules
from crmlite.services.activities import (
    ActivityKind,
    ActivityService,
    CallDirection,
    CallLog,
    Parent,
)
from crmlite.services.contacts import ContactService
from crmlite.services.deals import DealService
from crmlite.services.tasks import TaskChanges, TaskService
from tests.integration.crm_support import START, StepClock, add_users


async def test_notes_and_calls_are_seen_by_the_owner_only(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, boris, head, _ = await add_users(sessions)
    clock = StepClock()
    async with sessions.begin() as session:
        contact = await ContactService(session, anna, PhoneRules()).create("Olga")
        deal = await DealService(session, anna).create("Car", contact_id=contact.id)
        service = ActivityService(session, anna, clock=clock)
        await service.add_note(Parent(contact_id=contact.id), "first call went well")
        clock.advance(minutes=5)
        call = await service.log_call(
            Parent(deal_id=deal.id),
            CallLog(
                direction=CallDirection.INBOUND,
                from_number="+74951234567",
                to_number="101",
                started_at=START,
                answered_at=START + dt.timedelta(seconds=8),
                ended_at=START + dt.timedelta(seconds=68),
                outcome="answered",
                agent_id=anna.user_id,
                linkedid="1700000000.1",
            ),
        )
    assert call.duration_s == 60
    assert call.contact_id == contact.id  # the deal's contact comes along
    async with sessions() as session:
        mine = await ActivityService(session, anna).find(contact_id=contact.id)
        assert [a.kind for a in mine.items] == ["call", "note"]
        theirs = await ActivityService(session, boris).find(contact_id=contact.id)
        assert theirs.total == 0
        with pytest.raises(NotFound):
            await ActivityService(session, boris).get(call.id)
        calls = await ActivityService(session, head).find(kind=ActivityKind.CALL)
        assert [a.linkedid for a in calls.items] == ["1700000000.1"]
    async with sessions.begin() as session:
        with pytest.raises(NotFound):
            await ActivityService(session, boris).add_note(Parent(deal_id=deal.id), "mine now")
        with pytest.raises(InvalidInput):
            await ActivityService(session, anna).add_note(Parent(), "nowhere")


async def test_tasks_for_oneself_or_given_by_a_head(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    anna, boris, head, _ = await add_users(sessions)
    clock = StepClock()
    due = START + dt.timedelta(days=1)
    async with sessions.begin() as session:
        own = await TaskService(session, anna, clock=clock).create("Call back", due_at=due)
        given = await TaskService(session, head, clock=clock).create(
            "Send the offer", due_at=due - dt.timedelta(hours=2), assignee_id=anna.user_id
        )
        with pytest.raises(PermissionDenied):
            await TaskService(session, boris).create("Steal", assignee_id=anna.user_id)
    async with sessions() as session:
        annas = await TaskService(session, anna).find(open_only=True)
        assert [t.title for t in annas.items] == ["Send the offer", "Call back"]
        assert (await TaskService(session, boris).find()).total == 0
        with pytest.raises(NotFound):
            await TaskService(session, boris).get(own.id)
    clock.advance(hours=3)
    async with sessions.begin() as session:
        done = await TaskService(session, anna, clock=clock).update(
            given.id, TaskChanges(done=True)
        )
        assert done.done_at == clock.now
    async with sessions() as session:
        still_open = await TaskService(session, anna).find(open_only=True)
        assert [t.id for t in still_open.items] == [own.id]
        overdue = await TaskService(session, head).find(due_before=due, open_only=True)
        assert overdue.total == 0
