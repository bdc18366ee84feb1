"""More of the CRM API over a real socket: edits, deletes, activities, tasks, lists, validation."""

from __future__ import annotations

from tests.support.api import ApiHarness


async def test_contact_edit_phones_and_delete(api: ApiHarness) -> None:
    anna = await api.client("seller")
    created = await anna.post(
        "/api/v1/contacts",
        json={
            "name": "Olga",
            "company": "Acme",
            "email": "olga@acme.test",
            "phones": [{"raw": "101", "label": "desk"}],
        },
    )
    assert created.status == 201, created.text
    contact = created.json()
    assert contact["phones"][0]["kind"] == "extension"
    url = f"/api/v1/contacts/{contact['id']}"
    edited = await anna.patch(url, json={"company": None, "name": "Olga K."})
    assert edited.status == 200, edited.text
    assert (edited.json()["name"], edited.json()["company"], edited.json()["email"]) == (
        "Olga K.",
        None,
        "olga@acme.test",
    )
    added = await anna.post(f"{url}/phones", json={"raw": "8 999 111 22 33"})
    assert added.status == 201, added.text
    phones = added.json()["phones"]
    assert [p["normalized"] for p in phones] == ["101", "+79991112233"]
    removed = await anna.delete(f"{url}/phones/{phones[0]['id']}")
    assert [p["normalized"] for p in removed.json()["phones"]] == ["+79991112233"]
    bad = await anna.post("/api/v1/contacts", json={"name": "X", "phones": [{"raw": "abc"}]})
    assert bad.status == 422
    assert bad.json()["errors"][0]["field"] == "phones.0.raw"
    deal = await anna.post("/api/v1/deals", json={"title": "Car", "contact_id": contact["id"]})
    assert (await anna.delete(url)).status == 204
    assert (await anna.get(url)).status == 404
    kept = await anna.get(f"/api/v1/deals/{deal.json()['id']}")
    assert kept.json()["contact_id"] is None


async def test_notes_calls_and_tasks_over_http(api: ApiHarness) -> None:
    anna = await api.client("seller")
    head = await api.client("head")
    assert anna.user is not None
    deal = (await anna.post("/api/v1/deals", json={"title": "Car"})).json()
    note = await anna.post(
        "/api/v1/activities", json={"kind": "note", "deal_id": deal["id"], "body": "wants red"}
    )
    assert note.status == 201, note.text
    call = await anna.post(
        "/api/v1/activities",
        json={
            "kind": "call",
            "deal_id": deal["id"],
            "direction": "outbound",
            "to_number": "+74951234567",
            "duration_s": 42,
            "outcome": "answered",
        },
    )
    assert call.status == 201, call.text
    listed = await anna.get("/api/v1/activities", params={"deal_id": str(deal["id"])})
    assert [a["kind"] for a in listed.json()["items"]] == ["call", "note"]
    unknown = await anna.post("/api/v1/activities", json={"kind": "fax", "deal_id": deal["id"]})
    assert unknown.status == 422
    given = await head.post(
        "/api/v1/tasks",
        json={
            "title": "Send offer",
            "assignee_id": anna.user.id,
            "deal_id": deal["id"],
            "due_at": "2030-01-02T10:00:00+00:00",
        },
    )
    assert given.status == 201, given.text
    mine = await anna.get("/api/v1/tasks", params={"assignee": "mine", "open": "true"})
    assert [t["title"] for t in mine.json()["items"]] == ["Send offer"]
    done = await anna.patch(f"/api/v1/tasks/{given.json()['id']}", json={"done": True})
    assert done.status == 200, done.text
    assert done.json()["done_at"] is not None
    still_open = await anna.get("/api/v1/tasks", params={"open": "true"})
    assert still_open.json()["total"] == 0


async def test_deal_list_filters_sort_and_page(api: ApiHarness) -> None:
    head = await api.client("head")
    pipelines = (await head.get("/api/v1/pipelines")).json()
    stage = {s["name"]: s["id"] for s in pipelines[0]["stages"]}
    for amount, name in [("5.00", "Proposal"), ("1.00", "Won"), ("3.00", "Proposal")]:
        await head.post(
            "/api/v1/deals", json={"title": f"d{amount}", "amount": amount, "stage_id": stage[name]}
        )
    page = await head.get(
        "/api/v1/deals", params={"status": "open", "sort": "amount", "limit": "1", "offset": "1"}
    )
    assert page.status == 200, page.text
    body = page.json()
    assert (body["total"], [d["amount"] for d in body["items"]]) == (2, ["5.00"])
    won = await head.get("/api/v1/deals", params={"status": "won"})
    assert [d["title"] for d in won.json()["items"]] == ["d1.00"]
    by_stage = await head.get(
        "/api/v1/deals", params=[("stage", str(stage["Proposal"])), ("stage", str(stage["Won"]))]
    )
    assert by_stage.json()["total"] == 3
    wrong = await head.get("/api/v1/deals", params={"sort": "password"})
    assert wrong.status == 422


async def test_pipelines_are_read_by_sellers_and_shaped_by_heads(api: ApiHarness) -> None:
    seller = await api.client("seller")
    head = await api.client("head")
    refused = await seller.post("/api/v1/pipelines", json={"name": "Service"})
    assert refused.status == 403
    created = await head.post(
        "/api/v1/pipelines",
        json={
            "name": "Service",
            "stages": [
                {"name": "Booked", "probability": 40},
                {"name": "Paid", "kind": "won", "probability": 100},
            ],
        },
    )
    assert created.status == 201, created.text
    pipeline = created.json()
    assert [s["name"] for s in pipeline["stages"]] == ["Unsorted", "Booked", "Paid"]
    ids = [s["id"] for s in pipeline["stages"]]
    added = await head.post(
        f"/api/v1/pipelines/{pipeline['id']}/stages", json={"name": "In work", "position": 2}
    )
    assert [s["name"] for s in added.json()["stages"]] == ["Unsorted", "Booked", "In work", "Paid"]
    renamed = await head.patch(
        f"/api/v1/pipelines/{pipeline['id']}/stages/{ids[1]}", json={"name": "Booked in"}
    )
    assert renamed.json()["name"] == "Booked in"
    order = [s["id"] for s in added.json()["stages"]]
    reordered = await head.put(
        f"/api/v1/pipelines/{pipeline['id']}/stages/order",
        json={"stage_ids": [order[0], order[2], order[1], order[3]]},
    )
    assert [s["name"] for s in reordered.json()["stages"]] == [
        "Unsorted",
        "In work",
        "Booked in",
        "Paid",
    ]
    assert len((await seller.get("/api/v1/pipelines")).json()) == 2
    deleted = await head.delete(f"/api/v1/pipelines/{pipeline['id']}")
    assert deleted.status == 204
