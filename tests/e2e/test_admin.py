"""Admin screens: the rules editor's validation messages, and the stages editor."""

from __future__ import annotations

import json
import re

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, SimulatedPbx, log_in


def test_the_rules_editor_names_the_field_that_is_wrong_then_saves(
    page: Page, server: LiveServer
) -> None:
    log_in(page, server, server.people["admin"], path="/admin/rules")
    editor = page.get_by_label("Call-to-deal rules")
    expect(editor).to_have_value(re.compile(r"\{"))
    editor.fill(json.dumps({"rules": [{"id": "a", "then": {"deal": {"pipeline": "Nope"}}}]}))
    page.get_by_role("button", name="Check").click()
    messages = page.locator("#rules-messages")
    expect(messages).to_contain_text("rules[0].then.deal.pipeline")
    expect(messages).to_contain_text("refused")

    good = {
        "rules": [
            {
                "id": "sales",
                "when": {"direction": "inbound"},
                "then": {"deal": {"pipeline": "Sales"}},
            }
        ]
    }
    editor.fill(json.dumps(good))
    page.get_by_role("button", name="Save rules").click()
    expect(messages).to_contain_text("1 rule in force.")
    assert server.people["admin"].api.get("/api/v1/rules")["document"]["rules"][0]["id"] == "sales"


def test_an_admin_adds_a_stage_and_the_board_shows_it(page: Page, server: LiveServer) -> None:
    log_in(page, server, server.people["admin"], path="/admin/pipelines")
    page.get_by_placeholder("Stage name").fill("Test drive")
    page.get_by_role("button", name="Add stage").click()
    expect(page.locator("form.stage-row[aria-label='Test drive']")).to_be_visible()
    page.get_by_role("link", name="Board").click()
    expect(page.get_by_role("heading", name="Test drive")).to_be_visible()


def test_the_pbx_screen_shows_the_live_link(
    page: Page, server: LiveServer, pbx: SimulatedPbx
) -> None:
    log_in(page, server, server.people["admin"], path="/admin/pbx")
    table = page.get_by_test_id("pbx-table")
    expect(table.get_by_role("rowheader", name="sim")).to_be_visible()
    expect(table).to_contain_text("Connected")
    expect(table).to_contain_text(f"127.0.0.1:{pbx.sim.port}")
    expect(page.get_by_test_id("pbx-consumer")).to_have_text("this instance")


def test_an_admin_gives_a_new_user_an_extension_on_one_pbx(page: Page, server: LiveServer) -> None:
    admin = server.people["admin"]
    log_in(page, server, admin, path="/admin/users")
    page.get_by_role("button", name="New user").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Login").fill("office-seller")
    dialog.get_by_label("Extensions").fill("sim:345, 346")
    dialog.get_by_role("button", name="Save").click()
    expect(page.get_by_role("cell", name="346, sim:345")).to_be_visible()
    users = admin.api.get("/api/v1/users")
    created = next(u for u in users if u["login"] == "office-seller")
    detail = admin.api.get(f"/api/v1/users/{created['id']}")
    assert detail["identities"] == [
        {"kind": "extension", "value": "346", "pbx": None},
        {"kind": "extension", "value": "345", "pbx": "sim"},
    ]
