"""Smoke: the app starts, and the platform's routes answer."""

from __future__ import annotations

from tests.support.api import ApiHarness


async def test_me_with_token(api: ApiHarness) -> None:
    seller = await api.client("seller")
    response = await seller.get("/api/v1/auth/me")
    assert response.status == 200, response.text
    assert response.json()["user"]["login"] == seller.user.login if seller.user else False


async def test_browser_login(api: ApiHarness) -> None:
    browser = await api.browser("admin")
    response = await browser.post("/api/v1/users", json={"login": "bob", "role": "seller"})
    assert response.status == 201, response.text
