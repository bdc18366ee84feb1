"""Logging in and out, the current user and role, and the language switch."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, log_in


def test_login_shows_the_user_and_role_then_logout_ends_the_session(
    page: Page, server: LiveServer
) -> None:
    anna = server.people["anna"]
    page.goto(server.url + "/board")
    expect(page).to_have_url(server.url + "/login?next=%2Fboard")
    page.get_by_label("User name").fill("anna")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator("#login-status")).to_have_text("Wrong user name or password.")

    log_in(page, server, anna, fresh=True)
    expect(page).to_have_url(server.url + "/board")
    expect(page.get_by_test_id("whoami")).to_contain_text("Seller")
    expect(page.get_by_role("link", name="Reports")).to_have_count(0)

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(server.url + "/login")
    page.goto(server.url + "/board")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()


def test_a_head_sees_reports_in_the_menu(page: Page, server: LiveServer) -> None:
    log_in(page, server, server.people["helen"])
    expect(page.get_by_test_id("whoami")).to_contain_text("Head of sales")
    expect(page.get_by_role("link", name="Reports")).to_be_visible()
