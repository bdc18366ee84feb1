"""Webhooks against a real local HTTP receiver: signed, retried with backoff, all recorded."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.services.webhook_deliveries import deliveries
from cti.rules.executor import CrmOutcome
from cti.webhooks import WebhookEvents, WebhookSender, verify
from cti.webhooks.sender import Endpoint
from tests.integration.call_support import inbound_call, ring_all_answered

SECRET = "s3cret"
AT = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: answers the scripted statuses, then 200."""

    url: str = ""
    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        self.arrived.set()
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status, text="ok")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    state = Receiver()
    app = web.Application()
    app.router.add_post("/hook", state.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    state.url = f"http://127.0.0.1:{port}/hook"
    yield state
    await runner.cleanup()


def _sender(sessions: async_sessionmaker[AsyncSession], url: str, **kwargs: float) -> WebhookSender:
    options: dict[str, float] = {"base_delay_s": 0.01, "scan_interval_s": 0.01} | kwargs
    return WebhookSender(
        sessions,
        [Endpoint(url, SECRET)],
        max_attempts=int(options.pop("max_attempts", 5)),
        **options,  # type: ignore[arg-type]
    )


async def _settle(sender: WebhookSender, sessions: async_sessionmaker[AsyncSession]) -> str:
    """Wait until the newest delivery is no longer pending; return its status."""
    for _ in range(500):
        await sender.idle()
        async with sessions() as session:
            rows = await deliveries(session)
        if rows and all(row.status != "pending" for row in rows):
            return rows[0].status
        await asyncio.sleep(0.01)
    raise AssertionError("delivery still pending")


async def test_event_is_signed_delivered_and_recorded(
    sessions: async_sessionmaker[AsyncSession], receiver: Receiver
) -> None:
    sender = _sender(sessions, receiver.url)
    await sender.start()
    try:
        assert await sender.publish("deal.created", "evt-1", {"deal_id": 7}, AT) == 1
        assert await _settle(sender, sessions) == "delivered"
    finally:
        await sender.close()
    [(headers, body)] = receiver.received
    timestamp = int(headers["X-CTI-Timestamp"])
    assert verify(SECRET, timestamp, body, headers["X-CTI-Signature"], now=int(time.time()))
    assert not verify("wrong", timestamp, body, headers["X-CTI-Signature"], now=int(time.time()))
    assert headers["X-CTI-Event"] == "deal.created"
    message = json.loads(body)
    assert message == {
        "version": 1,
        "id": "evt-1",
        "type": "deal.created",
        "occurred_at": "2026-03-02T09:00:00+00:00",
        "data": {"deal_id": 7},
    }
    async with sessions() as session:
        [row] = await deliveries(session)
    assert (row.attempts, row.last_status_code, row.delivery_id) == (
        1,
        200,
        headers["X-CTI-Delivery"],
    )


async def test_server_errors_are_retried_until_delivered(
    sessions: async_sessionmaker[AsyncSession], receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    sender = _sender(sessions, receiver.url)
    await sender.start()
    try:
        await sender.publish("call.ended", "evt-2", {}, AT)
        assert await _settle(sender, sessions) == "delivered"
    finally:
        await sender.close()
    async with sessions() as session:
        [row] = await deliveries(session)
    assert row.attempts == 3
    assert len(receiver.received) == 3
    assert len({h["X-CTI-Delivery"] for h, _ in receiver.received}) == 1  # one delivery, 3 tries


async def test_client_error_fails_at_once(
    sessions: async_sessionmaker[AsyncSession], receiver: Receiver
) -> None:
    receiver.statuses = [400]
    sender = _sender(sessions, receiver.url)
    await sender.start()
    try:
        await sender.publish("call.ended", "evt-3", {}, AT)
        assert await _settle(sender, sessions) == "failed"
    finally:
        await sender.close()
    async with sessions() as session:
        [row] = await deliveries(session)
    assert (row.attempts, row.last_status_code, row.last_error) == (1, 400, "HTTP 400")


async def test_unreachable_receiver_gives_up_after_max_attempts(
    sessions: async_sessionmaker[AsyncSession], receiver: Receiver
) -> None:
    sender = _sender(sessions, "http://127.0.0.1:9/nothing-listens", max_attempts=3)
    await sender.start()
    try:
        await sender.publish("call.ended", "evt-4", {}, AT)
        assert await _settle(sender, sessions) == "failed"
    finally:
        await sender.close()
    async with sessions() as session:
        [row] = await deliveries(session)
    assert row.attempts == 3
    assert row.last_error is not None
    assert "Connect" in row.last_error


def test_backoff_doubles_and_is_capped() -> None:
    sender = WebhookSender(None, [], base_delay_s=1.0, max_delay_s=10.0)  # type: ignore[arg-type]
    assert [sender.backoff(n) for n in range(1, 6)] == [1.0, 2.0, 4.0, 8.0, 10.0]


async def test_same_event_is_delivered_once_per_endpoint(
    sessions: async_sessionmaker[AsyncSession], receiver: Receiver
) -> None:
    sender = _sender(sessions, receiver.url)
    assert await sender.publish("call.ended", "evt-5", {}, AT) == 1
    assert await sender.publish("call.ended", "evt-5", {}, AT) == 0


async def test_endpoints_get_only_the_events_they_asked_for(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    sender = WebhookSender(sessions, [Endpoint("http://127.0.0.1:9/a", SECRET, ("deal.*",))])
    assert await sender.publish("call.ended", "evt-6", {}, AT) == 0
    assert await sender.publish("deal.created", "evt-7", {}, AT) == 1


async def test_call_events_and_crm_changes_become_webhooks(
    sessions: async_sessionmaker[AsyncSession], receiver: Receiver
) -> None:
    sender = _sender(sessions, receiver.url)
    sink = WebhookEvents(sender)
    answered = ring_all_answered(inbound_call())[-2]
    outcome = CrmOutcome(
        linkedid=answered.linkedid,
        event=answered.kind,
        contact_id=1,
        contact_created=True,
        deal_id=2,
        deal_created=True,
        owner_id=3,
        owner_changed=True,
        applied=("contact", "deal", "owner:agent:0:102"),
    )
    await sender.start()
    try:
        await sink.on_crm_outcome(answered, outcome)
        await sink.on_crm_outcome(answered, outcome)  # a replay notifies nobody twice
        await _settle(sender, sessions)
    finally:
        await sender.close()
    types = sorted(json.loads(body)["type"] for _, body in receiver.received)
    assert types == ["call.answered", "contact.created", "deal.assigned", "deal.created"]
    call = next(
        json.loads(b) for _, b in receiver.received if json.loads(b)["type"] == "call.answered"
    )
    assert call["data"]["extension"] == "102"
    assert call["data"]["call"]["linkedid"] == answered.linkedid
    assert call["data"]["crm"]["deal_id"] == 2


async def test_stage_changes_become_webhooks_once_even_after_a_restart(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    from sqlalchemy import select

    from crmlite.db.models import Stage
    from crmlite.domain.principal import SYSTEM
    from crmlite.services.deal_moves import DealMoveService
    from crmlite.services.deals import DealService
    from cti.webhooks.deal_feed import DealChangeFeed

    async with sessions.begin() as session:
        deal = await DealService(session, SYSTEM).create("Fridges")
        won = await session.scalar(select(Stage.id).where(Stage.name == "Won"))
        assert won is not None
        await DealMoveService(session, SYSTEM).move(deal.id, won)
    sender = WebhookSender(sessions, [Endpoint("http://127.0.0.1:9/a", SECRET, ("deal.*",))])
    assert await DealChangeFeed(sessions, sender).poll() == 2
    assert await DealChangeFeed(sessions, sender).poll() == 2  # a restart reads them again...
    async with sessions() as session:
        rows = await deliveries(session)
    assert len(rows) == 2  # ...but each is delivered once
    last = json.loads(rows[0].body)
    assert last["type"] == "deal.stage_changed"
    assert last["data"]["to_stage"] == "Won"
    assert last["data"]["status"] == "won"
    assert last["data"]["from_stage"] == "Unsorted"


async def test_the_service_sends_inbox_decisions_to_configured_webhooks(
    database_url: str, receiver: Receiver
) -> None:
    from cti.settings import Settings
    from cti.web.call_crm import CALL_TO_CRM, WEBHOOK_SENDER
    from tests.integration.call_support import ring_all_missed
    from tests.integration.pops_support import seed_agents, start_app

    settings = Settings.model_validate(
        {
            "database": {"url": database_url},
            "webhooks": [{"url": receiver.url, "secret": SECRET, "events": ["deal.declined"]}],
        }
    )
    running = await start_app(database_url, settings=settings)
    try:
        app = running.app
        agents = await seed_agents(app[CALL_TO_CRM].sessions, ["101", "102", "103"])
        outcome = None
        for event in ring_all_missed(inbound_call("9.9")):
            outcome = await app[CALL_TO_CRM].handle(event)
        assert outcome is not None
        async with aiohttp.ClientSession() as client:
            answer = await client.post(
                f"{running.url}/api/v1/inbox/{outcome.deal_id}/decline",
                json={"reason": "spam"},
                headers={"Authorization": f"Bearer {agents['101'].token}"},
            )
            assert answer.status == 200, await answer.text()
        async with asyncio.timeout(10):
            await receiver.arrived.wait()
        await app[WEBHOOK_SENDER].idle()
    finally:
        await running.close()
    [(headers, body)] = receiver.received
    assert headers["X-CTI-Event"] == "deal.declined"
    assert json.loads(body)["data"]["deal_id"] == outcome.deal_id
    assert json.loads(body)["data"]["reason"] == "spam"


async def test_events_wait_in_memory_while_the_database_is_away(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    import sqlite3

    from sqlalchemy.exc import OperationalError

    class Away:
        def __init__(self) -> None:
            self.down = True

        def __call__(self) -> AsyncSession:
            if self.down:
                raise OperationalError("BEGIN", {}, sqlite3.OperationalError("database is locked"))
            return sessions()

    away = Away()
    sender = WebhookSender(away, [Endpoint("http://127.0.0.1:9/a", SECRET)], hold_limit=2)  # type: ignore[arg-type]
    for index in range(3):
        assert await sender.publish("call.ended", f"held-{index}", {}, AT) == 0
    assert sender.lost == 1  # the oldest went when the bound was reached, and was logged
    away.down = False
    assert await sender.flush_held() == 2
    async with sessions() as session:
        rows = await deliveries(session)
    assert sorted(row.event_id for row in rows) == ["held-1", "held-2"]


async def test_admins_list_deliveries_and_send_a_failed_one_again(
    database_url: str, receiver: Receiver
) -> None:
    from cti.app import create_app
    from cti.settings import Settings
    from cti.web.call_crm import WEBHOOK_SENDER
    from tests.support.api import start_api

    def with_webhook(settings: Settings) -> web.Application:
        hooks = {"webhooks": [{"url": receiver.url, "secret": SECRET}]}
        return create_app(Settings.model_validate(settings.model_dump() | hooks))

    receiver.statuses = [400]  # refused at first: failed for good
    harness = await start_api(database_url, app_factory=with_webhook)
    try:
        sender = harness.app[WEBHOOK_SENDER]
        await sender.publish("deal.created", "evt-r", {"deal_id": 1}, AT)
        await sender.idle()
        admin = await harness.client("admin")
        failed = (
            await admin.get("/api/v1/webhooks/deliveries", params={"status": "failed"})
        ).json()
        assert [d["event_id"] for d in failed] == ["evt-r"]
        assert failed[0]["last_status_code"] == 400
        seller = await harness.client("seller")
        assert (await seller.get("/api/v1/webhooks/deliveries")).status == 403
        again = await admin.post(f"/api/v1/webhooks/deliveries/{failed[0]['id']}/retry")
        assert again.status == 202
        await sender.idle()
        done = (await admin.get("/api/v1/webhooks/deliveries")).json()
        assert done[0]["status"] == "delivered"
        assert done[0]["attempts"] == 1
        assert (await admin.post("/api/v1/webhooks/deliveries/999/retry")).status == 404
    finally:
        await harness.close()
    assert len(receiver.received) == 2


async def test_only_one_sender_claims_an_attempt(
    sessions: async_sessionmaker[AsyncSession], receiver: Receiver
) -> None:
    first = _sender(sessions, receiver.url)
    second = _sender(sessions, receiver.url)  # another instance over the same database
    await first.publish("call.ended", "evt-claim", {}, AT)
    async with sessions() as session:
        from crmlite.services.webhook_deliveries import due_deliveries

        [seen_by_first] = await due_deliveries(session, dt.datetime.now(dt.UTC))
        [seen_by_second] = await due_deliveries(session, dt.datetime.now(dt.UTC))
    assert await first._still_due(seen_by_first)
    assert not await second._still_due(seen_by_second)
