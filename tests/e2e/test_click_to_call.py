"""Click-to-call from a contact: the PBX rings the seller's phone, then the customer."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, SimulatedPbx, log_in


def test_click_to_call_rings_the_sellers_phone_and_reports_progress(
    page: Page, server: LiveServer, pbx: SimulatedPbx
) -> None:
    chen = server.people["chen"]
    contact = chen.api.post(
        "/api/v1/contacts", json={"name": "Igor Belov", "phones": [{"raw": "+7 903 111-22-33"}]}
    )
    log_in(page, server, chen, path=f"/contacts/{contact['id']}")
    with page.expect_response(lambda r: r.url.endswith("/api/v1/calls")) as answer:
        page.get_by_role("button", name="Call").click()
    assert answer.value.status == 202, answer.value.text()
    toasts = page.locator("#toasts")
    expect(toasts).to_contain_text("Your phone will ring, then 8 (903) 111-22-33.")
    expect(toasts).to_contain_text("Your phone is ringing for 8 (903) 111-22-33")
