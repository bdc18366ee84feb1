"""Scores through the API on real SQLite and PostgreSQL: who sees them, rules, training, sorting."""

from __future__ import annotations

from sqlalchemy import select

from crmlite.db.models import Stage
from crmlite.services.contacts import ContactService
from crmlite.services.deals import DealService
from crmlite.services.scoring import rescore, scorer_in_force
from tests.integration.scoring_support import NOW
from tests.support.api import ApiClient, ApiHarness


async def _deal(api: ApiHarness, seller: ApiClient, name: str, amount: str) -> tuple[int, int]:
    assert seller.user is not None
    async with api.sessions.begin() as db:
        contact = await ContactService(db, seller.user.principal).create(name)
        stage = await db.scalar(
            select(Stage.id).where(Stage.kind == "open", Stage.is_unsorted.is_(False)).limit(1)
        )
        deal = await DealService(db, seller.user.principal).create(
            f"{name}'s deal", contact_id=contact.id, stage_id=stage, amount=amount
        )
        return contact.id, deal.id


async def test_scores_are_read_sorted_and_configured_by_role(api: ApiHarness) -> None:
    anna = await api.client("seller")
    boris = await api.client("seller")
    head = await api.client("head")
    admin = await api.client("admin")
    small_contact, small = await _deal(api, anna, "Small", "10")
    big_contact, big = await _deal(api, anna, "Big", "2000000")
    answer = await admin.put(
        "/api/v1/scoring/rules",
        json={"base": 50, "rules": [{"id": "big", "feature": "amount", "at_least": 1000}]},
    )
    assert answer.status == 422
    assert "rules[0]" in answer.text
    answer = await admin.put(
        "/api/v1/scoring/rules",
        json={
            "base": 50,
            "rules": [{"id": "big", "feature": "amount", "at_least": 1000, "points": 30}],
        },
    )
    assert answer.status == 200, answer.text
    assert answer.json()["rules_version"] is not None
    assert (await head.put("/api/v1/scoring/rules", json={"rules": []})).status == 403

    async with api.sessions.begin() as db:
        await rescore(db, await scorer_in_force(db), NOW, contact_ids=[small_contact, big_contact])

    score = (await anna.get(f"/api/v1/deals/{big}/score")).json()
    assert score["score"] == 80
    assert score["factors"] == [
        {"rule": "big", "feature": "amount", "value": 2000000.0, "points": 30}
    ]
    assert (await anna.get(f"/api/v1/contacts/{small_contact}/score")).json()["score"] == 50
    assert (await boris.get(f"/api/v1/deals/{big}/score")).status == 404

    listed = (await anna.get("/api/v1/deals", params={"sort": "-score"})).json()["items"]
    assert [d["id"] for d in listed] == [big, small]
    listed = (await anna.get("/api/v1/deals", params={"sort": "score"})).json()["items"]
    assert [d["id"] for d in listed] == [small, big]

    listed = (await anna.get("/api/v1/contacts", params={"sort": "-score"})).json()["items"]
    assert [(c["id"], c["score"]) for c in listed] == [(big_contact, 80), (small_contact, 50)]
    listed = (await anna.get("/api/v1/contacts")).json()["items"]
    assert [c["id"] for c in listed] == [big_contact, small_contact]  # by name: Big, Small

    pipeline = next(p for p in (await anna.get("/api/v1/pipelines")).json() if p["is_default"])
    board = (await anna.get(f"/api/v1/board/{pipeline['id']}")).json()
    cards = {c["id"]: c["score"] for column in board["columns"] for c in column["cards"]}
    assert cards == {small: 50, big: 80}

    status = await head.get("/api/v1/scoring")
    assert status.status == 200
    assert status.json()["method"] == "rules"
    assert (await anna.get("/api/v1/scoring")).status == 403
    trained = await head.post("/api/v1/scoring/train")
    assert trained.status == 200, trained.text
    assert trained.json()["status"] == "too-few"
