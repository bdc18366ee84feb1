"""Campaigns over HTTP: CRUD for heads only, the campaign report and the planned campaign."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from crmlite.db.models import Activity
from crmlite.services.campaigns import attribute_call, record_touch
from tests.integration.reports_world import DID, FEB, JAN, build_world
from tests.support.api import ApiHarness

pytestmark = pytest.mark.db


async def test_heads_manage_campaigns_sellers_may_not(api: ApiHarness) -> None:
    head = await api.client("head")
    seller = await api.client("seller")
    created = await head.post("/api/v1/campaigns", json={"name": "Radio", "channel": "radio"})
    assert created.status == 201, created.text
    campaign = created.json()
    assert (campaign["name"], campaign["active"], campaign["sources"]) == ("Radio", True, [])
    url = f"/api/v1/campaigns/{campaign['id']}"

    source = await head.post(f"{url}/sources", json={"kind": "did", "value": DID})
    assert source.status == 201, source.text
    clash = await head.post(f"{url}/sources", json={"kind": "did", "value": DID})
    assert clash.status == 409
    cost = await head.post(
        f"{url}/costs",
        json={
            "period_start": "2026-01-01",
            "period_end": "2026-01-31",
            "amount": "500.00",
            "currency": "usd",
        },
    )
    assert cost.status == 201, cost.text
    assert (cost.json()["amount"], cost.json()["currency"]) == ("500.00", "USD")
    float_amount = await head.post(
        f"{url}/costs",
        json={"period_start": "2026-01-01", "period_end": "2026-01-31", "amount": 5.5,
              "currency": "USD"},
    )  # fmt: skip
    assert float_amount.status == 422

    renamed = await head.patch(url, json={"name": "Radio FM", "active": False})
    assert (renamed.json()["name"], renamed.json()["active"]) == ("Radio FM", False)
    listed = (await head.get("/api/v1/campaigns")).json()
    assert [(c["name"], len(c["sources"]), len(c["costs"])) for c in listed] == [("Radio FM", 1, 1)]
    duplicate = await head.post("/api/v1/campaigns", json={"name": "Radio FM"})
    assert duplicate.status == 409

    assert (await seller.get("/api/v1/campaigns")).status == 403
    assert (await seller.post("/api/v1/campaigns", json={"name": "Mine"})).status == 403
    assert (await seller.delete(url)).status == 403

    removed_source = await head.delete(f"{url}/sources/{source.json()['id']}")
    assert removed_source.status == 204
    assert (await head.delete(f"{url}/sources/{source.json()['id']}")).status == 404
    assert (await head.delete(url)).status == 204
    assert (await head.get(url)).status == 404


async def test_campaign_report_and_plan_over_http(api: ApiHarness) -> None:
    head_user = await api.create_user("head")
    head = await api.client(head_user)
    world = await build_world(api.sessions, {"head": head_user.id})
    campaign = (await head.post("/api/v1/campaigns", json={"name": "Yandex"})).json()
    url = f"/api/v1/campaigns/{campaign['id']}"
    await head.post(
        f"{url}/sources", json={"kind": "did", "value": DID, "active_from": JAN.isoformat()}
    )
    for start, end, amount in (
        ("2025-12-15", "2026-01-15", "32000"),
        ("2026-01-16", "2026-02-14", "30000"),
    ):
        await head.post(
            f"{url}/costs",
            json={"period_start": start, "period_end": end, "amount": amount, "currency": "RUB"},
        )  # fmt: skip
    async with api.sessions.begin() as db:
        calls = (
            await db.execute(
                select(Activity.id, Activity.to_number, Activity.from_number, Activity.started_at)
                .where(Activity.direction == "inbound")
            )
        ).all()  # fmt: skip
        for call_id, did, caller, started in calls:
            await record_touch(db, await attribute_call(db, did, caller, started), call_id=call_id)

    window = {"since": JAN.isoformat(), "until": FEB.isoformat()}
    report = await head.get("/api/v1/reports/campaigns", params=window)
    assert report.status == 200, report.text
    [yandex] = report.json()
    assert (yandex["calls"], yandex["unique_callers"], yandex["missed"]) == (8, 6, 5)
    assert yandex["cost"] == {"RUB": "31000.00"}
    assert yandex["roi"] == {"RUB": -1.0}
    assert yandex["cost_per_lead"] == {"RUB": None}

    plan = await head.get(
        "/api/v1/reports/campaign-plan",
        params=window | {"pipeline_id": world.pipeline_id, "leads": 100, "cost": "10000",
                         "currency": "RUB"},
    )  # fmt: skip
    assert plan.status == 200, plan.text
    body = plan.json()
    assert [(s["stage"]["name"], s["expected"]) for s in body["steps"]] == [
        ("Lead", 100.0),
        ("Demo", 66.7),
        ("Proposal", 33.3),
    ]
    assert (body["won"], body["revenue"], body["roi"]) == (
        33.3,
        {"RUB": "16666.67", "USD": "8333.33"},
        0.6667,
    )
    seller = await api.client("seller")
    assert (await seller.get("/api/v1/reports/campaigns", params=window)).status == 403
