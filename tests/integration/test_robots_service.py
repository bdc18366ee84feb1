"""Stage robots inside the running service: the API, prompt firing, restarts and two instances."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Activity, RobotEffect
from crmlite.domain.principal import Role
from crmlite.services.deal_moves import DealMoveService
from crmlite.services.deals import DealService
from cti.app import create_app
from cti.pops.messages import ROBOT_NOTICE
from cti.robots import ROBOT_FIRED, ROBOT_RUNNER
from cti.settings import Settings
from cti.web.ws import POP_HUB
from tests.integration.robot_support import count_tasks, eventually
from tests.support.api import ApiClient, ApiHarness, start_api

FAST = {"robots": {"check_interval_s": 0.2, "follow_interval_s": 0.05}}


class RecordingSocket:
    """A browser tab that keeps what it is sent."""

    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []
        self.closed = False

    async def send_str(self, data: str, compress: int | None = None) -> None:
        self.sent.append(json.loads(data))

    async def close(self, *, code: int = 1000, message: bytes = b"", drain: bool = True) -> bool:
        self.closed = True
        return True

    def abort(self) -> None:
        self.closed = True


class Hooks:
    """A webhook receiver on 127.0.0.1 that keeps what it is sent."""

    def __init__(self) -> None:
        self.url = ""
        self.events: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.events.append(json.loads(await request.read()))
        return web.Response(text="ok")


@pytest.fixture
async def hooks() -> AsyncIterator[Hooks]:
    state = Hooks()
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


async def _start(database_url: str, hooks: Hooks | None = None) -> ApiHarness:
    def factory(settings: Settings) -> web.Application:
        extra: dict[str, Any] = {}
        if hooks is not None:
            extra["webhooks"] = [{"url": hooks.url, "secret": "s3cret", "events": [ROBOT_FIRED]}]
        return create_app(Settings.model_validate(settings.model_dump() | extra))

    return await start_api(database_url, settings=FAST, app_factory=factory)


async def _pipeline(admin: ApiClient) -> tuple[int, dict[str, int]]:
    created = await admin.post(
        "/api/v1/pipelines",
        json={"name": "Robot line", "stages": [{"name": "Qualify"}, {"name": "Offer"}]},
    )
    assert created.status == 201, created.text
    body = created.json()
    return body["id"], {s["name"]: s["id"] for s in body["stages"]}


def _fields(problem: dict[str, Any]) -> set[str]:
    return {error["field"] for error in problem["errors"]}


def _robots(pipeline_id: int, stage_id: int) -> str:
    return f"/api/v1/pipelines/{pipeline_id}/stages/{stage_id}/robots"


async def test_robots_are_configured_through_the_api_with_clear_errors(api: ApiHarness) -> None:
    head = await api.client("head")
    seller = await api.client("seller")
    pipeline_id, stages = await _pipeline(head)
    url = _robots(pipeline_id, stages["Offer"])

    bad = await head.post(url, json={"trigger": "enter", "action": "create_task",
                                     "params": {"due_in": 999, "colour": "red"}})  # fmt: skip
    assert bad.status == 422, bad.text
    assert bad.content_type == "application/problem+json"
    assert _fields(bad.json()) == {"params.title", "params.due_in", "params.colour"}
    wrong = await head.post(url, json={"trigger": "enter", "action": "nudge", "params": {}})
    assert wrong.status == 422
    assert "action" in _fields(wrong.json())
    home = await head.post(url, json={"trigger": "enter", "action": "send_to_pipeline",
                                      "params": {"pipeline_id": pipeline_id}})  # fmt: skip
    assert home.status == 422
    assert "params.pipeline_id" in _fields(home.json())
    assert (
        await seller.post(url, json={"trigger": "enter", "action": "notify_owner"})
    ).status == 403
    other_stage = _robots(pipeline_id + 1000, stages["Offer"])
    assert (await head.get(other_stage)).status == 404

    made = await head.post(url, json={"trigger": "enter", "action": "create_task",
                                      "params": {"title": "Call back", "due_in": 4,
                                                 "due_unit": "hours"}})  # fmt: skip
    assert made.status == 201, made.text
    robot = made.json()
    assert robot["params"] == {"title": "Call back", "due_in": 4, "due_unit": "hours",
                               "assignee_id": None}  # fmt: skip
    listed = await seller.get(url)
    assert [r["id"] for r in listed.json()] == [robot["id"]]
    changed = await head.patch(f"{url}/{robot['id']}", json={"enabled": False})
    assert changed.status == 200
    assert changed.json()["enabled"] is False
    assert (await head.delete(f"{url}/{robot['id']}")).status == 204
    assert (await head.get(url)).json() == []


async def test_a_move_fires_entry_robots_promptly_with_a_pop_and_a_webhook(
    database_url: str, hooks: Hooks
) -> None:
    harness = await _start(database_url, hooks)
    try:
        admin = await harness.client("admin")
        seller = await harness.client("seller")
        pipeline_id, stages = await _pipeline(admin)
        url = _robots(pipeline_id, stages["Offer"])
        for params in (
            {"trigger": "enter", "action": "create_task", "params": {"title": "Send offer"}},
            {"trigger": "enter", "action": "notify_owner", "params": {"message": "Offer now"}},
        ):
            assert (await admin.post(url, json=params)).status == 201
        tab = RecordingSocket()
        assert seller.user is not None
        await harness.app[POP_HUB].attach(seller.user.id, tab)
        made = await seller.post("/api/v1/deals", json={"title": "Vans", "pipeline_id": pipeline_id,
                                                        "stage_id": stages["Qualify"]})  # fmt: skip
        deal_id = made.json()["id"]
        moved = await seller.post(f"/api/v1/deals/{deal_id}/move",
                                  json={"stage_id": stages["Offer"]})  # fmt: skip
        assert moved.status == 200, moved.text

        async def told() -> bool:
            notices = [m for m in tab.sent if m["type"] == ROBOT_NOTICE]
            return len(notices) == 1 and len(hooks.events) == 2

        await eventually(told)
        notice = next(m for m in tab.sent if m["type"] == ROBOT_NOTICE)
        assert (notice["deal_id"], notice["message"]) == (deal_id, "Offer now")
        assert {e["data"]["action"] for e in hooks.events} == {"create_task", "notify_owner"}
        tasks = (await seller.get("/api/v1/tasks", params={"deal_id": deal_id})).json()
        assert [t["title"] for t in tasks["items"]] == ["Send offer"]
        # Several scheduled passes later, still once.
        runner = harness.app[ROBOT_RUNNER]
        passes = runner.passes
        await eventually(lambda: _after(runner, passes + 2))
        assert await count_tasks(harness.sessions) == 1
        assert len(hooks.events) == 2
    finally:
        await harness.close()


async def _after(runner: Any, passes: int) -> bool:
    return bool(runner.passes >= passes)


async def test_robots_fire_once_across_a_restart_and_two_instances(database_url: str) -> None:
    first = await _start(database_url)
    try:
        admin = await first.client("admin")
        seller_user = await first.create_user(Role.SELLER)
        pipeline_id, stages = await _pipeline(admin)
        made = await admin.post(
            _robots(pipeline_id, stages["Offer"]),
            json={"trigger": "enter", "action": "create_task", "params": {"title": "Go"}},
        )
        assert made.status == 201
        seller = await first.client(seller_user)
        deal_ids = []
        for n in range(4):
            body = {"title": f"Deal {n}", "pipeline_id": pipeline_id, "stage_id": stages["Qualify"]}
            deal_ids.append((await seller.post("/api/v1/deals", json=body)).json()["id"])
        await seller.post(f"/api/v1/deals/{deal_ids[0]}/move", json={"stage_id": stages["Offer"]})
        await eventually(lambda: _tasks_are(first.sessions, 1))
    finally:
        await first.close()

    # Moves made while no service runs, by a script's own sessions (no bell rings for them).
    sessions = first.sessions
    async with sessions.begin() as db:
        mover = DealMoveService(db, seller_user.principal)
        for deal_id in deal_ids[1:]:
            await mover.move(deal_id, stages["Offer"])

    instances = [await _start(database_url), await _start(database_url)]
    try:
        await eventually(lambda: _tasks_are(instances[0].sessions, 4))
        # Let the instances pass a few more times (on PostgreSQL one waits on the lock): nothing
        # more may happen.
        leader = max((h.app[ROBOT_RUNNER] for h in instances), key=lambda r: r.passes)
        passes = leader.passes
        await eventually(lambda: _after(leader, passes + 3))
        assert await count_tasks(instances[0].sessions) == 4
        async with instances[0].sessions() as db:
            per_deal = dict(
                (
                    await db.execute(
                        select(Activity.deal_id, func.count(Activity.id))
                        .where(Activity.kind == "task")
                        .group_by(Activity.deal_id)
                    )
                ).all()
            )
            effects = await db.scalar(select(func.count(RobotEffect.id)))
        assert per_deal == {deal_id: 1 for deal_id in deal_ids}
        assert effects == 4
    finally:
        for harness in instances:
            await harness.close()


async def _tasks_are(sessions: async_sessionmaker[AsyncSession], count: int) -> bool:
    return await count_tasks(sessions) == count


async def test_heads_list_stuck_deals_by_seller_and_sellers_their_own(api: ApiHarness) -> None:
    head = await api.client("head")
    anna = await api.client("seller")
    boris = await api.client("seller")
    pipeline_id, stages = await _pipeline(head)
    made = await head.post(
        _robots(pipeline_id, stages["Qualify"]),
        json={"trigger": "stuck", "action": "nudge", "params": {"days": 3, "mark_stalled": True}},
    )
    assert made.status == 201, made.text
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=6)
    for seller, titles in ((anna, ["A1", "A2"]), (boris, ["B1"])):
        assert seller.user is not None
        async with api.sessions.begin() as db:
            deals = DealService(db, seller.user.principal, clock=lambda: long_ago)
            for title in titles:
                await deals.create(title, pipeline_id=pipeline_id, stage_id=stages["Qualify"])

    answer = (await head.get("/api/v1/stuck-deals")).json()
    assert answer["total"] == 3
    assert [(s["count"], [d["title"] for d in s["deals"]]) for s in answer["sellers"]] == [
        (2, ["A1", "A2"]),
        (1, ["B1"]),
    ]
    first = answer["sellers"][0]["deals"][0]
    assert (first["idle_days"], first["threshold_days"], first["stalled"]) == (6, 3, False)
    own = (await boris.get("/api/v1/stuck-deals")).json()
    assert [d["title"] for s in own["sellers"] for d in s["deals"]] == ["B1"]
    elsewhere = await head.get("/api/v1/stuck-deals", params={"pipeline_id": pipeline_id + 1})
    assert elsewhere.json()["total"] == 0
