"""Smoke: the whole app starts, a token client and a browser client both get through."""

from __future__ import annotations

from tests.support.api import ApiHarness


async def test_me_with_token(api: ApiHarness) -> None:
    seller = await api.client("seller", login="smoky")
    response = await seller.get("/api/v1/auth/me")
    assert response.status == 200, response.text
    assert response.json()["user"]["login"] == "smoky"


async def test_browser_login_then_unsafe_request(api: ApiHarness) -> None:
    browser = await api.browser("admin")
    response = await browser.post("/api/v1/users", json={"login": "bob", "role": "seller"})
    assert response.status == 201, response.text
    assert response.json()["login"] == "bob"
