"""A seller builds a quote in the browser, prints it, and its acceptance moves the deal."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, log_in


def test_a_seller_quotes_prints_and_the_accepted_quote_moves_the_deal(
    page: Page, server: LiveServer
) -> None:
    anna, helen = server.people["anna"], server.people["helen"]
    pipeline = next(p for p in anna.api.get("/api/v1/pipelines") if p["is_default"])
    won = next(s for s in pipeline["stages"] if s["kind"] == "won")
    helen.api.call(
        "PUT",
        f"/api/v1/pipelines/{pipeline['id']}/quote-settings",
        json={"accept_stage_id": won["id"], "set_deal_amount": True},
    )
    deal = anna.api.post("/api/v1/deals", json={"title": "Quote: winter tyres for a fleet"})

    log_in(page, server, anna, path=f"/deals/{deal['id']}")
    expect(page.get_by_role("heading", name="Quotes")).to_be_visible()
    page.get_by_role("button", name="New quote").click()
    editor = page.get_by_role("form", name="Quote editor")
    first = editor.locator("tr.quote-line").nth(0)
    first.get_by_label("Description").fill("Winter tyres R16")
    first.get_by_label("Qty").fill("4")
    first.get_by_label("Unit price").fill("7450.50")
    first.get_by_label("Discount, %").fill("10")
    first.get_by_label("Tax, %").fill("20")
    editor.get_by_role("button", name="Add line").click()
    second = editor.locator("tr.quote-line").nth(1)
    second.get_by_label("Description").fill("Fitting")
    second.get_by_label("Qty").fill("1")
    second.get_by_label("Unit price").fill("1500")
    # 29,802.00 less 10 % = 26,821.80 + 20 % tax 5,364.36 = 32,186.16; plus 1,500 untaxed.
    expect(editor.get_by_test_id("quote-preview-total")).to_contain_text("33,686.16")
    editor.get_by_role("button", name="Save").click()

    row = page.get_by_test_id("quotes-table").locator("tbody tr").first
    expect(row.get_by_test_id("quote-status")).to_have_text("Draft")
    expect(row.get_by_test_id("quote-total")).to_contain_text("33,686.16")
    with page.context.expect_page() as opened:
        row.get_by_test_id("quote-print").click()
    printed = opened.value
    printed.wait_for_load_state()
    expect(printed.get_by_role("heading", name="Quote")).to_be_visible()
    expect(printed.get_by_test_id("print-number")).to_contain_text("Q-")
    expect(printed.get_by_test_id("print-total")).to_contain_text("33,686.16")
    expect(printed.get_by_role("button", name="Print")).to_be_visible()
    expect(printed.locator("body")).to_contain_text("Winter tyres R16")
    printed.close()

    row.get_by_role("button", name="Mark sent").click()
    expect(row.get_by_test_id("quote-status")).to_have_text("Sent")
    row.get_by_role("button", name="Accept").click()
    expect(page.get_by_test_id("deal-stage")).to_have_text(won["name"])
    moved = anna.api.get(f"/api/v1/deals/{deal['id']}")
    assert (moved["stage_id"], moved["amount"]) == (won["id"], "33686.16")
    expect(page.get_by_test_id("quotes-table").get_by_test_id("quote-status")).to_have_text(
        "Accepted"
    )
