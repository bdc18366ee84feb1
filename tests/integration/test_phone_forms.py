"""Phones in request bodies: a plain string as people type it, or ``{"raw", "label"}``."""

from __future__ import annotations

from tests.support.api import ApiHarness


async def test_contact_takes_phones_as_strings_and_objects(api: ApiHarness) -> None:
    seller = await api.client("seller")
    response = await seller.post(
        "/api/v1/contacts",
        json={
            "name": "Ирина Петрова",
            "phones": ["+7 495 123-45-67", {"raw": "8 916 111 22 33", "label": "mobile"}],
        },
    )
    assert response.status == 201, response.text
    body = response.json()
    assert [(p["raw"], p["normalized"], p["label"]) for p in body["phones"]] == [
        ("+7 495 123-45-67", "+74951234567", None),
        ("8 916 111 22 33", "+79161112233", "mobile"),
    ]
    added = await seller.post(f"/api/v1/contacts/{body['id']}/phones", json="8 (903) 555-66-77")
    assert added.status == 201, added.text
    assert added.json()["phones"][-1]["normalized"] == "+79035556677"
    labelled = await seller.post(
        f"/api/v1/contacts/{body['id']}/phones", json={"raw": "101", "label": "desk"}
    )
    assert labelled.status == 201, labelled.text
    assert labelled.json()["phones"][-1]["label"] == "desk"


async def test_wrong_phone_shapes_are_refused_per_field(api: ApiHarness) -> None:
    seller = await api.client("seller")
    for phones, field in (([74951234567], "phones.0"), ([""], "phones.0.raw"),
                          ([{"label": "work"}], "phones.0.raw")):  # fmt: skip
        response = await seller.post("/api/v1/contacts", json={"name": "X", "phones": phones})
        assert response.status == 422, response.text
        assert any(e["field"].startswith(field) for e in response.json()["errors"]), response.text
    taken = await seller.post("/api/v1/contacts", json={"name": "A", "phones": ["+79160000001"]})
    assert taken.status == 201
    again = await seller.post("/api/v1/contacts", json={"name": "B", "phones": ["89160000001"]})
    assert again.status == 409


async def test_openapi_describes_both_shapes(api: ApiHarness) -> None:
    document = (await api.anonymous().get("/api/openapi.json")).json()
    phone = document["components"]["schemas"]["PhoneIn"]
    shapes = {variant["type"]: variant for variant in phone["anyOf"]}
    assert set(shapes) == {"string", "object"}
    assert set(shapes["object"]["properties"]) == {"raw", "label"}
    assert shapes["object"]["required"] == ["raw"]
    create = document["components"]["schemas"]["ContactCreate"]["properties"]["phones"]
    assert create["items"] == {"$ref": "#/components/schemas/PhoneIn"}
    add = document["paths"]["/api/v1/contacts/{id}/phones"]["post"]["requestBody"]
    assert add["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/PhoneIn"}
