"""The public pool in the browser: a seller releases a contact, another claims it and owns it."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, log_in


def test_a_seller_claims_from_the_pool_and_sees_it_become_theirs(
    page: Page, server: LiveServer
) -> None:
    chen, anna = server.people["chen"], server.people["anna"]
    contact = chen.api.post("/api/v1/contacts", json={"name": "Olga Vetrova", "company": "Sever"})
    chen.api.post(
        f"/api/v1/contacts/{contact['id']}/release", json={"reason": "wants a call in spring"}
    )

    log_in(page, server, anna, path="/pool")
    row = page.get_by_test_id("pool-row").filter(has_text="Olga Vetrova")
    expect(row).to_contain_text("wants a call in spring")
    expect(row).to_contain_text("Chen Seller")
    row.get_by_role("button", name="Claim").click()
    expect(page.get_by_role("status").filter(has_text="The contact is yours now.")).to_be_visible()
    row.get_by_test_id("pool-taken").click()

    expect(page.locator("#contact-name")).to_have_text("Olga Vetrova")
    expect(page.get_by_test_id("contact-owner")).to_have_text("Anna Seller")
    history = page.get_by_test_id("pool-history")
    expect(history).to_contain_text("Released by Chen Seller: wants a call in spring")
    expect(history).to_contain_text("Claimed by Anna Seller")
    assert anna.api.get(f"/api/v1/contacts/{contact['id']}")["owner_id"] == anna.id


def test_a_seller_releases_a_contact_with_a_reason(page: Page, server: LiveServer) -> None:
    boris = server.people["boris"]
    contact = boris.api.post("/api/v1/contacts", json={"name": "Gleb Released"})

    log_in(page, server, boris, path=f"/contacts/{contact['id']}")
    page.get_by_test_id("contact-release").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Why").fill("closed the business")
    dialog.get_by_role("button", name="Release to the pool").click()

    row = page.get_by_test_id("pool-row").filter(has_text="Gleb Released")
    expect(row).to_contain_text("closed the business")
    expect(row).to_contain_text("Boris Seller")
    pool = boris.api.get("/api/v1/pool", params={"q": "Gleb Released"})
    assert [e["contact_id"] for e in pool["items"]] == [contact["id"]]
