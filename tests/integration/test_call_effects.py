"""Call events become contacts, deals, owners, tasks and call logs, each exactly once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Activity, BlockedNumber, CallEffect, Contact, Deal, Stage
from crmlite.domain.phones import PhoneRules
from crmlite.domain.principal import SYSTEM
from crmlite.services.contacts import ContactService
from crmlite.services.deals import DealService
from crmlite.services.phones import PhoneInput
from cti.calls.events import CallEvent
from cti.rules.book import RuleBook
from cti.rules.call_to_crm import CallToCrm
from cti.rules.executor import CrmOutcome, RuleExecutor
from tests.integration.call_support import (
    add_agents,
    inbound_call,
    ring_all_answered,
    ring_all_missed,
    snapshot_tables,
    transferred,
)
from tests.integration.crm_support import START

PHONES = PhoneRules(default_region="RU")


def _crm(sessions: async_sessionmaker[AsyncSession]) -> CallToCrm:
    return CallToCrm(sessions, RuleBook(PHONES), RuleExecutor(PHONES))


async def _run(crm: CallToCrm, events: list[CallEvent]) -> list[CrmOutcome]:
    return [await crm.handle(event) for event in events]


async def _count(session: AsyncSession, model: type[object]) -> int:
    return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_answered_unknown_caller_becomes_contact_and_unsorted_deal_of_answerer(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    agents = await add_agents(sessions)
    events = ring_all_answered(inbound_call(), answered_by="102")
    outcomes = await _run(_crm(sessions), events)

    ringing = outcomes[1]
    assert ringing.contact_created
    assert ringing.deal_created
    assert ringing.owner_id is None  # Unsorted and unassigned until someone answers
    final = outcomes[-1]
    assert final.deal_id == ringing.deal_id
    assert final.contact_id == ringing.contact_id
    async with sessions() as session:
        deal = await session.get(Deal, final.deal_id)
        assert deal is not None
        stage = await session.get(Stage, deal.stage_id)
        contact = await session.get(Contact, final.contact_id)
        calls = (await session.scalars(select(Activity).where(Activity.kind == "call"))).all()
    assert stage is not None
    assert stage.is_unsorted
    assert deal.source == "call"
    assert deal.owner_id == agents["102"].user_id
    assert contact is not None
    assert contact.owner_id == agents["102"].user_id
    assert contact.name == "Vera"
    [call] = calls
    assert (call.contact_id, call.deal_id) == (final.contact_id, final.deal_id)
    assert call.agent_id == agents["102"].user_id
    assert call.outcome == "answered"
    assert call.from_number == "+79161234567"
    assert call.duration_s == 7


async def test_replaying_a_call_changes_nothing(sessions: async_sessionmaker[AsyncSession]) -> None:
    await add_agents(sessions)
    events = ring_all_answered(inbound_call())
    await _run(_crm(sessions), events)
    before = await snapshot_tables(sessions)
    again = await _run(_crm(sessions), events)  # a new instance: nothing cached
    assert await snapshot_tables(sessions) == before
    assert all(outcome.applied == () for outcome in again)
    assert before["deals"]
    assert before["contacts"]
    assert before["activities"]


async def test_a_takeover_replays_only_what_is_not_recorded(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_agents(sessions)
    applied = ring_all_answered(inbound_call("applied.1", "+79160000001"))
    await _run(_crm(sessions), applied)
    half = ring_all_answered(inbound_call("half.2", "+79160000002"))
    await _run(_crm(sessions), half[:4])  # the previous consumer died before the answer
    unseen = ring_all_answered(inbound_call("unseen.3", "+79160000003"))
    left = await _crm(sessions).unsettled([*applied, *half, *unseen])
    assert {event.linkedid for event in left} == {"half.2", "unseen.3"}
    kinds = [type(event).__name__ for event in left if event.linkedid == "half.2"]
    assert kinds == ["CallAnswered", "CallEnded"]
    assert len([event for event in left if event.linkedid == "unseen.3"]) == 6  # all but the stops
    outcomes = await _run(_crm(sessions), left)
    assert all(o.applied for o in outcomes if o.linkedid == "half.2")
    async with sessions() as session:
        assert await _count(session, Contact) == 3
        assert await _count(session, Deal) == 3


async def test_concurrent_writers_create_one_of_everything(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_agents(sessions)
    events = ring_all_answered(inbound_call())
    first, second = _crm(sessions), _crm(sessions)
    for event in events:
        await asyncio.gather(first.handle(event), second.handle(event))
    async with sessions() as session:
        assert await _count(session, Contact) == 1
        assert await _count(session, Deal) == 1
        assert await _count(session, Activity) == 1
        keys = (await session.scalars(select(CallEffect.effect))).all()
    assert len(keys) == len(set(keys))


async def test_missed_call_becomes_call_back_task_for_last_agent_rung(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    agents = await add_agents(sessions)
    outcomes = await _run(_crm(sessions), ring_all_missed(inbound_call()))
    ended = outcomes[-1]
    assert ended.rule_ids == ("missed-call-back",)
    assert len(ended.tasks_created) == 1
    async with sessions() as session:
        task = await session.get(Activity, ended.tasks_created[0])
        call = await session.scalar(select(Activity).where(Activity.kind == "call"))
        deal = await session.get(Deal, ended.deal_id)
    assert task is not None
    assert task.kind == "task"
    assert task.title == "Missed call from Vera: call back"
    assert task.assignee_id == agents["103"].user_id
    assert task.deal_id == ended.deal_id
    assert task.due_at is not None
    assert task.created_at is not None
    assert (task.due_at - task.created_at).total_seconds() == 15 * 60
    assert call is not None
    assert call.outcome == "abandoned"
    assert call.answered_at is None
    assert deal is not None
    assert deal.owner_id is None


async def test_transfer_moves_owner_and_call_agent(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    agents = await add_agents(sessions)
    events = transferred(ring_all_answered(inbound_call(), answered_by="101"), to="103")
    outcomes = await _run(_crm(sessions), events)
    async with sessions() as session:
        deal = await session.get(Deal, outcomes[-1].deal_id)
        call = await session.scalar(select(Activity).where(Activity.kind == "call"))
    assert deal is not None
    assert deal.owner_id == agents["103"].user_id
    assert call is not None
    assert call.agent_id == agents["103"].user_id


async def test_contact_with_one_open_deal_gets_the_call_on_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    agents = await add_agents(sessions)
    async with sessions.begin() as session:
        contact = await ContactService(session, SYSTEM, PHONES, clock=lambda: START).create(
            "Known", phones=[PhoneInput("8 916 123-45-67")], owner_id=agents["101"].user_id
        )
        deal = await DealService(session, SYSTEM, clock=lambda: START).create(
            "Existing", contact_id=contact.id, owner_id=agents["101"].user_id
        )
    outcomes = await _run(_crm(sessions), ring_all_answered(inbound_call(), answered_by="102"))
    final = outcomes[-1]
    assert (final.contact_id, final.deal_id) == (contact.id, deal.id)
    assert not final.deal_created
    assert not final.contact_created
    async with sessions() as session:
        assert await _count(session, Deal) == 1
        kept = await session.get(Deal, deal.id)
        owner = await session.scalar(select(Contact.owner_id).where(Contact.id == contact.id))
    assert kept is not None
    assert kept.owner_id == agents["101"].user_id
    assert owner == agents["101"].user_id


async def test_blocked_number_creates_no_deal(sessions: async_sessionmaker[AsyncSession]) -> None:
    await add_agents(sessions)
    async with sessions.begin() as session:
        session.add(BlockedNumber(normalized="+79161234567", reason="spam", created_at=START))
    outcomes = await _run(_crm(sessions), ring_all_answered(inbound_call()))
    assert outcomes[-1].blocked
    assert outcomes[-1].deal_id is None
    assert outcomes[-1].contact_id is not None
    async with sessions() as session:
        assert await _count(session, Deal) == 0


async def test_internal_calls_leave_nothing(sessions: async_sessionmaker[AsyncSession]) -> None:
    await add_agents(sessions)
    from dataclasses import replace

    call = replace(inbound_call(), direction="internal", caller="101", called="103", queue=None)
    outcomes = await _run(_crm(sessions), ring_all_answered(call))
    assert all(o.rule_ids == () for o in outcomes)
    async with sessions() as session:
        assert await _count(session, CallEffect) == 0


@pytest.mark.parametrize("answered_by", ["101", "103"])
async def test_answering_agent_owns_the_new_deal(
    sessions: async_sessionmaker[AsyncSession], answered_by: str
) -> None:
    agents = await add_agents(sessions)
    outcomes = await _run(_crm(sessions), ring_all_answered(inbound_call(), answered_by))
    assert outcomes[-1].owner_id == agents[answered_by].user_id


@pytest.mark.parametrize(
    ("recording", "expected"),
    [
        ("1772442000.1.wav", "https://pbx.example/rec/1772442000.1.wav"),
        ("https://store.example/a.wav", "https://store.example/a.wav"),
    ],
)
async def test_call_log_carries_the_recording_url(
    sessions: async_sessionmaker[AsyncSession], recording: str, expected: str
) -> None:
    from dataclasses import replace

    await add_agents(sessions)
    executor = RuleExecutor(PHONES, recording_base_url="https://pbx.example/rec/")
    crm = CallToCrm(sessions, RuleBook(PHONES), executor)
    events = ring_all_answered(inbound_call())
    ended = events[-1]
    events[-1] = replace(ended, call=replace(ended.call, recording=recording))
    await _run(crm, events)
    async with sessions() as session:
        url = await session.scalar(select(Activity.recording_url).where(Activity.kind == "call"))
    assert url == expected


@pytest.mark.parametrize(
    ("caller_name", "expected"),
    [
        ("<unknown>", "8 (916) 123-45-67"),
        ("89161234567", "8 (916) 123-45-67"),
        (" Vera K ", "Vera K"),
    ],
)
async def test_new_contact_is_named_by_caller_id_name_or_number(
    sessions: async_sessionmaker[AsyncSession], caller_name: str, expected: str
) -> None:
    from dataclasses import replace

    await add_agents(sessions)
    call = replace(inbound_call(), caller_name=caller_name)
    await _run(_crm(sessions), ring_all_answered(call))
    async with sessions() as session:
        names = (await session.scalars(select(Contact.name))).all()
    assert names == [expected]
