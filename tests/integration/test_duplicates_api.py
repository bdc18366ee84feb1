"""Duplicates and merge over HTTP: the list, the merge, and how a merged id answers afterwards."""

from __future__ import annotations

from crmlite.domain.principal import Role
from tests.support.api import ApiClient, ApiHarness


async def _create(client: ApiClient, **contact: object) -> int:
    response = await client.post("/api/v1/contacts", json=contact)
    assert response.status == 201, response.text
    return int(response.json()["id"])


async def _status_and_location(client: ApiClient, path: str) -> tuple[int, str | None]:
    async with client.http.get(
        path, allow_redirects=False, headers=client.default_headers
    ) as response:
        return response.status, response.headers.get("Location")


async def test_a_head_lists_duplicates_and_merges_them(api: ApiHarness) -> None:
    head = await api.client(Role.HEAD)
    seller = await api.client(Role.SELLER)
    into = await _create(
        head, name="Ivan Petrov", company="Romashka", phones=[{"raw": "+7 495 123-45-67"}]
    )
    other = await _create(
        head,
        name="Иван Петров",
        company="ООО «Ромашка»",
        email="petrov@mail.ru",
        phones=[{"raw": "+7 999 765-43-21"}],
        owner_id=seller.user.id if seller.user else None,
    )
    listed = await head.get(f"/api/v1/contacts/{into}/duplicates")
    assert listed.status == 200, listed.text
    assert listed.json() == {
        "items": [
            {
                "contact_id": other,
                "name": "Иван Петров",
                "company": "ООО «Ромашка»",
                "owner_id": seller.user.id if seller.user else None,
                "score": 90,
                "reasons": ["name", "company"],
            }
        ],
        "hidden": 0,
    }
    assert (
        await seller.post(f"/api/v1/contacts/{into}/merge", json={"from_id": other})
    ).status == 404

    merged = await head.post(
        f"/api/v1/contacts/{into}/merge", json={"from_id": other, "keep": {"name": "from"}}
    )
    assert merged.status == 200, merged.text
    body = merged.json()
    assert body["survivor"]["name"] == "Иван Петров"
    assert body["survivor"]["email"] == "petrov@mail.ru"
    assert sorted(p["normalized"] for p in body["survivor"]["phones"]) == [
        "+74951234567",
        "+79997654321",
    ]
    assert body["keep"] == {"name": "from", "company": "into", "owner_id": "into"}

    assert await _status_and_location(head, f"/api/v1/contacts/{other}") == (
        301,
        f"/api/v1/contacts/{into}",
    )
    followed = await head.get(f"/api/v1/contacts/{other}")
    assert (followed.status, followed.json()["id"]) == (200, into)
    gone = await seller.get(f"/api/v1/contacts/{other}")
    assert gone.status == 410, gone.text
    assert gone.content_type == "application/problem+json"
    assert gone.json()["slug"] == "contact-merged"
    assert gone.json()["details"]["survivor_id"] == into
    again = await head.post(f"/api/v1/contacts/{into}/merge", json={"from_id": other})
    assert (again.status, again.json()["slug"]) == (410, "contact-merged")
    assert (await head.get("/api/v1/contacts/999999")).status == 404


async def test_bad_merge_requests_are_refused(api: ApiHarness) -> None:
    head = await api.client(Role.HEAD)
    one = await _create(head, name="Olga")
    same = await head.post(f"/api/v1/contacts/{one}/merge", json={"from_id": one})
    assert same.status == 422, same.text
    bad_keep = await head.post(
        f"/api/v1/contacts/{one}/merge", json={"from_id": 2, "keep": {"phones": "from"}}
    )
    assert bad_keep.status == 422, bad_keep.text
