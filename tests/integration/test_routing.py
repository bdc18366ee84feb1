"""The dialplan asks for the caller's seller: text/plain for CURL(), JSON when asked."""

from __future__ import annotations

import pytest

from crmlite.domain.principal import SYSTEM
from crmlite.services.contacts import ContactService
from crmlite.services.deals import DealService
from crmlite.services.phones import PhoneInput
from tests.support.api import ApiHarness


@pytest.fixture
def routed(api: ApiHarness) -> ApiHarness:
    return api


async def _contact(api: ApiHarness, phone: str, owner_id: int | None) -> int:
    async with api.sessions.begin() as session:
        contact = await ContactService(session, SYSTEM).create(
            "Vera", phones=[PhoneInput(phone)], owner_id=owner_id
        )
    return contact.id


async def test_known_caller_routes_to_owner_extension_as_text(routed: ApiHarness) -> None:
    seller = await routed.create_user("seller", identities=[("extension", "102")])
    await _contact(routed, "+7 916 123-45-67", seller.id)
    pbx = await routed.client("admin", login="pbx")
    answer = await pbx.get("/api/v1/route", params={"caller": "89161234567"})
    assert answer.status == 200
    assert answer.content_type == "text/plain"
    assert answer.text == "102"


async def test_json_answer_names_the_seller(routed: ApiHarness) -> None:
    seller = await routed.create_user("seller", login="olga", identities=[("extension", "102")])
    contact_id = await _contact(routed, "+79161234567", seller.id)
    pbx = await routed.client("admin")
    answer = await pbx.get(
        "/api/v1/route",
        params={"caller": "+79161234567"},
        headers={"Accept": "application/json"},
    )
    assert answer.status == 200
    assert answer.json() == {
        "caller": "+79161234567",
        "normalized": "+79161234567",
        "found": True,
        "extension": "102",
        "user_id": seller.id,
        "login": "olga",
        "display_name": answer.json()["display_name"],
        "contact_id": contact_id,
        "via": "contact-owner",
        "pbx": None,
        "remote": False,
    }


async def test_unowned_contact_routes_through_open_deal_owner(routed: ApiHarness) -> None:
    seller = await routed.create_user("seller", identities=[("extension", "103")])
    contact_id = await _contact(routed, "+79161234567", None)
    async with routed.sessions.begin() as session:
        await DealService(session, SYSTEM).create("Deal", contact_id=contact_id, owner_id=seller.id)
    pbx = await routed.client("admin")
    answer = await pbx.get("/api/v1/route", params={"caller": "+79161234567", "format": "json"})
    assert answer.json()["extension"] == "103"
    assert answer.json()["via"] == "open-deal"


@pytest.mark.parametrize("caller", ["+79990000000", "101", "garbage"])
async def test_unknown_caller_answers_404_with_empty_text(routed: ApiHarness, caller: str) -> None:
    pbx = await routed.client("admin")
    answer = await pbx.get("/api/v1/route", params={"caller": caller})
    assert answer.status == 404
    assert answer.text == ""


async def test_seller_without_extension_routes_nowhere(routed: ApiHarness) -> None:
    seller = await routed.create_user("seller")
    await _contact(routed, "+79161234567", seller.id)
    pbx = await routed.client("admin")
    answer = await pbx.get("/api/v1/route", params={"caller": "+79161234567"})
    assert answer.status == 404


async def test_route_needs_credentials(routed: ApiHarness) -> None:
    answer = await routed.anonymous().get("/api/v1/route", params={"caller": "+79161234567"})
    assert answer.status == 401


async def test_missing_caller_is_a_validation_problem(routed: ApiHarness) -> None:
    pbx = await routed.client("admin")
    answer = await pbx.get("/api/v1/route", params={"format": "json"})
    assert answer.status == 422
    assert answer.content_type == "application/problem+json"
    # A plain-text client (the dialplan) gets the status and nothing it could mistake for a seller.
    plain = await pbx.get("/api/v1/route")
    assert (plain.status, plain.content_type, plain.text) == (422, "text/plain", "")
