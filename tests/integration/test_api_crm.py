"""The CRM's REST API over a real socket, on SQLite and PostgreSQL: RBAC, 409s, money, board."""

from __future__ import annotations

from typing import Any

from crmlite.domain.principal import SYSTEM
from crmlite.services.deals import DealService
from tests.support.api import ApiClient, ApiHarness


async def _sales(client: ApiClient) -> dict[str, Any]:
    response = await client.get("/api/v1/pipelines")
    assert response.status == 200, response.text
    pipeline: dict[str, Any] = response.json()[0]
    pipeline["stage"] = {s["name"]: s["id"] for s in pipeline["stages"]}
    return pipeline


async def _deal(client: ApiClient, **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/deals", json={"title": "Deal", **fields})
    assert response.status == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_duplicate_phone_answers_409_naming_the_contact(api: ApiHarness) -> None:
    anna = await api.client("seller")
    boris = await api.client("seller")
    created = await anna.post(
        "/api/v1/contacts",
        json={"name": "Ivan Petrov", "phones": [{"raw": "+7 495 123-45-67"}]},
    )
    assert created.status == 201, created.text
    contact = created.json()
    assert contact["phones"][0]["normalized"] == "+74951234567"
    for form in ["8 (495) 123 45 67", "84951234567", "+7 495 123-45-67"]:
        clash = await boris.post(
            "/api/v1/contacts", json={"name": "Someone", "phones": [{"raw": form}]}
        )
        assert clash.status == 409, clash.text
        assert clash.content_type == "application/problem+json"
        problem = clash.json()
        assert problem["slug"] == "duplicate-phone"
        assert problem["details"]["contact_id"] == contact["id"]
        assert problem["details"]["contact_name"] == "Ivan Petrov"
    found = await anna.get("/api/v1/contacts/by-phone", params={"phone": "84951234567"})
    assert found.status == 200, found.text
    assert found.json()["id"] == contact["id"]
    hidden = await boris.get("/api/v1/contacts/by-phone", params={"phone": "84951234567"})
    assert hidden.status == 404
    assert (await boris.get(f"/api/v1/contacts/{contact['id']}")).status == 404
    listed = await anna.get("/api/v1/contacts", params={"q": "8 495 123 45 67"})
    assert [c["id"] for c in listed.json()["items"]] == [contact["id"]]


async def test_a_seller_cannot_reach_another_sellers_deal_by_any_route(api: ApiHarness) -> None:
    anna = await api.client("seller")
    boris = await api.client("seller")
    assert anna.user is not None
    sales = await _sales(anna)
    contact = (await anna.post("/api/v1/contacts", json={"name": "Olga"})).json()
    deal = await _deal(anna, title="Anna's deal", amount="100.00", contact_id=contact["id"])
    mine = await _deal(boris, title="Boris's deal")
    url = f"/api/v1/deals/{deal['id']}"
    attempts = [
        await boris.get(url),
        await boris.get(f"{url}/history"),
        await boris.patch(url, json={"title": "taken"}),
        await boris.post(f"{url}/move", json={"stage_id": sales["stage"]["Won"]}),
        await boris.post(f"{url}/claim"),
        await boris.delete(url),
        await boris.post(
            "/api/v1/deals/bulk",
            json={"deal_ids": [mine["id"], deal["id"]], "stage_id": sales["stage"]["Won"]},
        ),
        await boris.post(
            "/api/v1/activities", json={"kind": "note", "deal_id": deal["id"], "body": "x"}
        ),
        await boris.post("/api/v1/tasks", json={"title": "call", "deal_id": deal["id"]}),
    ]
    assert [a.status for a in attempts] == [404] * len(attempts), [a.text for a in attempts]
    listed = await boris.get("/api/v1/deals", params={"owner": str(anna.user.id)})
    assert listed.json()["total"] == 0
    everything = await boris.get("/api/v1/deals")
    assert [d["id"] for d in everything.json()["items"]] == [mine["id"]]
    board = (await boris.get(f"/api/v1/board/{sales['id']}")).json()
    on_board = [card["id"] for column in board["columns"] for card in column["cards"]]
    assert on_board == [mine["id"]]
    unsorted = sales["stage"]["Unsorted"]
    column = await boris.get(f"/api/v1/board/{sales['id']}/columns/{unsorted}")
    assert [card["id"] for card in column.json()["cards"]] == [mine["id"]]
    searched = await boris.get("/api/v1/deals", params={"q": "Anna"})
    assert searched.json()["total"] == 0
    unchanged = await anna.get(url)
    assert unchanged.status == 200
    assert unchanged.json()["title"] == "Anna's deal"
    assert unchanged.json()["version"] == 1
    assert unchanged.json()["stage_name"] == "Unsorted"
    assert (await boris.get("/api/v1/activities", params={"deal_id": deal["id"]})).json()[
        "total"
    ] == 0


async def test_moves_history_and_exact_money_over_http(api: ApiHarness) -> None:
    anna = await api.browser("seller")
    sales = await _sales(anna)
    deal = await _deal(anna, amount="1234.50", currency="rub")
    assert (deal["amount"], deal["currency"], deal["status"]) == ("1234.50", "RUB", "open")
    floaty = await anna.post("/api/v1/deals", json={"title": "x", "amount": 12.5})
    assert floaty.status == 422
    lost = await anna.post(
        f"/api/v1/deals/{deal['id']}/move", json={"stage_id": sales["stage"]["Lost"]}
    )
    assert lost.status == 422
    assert lost.json()["errors"][0]["field"] == "lost_reason"
    won = await anna.post(
        f"/api/v1/deals/{deal['id']}/move",
        json={"stage_id": sales["stage"]["Won"], "expected_version": 1},
    )
    assert won.status == 200, won.text
    assert won.json()["status"] == "won"
    assert won.json()["closed_at"] is not None
    stale = await anna.post(
        f"/api/v1/deals/{deal['id']}/move",
        json={"stage_id": sales["stage"]["Proposal"], "expected_version": 1},
    )
    assert stale.status == 409
    assert stale.json()["slug"] == "stale-version"
    history = (await anna.get(f"/api/v1/deals/{deal['id']}/history")).json()
    assert [(h["from_stage_name"], h["to_stage_name"]) for h in history] == [
        (None, "Unsorted"),
        ("Unsorted", "Won"),
    ]


async def test_board_counts_and_sums_per_currency(api: ApiHarness) -> None:
    head = await api.client("head")
    seller = await api.client("seller")
    sales = await _sales(head)
    proposal = sales["stage"]["Proposal"]
    for amount in ["0.10", "0.20", "1000.00"]:
        await _deal(seller, stage_id=proposal, amount=amount)
    await _deal(seller, stage_id=proposal, amount="5.55", currency="USD")
    async with api.sessions.begin() as session:
        unowned = await DealService(session, SYSTEM).create("Inbound call", source="call")
    response = await head.get(f"/api/v1/board/{sales['id']}", params={"limit": "2"})
    assert response.status == 200, response.text
    columns = response.json()["columns"]
    assert columns[0]["name"] == "Unsorted"
    column = next(c for c in columns if c["stage_id"] == proposal)
    assert column["count"] == 4
    assert column["amounts"] == {"RUB": "1000.30", "USD": "5.55"}
    assert len(column["cards"]) == 2
    rest = await head.get(
        f"/api/v1/board/{sales['id']}/columns/{proposal}",
        params={"limit": "2", "cursor": column["next_cursor"]},
    )
    assert rest.status == 200, rest.text
    assert rest.json()["next_cursor"] is None
    ids = [c["id"] for c in column["cards"]] + [c["id"] for c in rest.json()["cards"]]
    assert ids == sorted(ids, reverse=True)
    assert len(set(ids)) == 4
    seller_board = (await seller.get(f"/api/v1/board/{sales['id']}")).json()
    unsorted = seller_board["columns"][0]
    assert [c["id"] for c in unsorted["cards"]] == [unowned.id]
    assert unsorted["count"] == 1
    claimed = await seller.post(f"/api/v1/deals/{unowned.id}/claim")
    assert claimed.status == 200, claimed.text
    assert seller.user is not None
    assert claimed.json()["owner_id"] == seller.user.id


async def test_pipeline_stage_removal_asks_where_deals_go(api: ApiHarness) -> None:
    head = await api.client("head")
    seller = await api.client("seller")
    sales = await _sales(head)
    proposal, negotiation = sales["stage"]["Proposal"], sales["stage"]["Negotiation"]
    deal = await _deal(seller, stage_id=proposal)
    url = f"/api/v1/pipelines/{sales['id']}/stages/{proposal}"
    assert (await seller.delete(url)).status == 403
    refused = await head.delete(url)
    assert refused.status == 409
    assert refused.json()["slug"] == "stage-not-empty"
    removed = await head.delete(url, params={"move_to_stage_id": str(negotiation)})
    assert removed.status == 200, removed.text
    assert "Proposal" not in [s["name"] for s in removed.json()["stages"]]
    moved = (await seller.get(f"/api/v1/deals/{deal['id']}")).json()
    assert moved["stage_id"] == negotiation
    spec = (await head.get("/api/openapi.json")).json()
    assert "/api/v1/board/{pipeline_id}" in spec["paths"]
    assert "/api/v1/deals/{id}/move" in spec["paths"]
