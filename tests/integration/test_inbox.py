"""The Unsorted inbox over HTTP: accept, decline (and block), merge deals that calls created."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import func, select

from crmlite.db.models import Activity, BlockedNumber, CallEffect, Deal, DealStageChange, Stage
from crmlite.domain.phones import PhoneRules
from crmlite.domain.principal import SYSTEM
from crmlite.services.deals import DealService
from crmlite.web import inbox
from cti.app import create_app
from cti.rules.book import RuleBook
from cti.rules.call_to_crm import CallToCrm
from cti.rules.executor import CrmOutcome, RuleExecutor
from cti.settings import Settings
from tests.integration.call_support import inbound_call, ring_all_answered, ring_all_missed
from tests.support.api import ApiHarness, ApiUser, start_api

PHONES = PhoneRules(default_region="RU")


class Heard:
    def __init__(self) -> None:
        self.decisions: list[Mapping[str, Any]] = []

    async def deal_decided(self, decision: Mapping[str, Any]) -> None:
        self.decisions.append(decision)


HEARD = Heard()


def _factory(settings: Settings) -> web.Application:
    app = create_app(settings)
    HEARD.decisions.clear()
    app[inbox.INBOX_LISTENERS] = [HEARD]
    return app


@pytest.fixture
async def api_inbox(database_url: str) -> AsyncIterator[ApiHarness]:
    harness = await start_api(database_url, app_factory=_factory)
    yield harness
    await harness.close()


async def _agents(api: ApiHarness) -> dict[str, ApiUser]:
    return {
        ext: await api.create_user("seller", login=login, identities=[("extension", ext)])
        for login, ext in (("ivan", "101"), ("olga", "102"), ("petr", "103"))
    }


async def _missed_call_deal(api: ApiHarness, linkedid: str = "1.1") -> CrmOutcome:
    crm = CallToCrm(api.sessions, RuleBook(PHONES), RuleExecutor(PHONES))
    outcome = None
    for event in ring_all_missed(inbound_call(linkedid)):
        outcome = await crm.handle(event)
    assert outcome is not None
    assert outcome.deal_id is not None
    return outcome


async def _stage(api: ApiHarness, name: str) -> int:
    async with api.sessions() as session:
        stage_id = await session.scalar(select(Stage.id).where(Stage.name == name))
    assert stage_id is not None
    return int(stage_id)


async def test_inbox_lists_unclaimed_call_deals_to_sellers(api_inbox: ApiHarness) -> None:
    agents = await _agents(api_inbox)
    outcome = await _missed_call_deal(api_inbox)
    seller = await api_inbox.client(agents["101"])
    page = (await seller.get("/api/v1/inbox")).json()
    assert page["total"] == 1
    [item] = page["items"]
    assert item["deal_id"] == outcome.deal_id
    assert item["phone"] == "+79161234567"
    assert item["calls"] == 1
    assert item["owner_id"] is None


async def test_accept_moves_to_stage_with_history_and_owner(api_inbox: ApiHarness) -> None:
    agents = await _agents(api_inbox)
    outcome = await _missed_call_deal(api_inbox)
    seller = await api_inbox.client(agents["102"])
    qualification = await _stage(api_inbox, "Qualification")
    answer = await seller.post(
        f"/api/v1/inbox/{outcome.deal_id}/accept", json={"stage_id": qualification}
    )
    assert answer.status == 200, answer.text
    assert answer.json()["decision"] == "accepted"
    async with api_inbox.sessions() as session:
        deal = await session.get(Deal, outcome.deal_id)
        moves = (
            await session.scalars(
                select(DealStageChange.to_stage_id)
                .where(DealStageChange.deal_id == outcome.deal_id)
                .order_by(DealStageChange.id)
            )
        ).all()
    assert deal is not None
    assert (deal.owner_id, deal.stage_id) == (agents["102"].id, qualification)
    assert moves[-1] == qualification
    assert len(moves) == 2
    assert [d["decision"] for d in HEARD.decisions] == ["accepted"]
    again = await seller.post(
        f"/api/v1/inbox/{outcome.deal_id}/accept", json={"stage_id": qualification}
    )
    assert again.status == 409


async def test_accept_refuses_unsorted_or_closed_stage(api_inbox: ApiHarness) -> None:
    agents = await _agents(api_inbox)
    outcome = await _missed_call_deal(api_inbox)
    seller = await api_inbox.client(agents["101"])
    for name in ("Unsorted", "Won"):
        stage = await _stage(api_inbox, name)
        answer = await seller.post(
            f"/api/v1/inbox/{outcome.deal_id}/accept", json={"stage_id": stage}
        )
        assert answer.status == 422
        assert "stage_id" in answer.text


async def test_seller_cannot_accept_for_someone_else(api_inbox: ApiHarness) -> None:
    agents = await _agents(api_inbox)
    outcome = await _missed_call_deal(api_inbox)
    seller = await api_inbox.client(agents["101"])
    answer = await seller.post(
        f"/api/v1/inbox/{outcome.deal_id}/accept",
        json={"stage_id": await _stage(api_inbox, "Qualification"), "owner_id": agents["102"].id},
    )
    assert answer.status == 403


async def test_decline_with_block_keeps_calls_and_stops_new_deals(api_inbox: ApiHarness) -> None:
    agents = await _agents(api_inbox)
    outcome = await _missed_call_deal(api_inbox)
    seller = await api_inbox.client(agents["101"])
    answer = await seller.post(
        f"/api/v1/inbox/{outcome.deal_id}/decline", json={"reason": "spam", "block_number": True}
    )
    assert answer.status == 200, answer.text
    assert answer.json()["blocked_numbers"] == ["+79161234567"]
    async with api_inbox.sessions() as session:
        assert await session.get(Deal, outcome.deal_id) is None
        call = await session.scalar(select(Activity).where(Activity.kind == "call"))
        blocked = await session.scalar(select(func.count(BlockedNumber.id)))
    assert call is not None
    assert call.contact_id == outcome.contact_id
    assert call.deal_id is None
    assert blocked == 1
    # The same number calls again: contact and call log, but no deal.
    crm = CallToCrm(api_inbox.sessions, RuleBook(PHONES), RuleExecutor(PHONES))
    for event in ring_all_answered(inbound_call("2.2")):
        last = await crm.handle(event)
    assert last.blocked
    assert last.deal_id is None
    async with api_inbox.sessions() as session:
        assert await session.scalar(select(func.count(Deal.id))) == 0


async def test_merge_moves_calls_to_existing_deal_and_later_events_follow(
    api_inbox: ApiHarness,
) -> None:
    agents = await _agents(api_inbox)
    outcome = await _missed_call_deal(api_inbox)
    async with api_inbox.sessions.begin() as session:
        existing = await DealService(session, SYSTEM).create(
            "Older deal", contact_id=outcome.contact_id, owner_id=agents["101"].id
        )
    head = await api_inbox.client("head")
    answer = await head.post(
        f"/api/v1/inbox/{outcome.deal_id}/merge", json={"into_deal_id": existing.id}
    )
    assert answer.status == 200, answer.text
    async with api_inbox.sessions() as session:
        deal_ids = set((await session.scalars(select(Activity.deal_id))).all())
        effect_deals = set((await session.scalars(select(CallEffect.deal_id))).all())
    assert deal_ids == {existing.id}
    assert effect_deals <= {existing.id, None}


async def test_merge_refuses_another_contacts_deal(api_inbox: ApiHarness) -> None:
    await _agents(api_inbox)
    first = await _missed_call_deal(api_inbox, "1.1")
    async with api_inbox.sessions.begin() as session:
        other = await DealService(session, SYSTEM).create("Someone else's")
    head = await api_inbox.client("head")
    answer = await head.post(
        f"/api/v1/inbox/{first.deal_id}/merge", json={"into_deal_id": other.id}
    )
    assert answer.status == 422


async def test_unblock_number(api_inbox: ApiHarness) -> None:
    agents = await _agents(api_inbox)
    outcome = await _missed_call_deal(api_inbox)
    seller = await api_inbox.client(agents["101"])
    await seller.post(
        f"/api/v1/inbox/{outcome.deal_id}/decline",
        json={"reason": "wrong_number", "block_number": True},
    )
    head = await api_inbox.client("head")
    listed = (await head.get("/api/v1/inbox/blocked-numbers")).json()
    assert [(b["number"], b["reason"]) for b in listed["items"]] == [
        ("+79161234567", "wrong_number")
    ]
    assert (await seller.get("/api/v1/inbox/blocked-numbers")).status == 403
    number = {"number": "8 916 123 45 67"}
    assert (await seller.delete("/api/v1/inbox/blocked-numbers", params=number)).status == 403
    assert (await head.delete("/api/v1/inbox/blocked-numbers", params=number)).status == 204
    assert (await head.delete("/api/v1/inbox/blocked-numbers", params=number)).status == 404
