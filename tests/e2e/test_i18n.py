"""Languages: the page switches to Simplified Chinese (and Persian, right to left) and stays so."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, log_in


def test_the_page_switches_to_chinese_and_keeps_it_after_a_reload(
    page: Page, server: LiveServer
) -> None:
    anna = server.people["anna"]
    log_in(page, server, anna)
    expect(page.get_by_test_id("column").first).to_contain_text("Unsorted")

    page.get_by_label("Language").select_option("zh-CN")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    nav = page.get_by_role("navigation")
    expect(nav.get_by_role("link", name="看板")).to_be_visible()
    expect(nav.get_by_role("link", name="未分类")).to_be_visible()
    expect(page.get_by_test_id("column").first).to_contain_text("未分类")
    expect(page.get_by_role("button", name="新建商机")).to_be_visible()
    expect(page.get_by_test_id("whoami")).to_contain_text("销售代表")
    expect(page.get_by_role("complementary").or_(page.locator("#pops"))).to_have_count(1)

    page.reload()
    expect(page.get_by_role("navigation").get_by_role("link", name="看板")).to_be_visible()
    expect(page.get_by_role("button", name="退出登录")).to_be_visible()


def test_persian_lays_the_page_out_right_to_left(page: Page, server: LiveServer) -> None:
    log_in(page, server, server.people["anna"])
    page.get_by_label("Language").select_option("fa")
    expect(page.locator("html")).to_have_attribute("dir", "rtl")
    expect(page.get_by_test_id("column").first).to_contain_text("دسته‌بندی‌نشده")
    expect(page.get_by_test_id("column").nth(1)).to_be_visible()
    # Read both columns' places in one go: the board may redraw between two separate reads.
    places = page.evaluate(
        """() => [...document.querySelectorAll('[data-testid=column]')].slice(0, 2)
              .map((el) => el.getBoundingClientRect().x)"""
    )
    assert len(places) == 2
    assert places[0] > places[1], "the first column (Unsorted) stands rightmost in RTL"
