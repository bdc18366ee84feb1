"""The pool through the API on real SQLite and PostgreSQL: claim, limit, races, release, assign."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from crmlite.db.models import Deal, Stage
from crmlite.services.contacts import ContactService
from crmlite.services.deals import DealService
from tests.support.api import ApiClient, ApiHarness, start_api


@pytest.fixture
async def pool_api(database_url: str) -> AsyncIterator[ApiHarness]:
    """The service with a small limit, so a seller reaches it in a test."""
    harness = await start_api(database_url, settings={"pool": {"max_held": 2}})
    yield harness
    await harness.close()


def uid(client: ApiClient) -> int:
    assert client.user is not None
    return client.user.id


async def held_by(api: ApiHarness, seller: ApiClient, name: str, *, deal: bool = False) -> int:
    assert seller.user is not None
    async with api.sessions.begin() as db:
        contact = await ContactService(db, seller.user.principal).create(name)
        if deal:
            stage = await db.scalar(
                select(Stage.id).where(Stage.kind == "open", Stage.is_unsorted.is_(False)).limit(1)
            )
            await DealService(db, seller.user.principal).create(
                f"{name}'s deal", contact_id=contact.id, stage_id=stage
            )
        return contact.id


async def in_pool(api: ApiHarness, name: str, *, released_by: ApiClient | None = None) -> int:
    """A contact in the pool: released by a seller who held it, or by a head when none given."""
    if released_by is None:
        released_by = await api.client("head")
    contact_id = await held_by(api, released_by, name)
    answer = await released_by.post(
        f"/api/v1/contacts/{contact_id}/release", json={"reason": "no budget this year"}
    )
    assert answer.status == 200, answer.text
    return contact_id


async def test_a_seller_claims_a_released_contact_with_its_open_deals(api: ApiHarness) -> None:
    anna = await api.client("seller", display_name="Anna")
    boris = await api.client("seller")
    contact_id = await held_by(api, anna, "Pooled Pavel", deal=True)

    released = await anna.post(
        f"/api/v1/contacts/{contact_id}/release", json={"reason": "moved abroad"}
    )
    assert released.status == 200, released.text
    assert released.json()["owner_id"] is None
    assert released.json()["pooled_at"] is not None
    async with api.sessions() as db:
        assert set(await db.scalars(select(Deal.owner_id))) == {None}  # the deal went along

    pool = (await boris.get("/api/v1/pool")).json()
    [entry] = pool["items"]
    assert entry["contact_id"] == contact_id
    assert (entry["kind"], entry["reason"], entry["times_returned"]) == (
        "released",
        "moved abroad",
        1,
    )
    assert (entry["previous_owner_id"], entry["previous_owner_name"]) == (uid(anna), "Anna")

    claimed = await boris.post(f"/api/v1/contacts/{contact_id}/claim")
    assert claimed.status == 200, claimed.text
    assert claimed.json()["owner_id"] == uid(boris)
    assert claimed.json()["pooled_at"] is None
    assert claimed.json()["owned_since"] is not None
    async with api.sessions() as db:
        assert set(await db.scalars(select(Deal.owner_id))) == {uid(boris)}
    assert (await boris.get("/api/v1/pool")).json()["total"] == 0
    assert (await boris.get(f"/api/v1/contacts/{contact_id}")).status == 200
    assert (await anna.get(f"/api/v1/contacts/{contact_id}")).status == 404

    again = await anna.post(f"/api/v1/contacts/{contact_id}/claim")
    assert again.status == 409
    assert again.json()["slug"] == "already-claimed"

    history = (await boris.get(f"/api/v1/contacts/{contact_id}/pool-events")).json()
    assert [(e["kind"], e["reason"]) for e in history] == [
        ("released", "moved abroad"),
        ("claimed", None),
    ]
    assert history[0]["from_user_name"] == "Anna"
    assert history[1]["to_user_id"] == uid(boris)


async def test_a_claim_over_the_limit_is_refused_saying_the_limit(pool_api: ApiHarness) -> None:
    seller = await pool_api.client("seller")
    await held_by(pool_api, seller, "Already mine")
    first = await in_pool(pool_api, "First")
    second = await in_pool(pool_api, "Second")

    assert (await seller.post(f"/api/v1/contacts/{first}/claim")).status == 200
    refused = await seller.post(f"/api/v1/contacts/{second}/claim")

    assert refused.status == 409
    assert refused.content_type == "application/problem+json"
    problem = refused.json()
    assert problem["slug"] == "pool-limit-reached"
    assert problem["details"] == {"max_held": 2, "held": 2}
    assert "2" in problem["detail"]
    pool = (await seller.get("/api/v1/pool")).json()
    assert [e["contact_id"] for e in pool["items"]] == [second]  # still in the pool


async def test_a_seller_may_not_reclaim_what_came_back_from_them(api: ApiHarness) -> None:
    anna = await api.client("seller")
    boris = await api.client("seller")
    contact_id = await in_pool(api, "Boomerang", released_by=anna)

    refused = await anna.post(f"/api/v1/contacts/{contact_id}/claim")

    assert refused.status == 409
    assert refused.json()["slug"] == "reclaim-cooldown"
    assert "until" in refused.json()["details"]
    assert (await boris.post(f"/api/v1/contacts/{contact_id}/claim")).status == 200


async def test_two_sellers_claiming_at_once_exactly_one_wins(api: ApiHarness) -> None:
    sellers = [await api.client("seller") for _ in range(2)]
    contacts = [await in_pool(api, f"Raced {n}") for n in range(4)]

    for contact_id in contacts:
        answers = await asyncio.gather(
            *(s.post(f"/api/v1/contacts/{contact_id}/claim") for s in sellers)
        )
        assert sorted(a.status for a in answers) == [200, 409], [a.text for a in answers]
        loser = next(a for a in answers if a.status == 409)
        assert loser.json()["slug"] == "already-claimed"
        history = (await api.client("head")).get(f"/api/v1/contacts/{contact_id}/pool-events")
        kinds = [e["kind"] for e in (await history).json()]
        assert kinds.count("claimed") == 1


async def test_one_sellers_racing_claims_hold_the_limit(pool_api: ApiHarness) -> None:
    seller = await pool_api.client("seller")
    await held_by(pool_api, seller, "Already mine")  # one left under max_held = 2
    contacts = [await in_pool(pool_api, f"Wanted {n}") for n in range(4)]

    answers = await asyncio.gather(*(seller.post(f"/api/v1/contacts/{c}/claim") for c in contacts))

    assert sorted(a.status for a in answers) == [200, 409, 409, 409], [a.text for a in answers]
    assert {a.json()["slug"] for a in answers if a.status == 409} == {"pool-limit-reached"}
    mine = await seller.get("/api/v1/contacts")
    assert mine.json()["total"] == 2


async def test_heads_assign_from_the_pool_and_sellers_may_not(api: ApiHarness) -> None:
    head = await api.client("head")
    anna = await api.client("seller")
    contact_id = await in_pool(api, "Given Galina")

    refused = await anna.post(
        f"/api/v1/contacts/{contact_id}/assign",
        json={"user_id": uid(anna)},
    )
    assert refused.status == 403
    given = await head.post(
        f"/api/v1/contacts/{contact_id}/assign",
        json={"user_id": uid(anna)},
    )
    assert given.status == 200, given.text
    assert given.json()["owner_id"] == uid(anna)
    history = (await anna.get(f"/api/v1/contacts/{contact_id}/pool-events")).json()
    assert [e["kind"] for e in history] == ["released", "assigned"]
    assert history[-1]["by_user_id"] == uid(head)


async def test_release_needs_a_reason_and_a_held_contact(api: ApiHarness) -> None:
    anna = await api.client("seller")
    boris = await api.client("seller")
    contact_id = await held_by(api, anna, "Kept Kira")

    assert (
        await anna.post(f"/api/v1/contacts/{contact_id}/release", json={"reason": ""})
    ).status == 422
    # Somebody else's contact reads as not found.
    assert (
        await boris.post(f"/api/v1/contacts/{contact_id}/release", json={"reason": "mine now"})
    ).status == 404
    assert (
        await anna.post(f"/api/v1/contacts/{contact_id}/release", json={"reason": "done"})
    ).status == 200
    head = await api.client("head")
    twice = await head.post(f"/api/v1/contacts/{contact_id}/release", json={"reason": "again"})
    assert twice.status == 409
    assert twice.json()["slug"] == "not-held"
