"""The Unsorted inbox: a seller accepts a waiting deal into a stage."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, log_in


def test_a_seller_accepts_a_waiting_deal_into_a_stage(page: Page, server: LiveServer) -> None:
    boris = server.people["boris"]
    pipeline = next(p for p in boris.api.get("/api/v1/pipelines") if p["is_default"])
    unsorted = next(s for s in pipeline["stages"] if s["is_unsorted"])
    stage = next(s for s in pipeline["stages"] if s["kind"] == "open" and not s["is_unsorted"])
    contact = boris.api.post(
        "/api/v1/contacts", json={"name": "Pavel Orlov", "phones": [{"raw": "+7 926 555-77-88"}]}
    )
    deal = boris.api.post(
        "/api/v1/deals",
        json={"title": "Inbox: van lease", "stage_id": unsorted["id"], "contact_id": contact["id"]},
    )
    log_in(page, server, boris, path="/unsorted")
    waiting = page.get_by_test_id("inbox").locator("tr", has_text="Inbox: van lease")
    expect(waiting).to_contain_text("8 (926) 555-77-88")
    waiting.get_by_role("button", name="Accept").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Stage").select_option(str(stage["id"]))
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Done.")).to_be_visible()
    expect(page.get_by_text("Inbox: van lease")).to_have_count(0)
    assert boris.api.get(f"/api/v1/deals/{deal['id']}")["stage_id"] == stage["id"]
