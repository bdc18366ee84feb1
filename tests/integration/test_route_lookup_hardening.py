"""The dialplan's lookup: every plain-text answer that is not an extension is empty, and the PBX's
route-lookup token (optionally bound to addresses) opens nothing but the lookup."""

from __future__ import annotations

import aiohttp
import pytest
from sqlalchemy import select, text

from crmlite.db.models import ApiToken
from crmlite.domain.principal import SYSTEM
from crmlite.services import auth as auth_service
from crmlite.services.contacts import ContactService
from crmlite.services.phones import PhoneInput
from tests.support.api import ApiClient, ApiHarness, start_api

CALLER = "+79161234567"


async def _seller_with_caller(api: ApiHarness) -> None:
    seller = await api.create_user("seller", identities=[("extension", "102")])
    async with api.sessions.begin() as session:
        await ContactService(session, SYSTEM).create(
            "Vera", phones=[PhoneInput(CALLER)], owner_id=seller.id
        )


async def _pbx(api: ApiHarness, allowed_ips: tuple[str, ...] = ()) -> tuple[ApiClient, str]:
    """A client holding a route-lookup token of a dedicated ``pbx`` user, and the token."""
    user = await api.create_user("admin")
    async with api.sessions.begin() as db:
        issued = await auth_service.create_api_token(
            db, user.id, "dialplan", scope="route-lookup", allowed_ips=allowed_ips
        )
    client = api.anonymous()
    client.default_headers["Authorization"] = f"Bearer {issued.token}"
    return client, issued.token


async def test_route_lookup_token_routes_the_caller(api: ApiHarness) -> None:
    await _seller_with_caller(api)
    pbx, _token = await _pbx(api)
    answer = await pbx.get("/api/v1/route", params={"caller": CALLER})
    assert (answer.status, answer.content_type, answer.text) == (200, "text/plain", "102")
    json_answer = await pbx.get("/api/v1/route", params={"caller": CALLER, "format": "json"})
    assert json_answer.json()["extension"] == "102"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/auth/me"),
        ("GET", "/api/v1/contacts"),
        ("GET", "/api/v1/users"),
        ("POST", "/api/v1/auth/tokens"),
        ("POST", "/api/v1/auth/logout"),
        ("GET", "/api/v1/route/"),
    ],
)
async def test_route_lookup_token_is_refused_everywhere_else(
    api: ApiHarness, method: str, path: str
) -> None:
    pbx, _token = await _pbx(api)
    answer = await pbx.request(method, path, json={"name": "more"})
    assert answer.status == 403, answer.text
    assert answer.content_type == "application/problem+json"
    assert answer.json()["slug"] == "token-out-of-scope"


async def test_route_lookup_token_never_opens_a_pop_socket(api: ApiHarness) -> None:
    _pbx_client, token = await _pbx(api)
    async with aiohttp.ClientSession() as http:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await http.ws_connect(api.url("/ws"), headers={"Authorization": f"Bearer {token}"})
        assert refused.value.status == 403
        ws = await http.ws_connect(api.url("/ws"))
        await ws.send_json({"type": "auth", "token": token})
        message = await ws.receive(timeout=5)
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
        assert ws.close_code == 4401
        await ws.close()


async def test_every_plain_text_failure_is_an_empty_body(api: ApiHarness) -> None:
    pbx, _token = await _pbx(api)
    nobody = api.anonymous()
    wrong = api.anonymous()
    wrong.default_headers["Authorization"] = "Bearer cti_revoked-or-never-issued"
    seller = await api.client("seller")
    answers = {
        "no token": await nobody.get("/api/v1/route", params={"caller": CALLER}),
        "wrong token": await wrong.get("/api/v1/route", params={"caller": CALLER}),
        "no caller": await pbx.get("/api/v1/route"),
        "bad format": await pbx.get("/api/v1/route", params={"caller": CALLER, "format": "xml"}),
        "wrong method": await seller.post("/api/v1/route", params={"caller": CALLER}),
        "out of scope": await pbx.post("/api/v1/route", params={"caller": CALLER}),
        "unknown caller": await pbx.get("/api/v1/route", params={"caller": "+79990000000"}),
        "full token too": await seller.get("/api/v1/route", params={"caller": "+79990000000"}),
    }
    statuses = {why: answer.status for why, answer in answers.items()}
    assert statuses == {
        "no token": 401,
        "wrong token": 401,
        "no caller": 422,
        "bad format": 422,
        "wrong method": 405,
        "out of scope": 403,
        "unknown caller": 404,
        "full token too": 404,
    }
    for why, answer in answers.items():
        assert (answer.text, answer.content_type) == ("", "text/plain"), why
    assert answers["wrong token"].headers["WWW-Authenticate"].startswith("Bearer")


async def test_json_clients_keep_problem_details(api: ApiHarness) -> None:
    wrong = api.anonymous()
    wrong.default_headers["Authorization"] = "Bearer cti_revoked-or-never-issued"
    by_format = await wrong.get("/api/v1/route", params={"caller": CALLER, "format": "json"})
    by_accept = await wrong.get(
        "/api/v1/route", params={"caller": CALLER}, headers={"Accept": "application/json"}
    )
    for answer in (by_format, by_accept):
        assert answer.status == 401
        assert answer.content_type == "application/problem+json"
        assert answer.json()["slug"] == "unauthenticated"


async def test_a_crash_inside_the_lookup_is_an_empty_500(api: ApiHarness) -> None:
    pbx, _token = await _pbx(api)
    async with api.sessions.begin() as db:
        await db.execute(text("ALTER TABLE contact_phones RENAME TO contact_phones_gone"))
    answer = await pbx.get("/api/v1/route", params={"caller": CALLER})
    assert (answer.status, answer.text, answer.content_type) == (500, "", "text/plain")
    as_json = await pbx.get("/api/v1/route", params={"caller": CALLER, "format": "json"})
    assert as_json.json()["slug"] == "internal-error"


async def test_a_token_bound_to_other_addresses_is_refused(api: ApiHarness) -> None:
    await _seller_with_caller(api)
    elsewhere, _ = await _pbx(api, allowed_ips=("10.0.0.5", "192.168.7.0/24"))
    refused = await elsewhere.get("/api/v1/route", params={"caller": CALLER, "format": "json"})
    assert refused.status == 403
    assert refused.json()["slug"] == "address-not-allowed"
    # Nobody trusted a proxy, so a forged X-Forwarded-For changes nothing.
    forged = await elsewhere.get(
        "/api/v1/route", params={"caller": CALLER}, headers={"X-Forwarded-For": "10.0.0.5"}
    )
    assert (forged.status, forged.text) == (403, "")
    here, _ = await _pbx(api, allowed_ips=("127.0.0.1", "::1"))
    assert (await here.get("/api/v1/route", params={"caller": CALLER})).text == "102"


async def test_a_trusted_proxy_names_the_client(database_url: str) -> None:
    api = await start_api(database_url, settings={"server": {"trusted_proxies": ["127.0.0.0/8"]}})
    try:
        await _seller_with_caller(api)
        pbx, _ = await _pbx(api, allowed_ips=("10.0.0.5",))
        relayed = await pbx.get(
            "/api/v1/route",
            params={"caller": CALLER},
            headers={"X-Forwarded-For": "203.0.113.9, 10.0.0.5"},
        )
        assert relayed.text == "102"
        spoofed = await pbx.get(
            "/api/v1/route",
            params={"caller": CALLER},
            headers={"X-Forwarded-For": "10.0.0.5, 203.0.113.9"},
        )
        assert spoofed.status == 403
    finally:
        await api.close()


async def test_admins_issue_scoped_tokens_through_the_api(api: ApiHarness) -> None:
    admin = await api.client("admin")
    pbx_user = await api.create_user("seller", login="pbx")
    issued = await admin.post(
        f"/api/v1/users/{pbx_user.id}/tokens",
        json={"name": "dialplan", "scope": "route-lookup", "allowed_ips": ["10.0.0.5", "::1"]},
    )
    assert issued.status == 201, issued.text
    body = issued.json()
    assert (body["scope"], body["allowed_ips"]) == ("route-lookup", ["10.0.0.5/32", "::1/128"])
    async with api.sessions() as db:
        stored = await db.scalar(select(ApiToken).where(ApiToken.id == body["id"]))
    assert stored is not None
    assert (stored.scope, stored.allowed_ips) == ("route-lookup", ["10.0.0.5/32", "::1/128"])
    assert body["token"] not in str(stored.token_hash)
    for bad in ({"scope": "everything"}, {"allowed_ips": ["not-an-address"]}):
        refused = await admin.post(f"/api/v1/users/{pbx_user.id}/tokens", json=bad)
        assert refused.status == 422, refused.text
    listed = await admin.get("/api/v1/auth/tokens")
    assert all(token["scope"] is None for token in listed.json())
