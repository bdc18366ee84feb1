"""Accessible labels and contrast, checked by axe-core (a pinned npm dev dependency) in the page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import ROOT, LiveServer, log_in

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SERIOUS = {"serious", "critical"}


@pytest.fixture
def axe_page(browser: Browser) -> Iterator[Page]:
    """A tab that may inject axe-core (the app's CSP forbids injected scripts otherwise)."""
    if not AXE.is_file():
        pytest.skip("run `npm ci` to install axe-core")
    context = browser.new_context(
        bypass_csp=True, locale="en-US", viewport={"width": 1280, "height": 800}
    )
    context.set_default_timeout(10_000)
    yield context.new_page()
    context.close()


def violations(page: Page) -> list[dict[str, Any]]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        "() => axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa']}})"
    )
    return [
        {"id": v["id"], "help": v["help"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]


def test_login_board_and_deal_pages_have_no_serious_accessibility_problems(
    axe_page: Page, server: LiveServer
) -> None:
    anna = server.people["anna"]
    deal = anna.api.post(
        "/api/v1/deals", json={"title": "Accessible: estate car", "amount": "120000"}
    )
    axe_page.goto(server.url + "/login")
    expect(axe_page.get_by_label("User name")).to_be_visible()
    assert violations(axe_page) == []
    log_in(axe_page, server, anna)
    expect(axe_page.get_by_test_id("deal-card").first).to_be_visible()
    assert violations(axe_page) == []
    axe_page.goto(f"{server.url}/deals/{deal['id']}")
    expect(axe_page.get_by_test_id("timeline")).to_be_visible()
    assert violations(axe_page) == []


def test_the_pool_page_has_no_serious_accessibility_problems(
    axe_page: Page, server: LiveServer
) -> None:
    helen, chen = server.people["helen"], server.people["chen"]
    contact = chen.api.post("/api/v1/contacts", json={"name": "Accessible Pool Contact"})
    chen.api.post(f"/api/v1/contacts/{contact['id']}/release", json={"reason": "axe check"})
    log_in(axe_page, server, helen, path="/pool")
    expect(axe_page.get_by_test_id("pool-row").first).to_be_visible()
    assert violations(axe_page) == []
