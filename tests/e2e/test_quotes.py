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


def test_an_admin_adds_a_product_and_a_seller_quotes_it(page: Page, server: LiveServer) -> None:
    admin, boris = server.people["admin"], server.people["boris"]
    log_in(page, server, admin, path="/admin/products")
    page.get_by_role("button", name="New product").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name").fill("Roof box 400 l")
    dialog.get_by_label("SKU").fill("BOX-400")
    dialog.get_by_label("Unit price").fill("24990,50")
    dialog.get_by_label("Tax, %").fill("20")
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("products-table")).to_contain_text("BOX-400")
    product = next(p for p in boris.api.get("/api/v1/products", params={"q": "BOX-400"})["items"])
    assert (product["unit_price"], product["tax_rate"]) == ("24990.50", "20")
    price_list = "Наименование;Артикул;Цена;НДС\r\nЦепи противоскольжения;CHN-01;4 200,00;20\r\n"
    page.get_by_label("Import a price list (CSV)").set_input_files(
        files=[{"name": "прайс.csv", "mimeType": "text/csv", "buffer": price_list.encode("cp1251")}]
    )
    expect(page.get_by_test_id("products-table")).to_contain_text("CHN-01")
    expect(page.get_by_test_id("products-table")).to_contain_text("Цепи противоскольжения")

    deal = boris.api.post("/api/v1/deals", json={"title": "Quote: roof box"})
    page.context.clear_cookies()
    log_in(page, server, boris, path=f"/deals/{deal['id']}")
    page.get_by_role("button", name="New quote").click()
    editor = page.get_by_role("form", name="Quote editor")
    line = editor.locator("tr.quote-line").first
    line.get_by_label("Product").select_option(label="Roof box 400 l (BOX-400)")
    expect(line.get_by_label("Unit price")).to_have_value("24990.50")
    line.get_by_label("Qty").fill("2")
    # 49,981.00 + 20 % = 59,977.20, computed by the server's preview.
    expect(editor.get_by_test_id("quote-preview-total")).to_contain_text("59,977.20")
    editor.get_by_role("button", name="Save").click()
    row = page.get_by_test_id("quotes-table").locator("tbody tr").first
    expect(row.get_by_test_id("quote-total")).to_contain_text("59,977.20")
    quote = boris.api.get(f"/api/v1/deals/{deal['id']}/quotes")[0]
    assert quote["lines"][0]["sku"] == "BOX-400"
