"""Rule policies applied to real calls: round-robin, queue groups, contact owner, fixed user,
business hours; and where the rules come from (file, saved versions, other instances)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Activity, Deal
from crmlite.domain.phones import PhoneRules
from crmlite.domain.principal import SYSTEM
from crmlite.services.contacts import ContactService
from crmlite.services.phones import PhoneInput
from cti.rules.book import RuleBook
from cti.rules.call_to_crm import CallToCrm
from cti.rules.executor import CrmOutcome, RuleExecutor
from cti.rules.model import RulesInvalid
from tests.integration.call_support import (
    add_agents,
    inbound_call,
    ring_all_answered,
    ring_all_missed,
)
from tests.integration.crm_support import START

PHONES = PhoneRules(default_region="RU")
EXAMPLE = Path(__file__).parents[2] / "config" / "rules.example.toml"
GROUPS = {"sellers": {"users": ["ivan", "olga", "petr"], "queues": ["sales"]}}


async def _book(
    sessions: async_sessionmaker[AsyncSession], rules: list[dict[str, Any]]
) -> RuleBook:
    book = RuleBook(PHONES)
    await book.replace(sessions, {"groups": GROUPS, "rules": rules}, by=None)
    return book


def _rule(rule_id: str, when: dict[str, Any], **then: Any) -> dict[str, Any]:
    return {"id": rule_id, "when": when, "then": then}


async def _call(crm: CallToCrm, events: list[Any]) -> CrmOutcome:
    outcome = None
    for event in events:
        outcome = await crm.handle(event)
    assert outcome is not None
    return outcome


async def test_round_robin_owner_takes_turns_once_per_call(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    agents = await add_agents(sessions)
    book = await _book(
        sessions,
        [_rule("rr", {"direction": "inbound"}, deal=True, owner="round-robin:sellers")],
    )
    crm = CallToCrm(sessions, book, RuleExecutor(PHONES))
    owners = []
    for index in range(4):
        call = inbound_call(f"10.{index}", caller=f"+7916123450{index}")
        events = ring_all_answered(call)
        outcome = await _call(crm, events)
        await _call(crm, events)  # a replay must not take another turn
        owners.append(outcome.owner_id)
    expected = [agents[ext].user_id for ext in ("101", "102", "103", "101")]
    assert owners == expected


async def test_missed_call_task_goes_to_the_queue_group_in_turn(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    agents = await add_agents(sessions)
    book = await _book(
        sessions,
        [_rule("cb", {"moment": "missed"}, task={"assignee": "queue-group", "due_in_minutes": 5})],
    )
    crm = CallToCrm(sessions, book, RuleExecutor(PHONES))
    first = await _call(crm, ring_all_missed(inbound_call("20.1", caller="+79161110001")))
    second = await _call(crm, ring_all_missed(inbound_call("20.2", caller="+79161110002")))
    async with sessions() as session:
        tasks = (
            await session.scalars(
                select(Activity).where(Activity.kind == "task").order_by(Activity.id)
            )
        ).all()
    assert [t.id for t in tasks] == [*first.tasks_created, *second.tasks_created]
    assert [t.assignee_id for t in tasks] == [agents["101"].user_id, agents["102"].user_id]
    assert all(t.deal_id is None for t in tasks)  # this rule makes no deal


async def test_contact_owner_and_fixed_user_policies(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    agents = await add_agents(sessions)
    async with sessions.begin() as session:
        await ContactService(session, SYSTEM, PHONES, clock=lambda: START).create(
            "Known", phones=[PhoneInput("+79161234567")], owner_id=agents["103"].user_id
        )
    book = await _book(
        sessions,
        [
            _rule("known", {"caller": "known"}, deal={"reuse_open": False}, owner="contact-owner"),
            _rule("other", {}, deal=True, owner="user:olga"),
        ],
    )
    crm = CallToCrm(sessions, book, RuleExecutor(PHONES))
    known = await _call(crm, ring_all_answered(inbound_call("30.1"), answered_by="101"))
    other = await _call(crm, ring_all_answered(inbound_call("30.2", caller="+79990001122")))
    assert known.owner_id == agents["103"].user_id
    assert other.owner_id == agents["102"].user_id
    assert known.rule_ids == ("known",)


@pytest.mark.parametrize(
    ("window", "expected"), [("09:00-18:00", "in-hours"), ("18:00-20:00", "late")]
)
async def test_business_hours_pick_the_rule(
    sessions: async_sessionmaker[AsyncSession], window: str, expected: str
) -> None:
    await add_agents(sessions)
    book = RuleBook(PHONES)
    await book.replace(
        sessions,
        {
            "hours": {"office": {"timezone": "Europe/Moscow", "days": {"mon-fri": window}}},
            "rules": [
                {"id": "in-hours", "when": {"within_hours": "office"}, "then": {"deal": True}},
                {"id": "late", "then": {"contact": "find"}},
            ],
        },
        by=None,
    )  # the calls start on Monday 2026-03-02 at 12:00 in Moscow
    crm = CallToCrm(sessions, book, RuleExecutor(PHONES))
    outcome = await _call(crm, ring_all_answered(inbound_call("40.1")))
    assert outcome.rule_ids == (expected,)


async def test_outbound_call_is_logged_on_a_known_contact(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    agents = await add_agents(sessions)
    async with sessions.begin() as session:
        contact = await ContactService(session, SYSTEM, PHONES, clock=lambda: START).create(
            "Client", phones=[PhoneInput("+79161234567")]
        )
    crm = CallToCrm(sessions, RuleBook(PHONES), RuleExecutor(PHONES))
    call = replace(
        inbound_call("50.1"), direction="outbound", caller="101", called="89161234567", queue=None,
        agent="101",
    )  # fmt: skip
    outcome = await _call(crm, ring_all_answered(call, answered_by="101"))
    assert outcome.contact_id == contact.id
    async with sessions() as session:
        logged = await session.scalar(select(Activity).where(Activity.kind == "call"))
        deals = (await session.scalars(select(Deal))).all()
    assert logged is not None
    assert logged.direction == "outbound"
    assert logged.to_number == "+79161234567"  # E.164: reports match calls by number
    assert logged.from_number == "101"
    assert logged.agent_id == agents["101"].user_id
    assert deals == []


async def test_rule_file_loads_and_saved_versions_win(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await add_agents(sessions)
    book = RuleBook(PHONES, file=str(EXAMPLE))
    await book.load(sessions)
    assert book.source == str(EXAMPLE)
    assert book.ruleset.rules[0].id == "sales-missed"
    other_instance = RuleBook(PHONES, file=str(EXAMPLE))
    await other_instance.load(sessions)
    await book.replace(sessions, {"rules": [{"id": "only"}]}, by=None)
    assert await other_instance.refresh(sessions) is True
    assert [r.id for r in other_instance.ruleset.rules] == ["only"]
    assert await other_instance.refresh(sessions) is False


async def test_rule_file_naming_missing_users_loads_with_problems_listed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    book = RuleBook(PHONES, file=str(EXAMPLE))
    await book.load(sessions)  # the PBX's calls must still be recorded
    assert book.source == str(EXAMPLE)
    assert any(p.path == "groups.sellers.users" for p in book.problems)


async def test_rule_file_that_does_not_parse_stops_the_start(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    broken = tmp_path / "rules.toml"
    broken.write_text('[[rules]]\nid = "a"\n[rules.when]\nmoment = "someday"\n', "utf-8")
    with pytest.raises(RulesInvalid) as caught:
        await RuleBook(PHONES, file=str(broken)).load(sessions)
    assert [p.path for p in caught.value.problems] == ["rules[0].when.moment"]
