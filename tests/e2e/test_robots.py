"""Stage robots in the browser: an admin adds robots in the stage editor, a move fires them, and
stuck deals show on the board and in the heads' list."""

from __future__ import annotations

import datetime as dt

from playwright.sync_api import Page, expect

from crmlite.domain.principal import Principal, Role
from crmlite.services.deals import DealService
from tests.e2e.conftest import LiveServer, log_in, screenshot


def _pipeline(server: LiveServer, name: str) -> tuple[int, dict[str, int]]:
    created = server.people["admin"].api.post(
        "/api/v1/pipelines",
        json={"name": name, "stages": [{"name": "Qualify"}, {"name": "Offer"}]},
    )
    return created["id"], {s["name"]: s["id"] for s in created["stages"]}


def test_an_admin_adds_robots_in_the_stage_editor_and_a_move_fires_them(
    page: Page, second_page: Page, server: LiveServer
) -> None:
    pipeline_id, stages = _pipeline(server, "Robot fleet")
    log_in(page, server, server.people["admin"], path="/admin/pipelines")
    page.locator("#admin-pipeline").select_option(str(pipeline_id))
    page.get_by_role("button", name="Robots of stage Offer").click()
    dialog = page.get_by_role("dialog", name="Robots: Offer")
    expect(dialog.get_by_test_id("robot-list")).to_contain_text("No robots")

    # A task: the form names what is wrong, then saves.
    dialog.locator('select[name="action"]').select_option("create_task")
    dialog.get_by_label("Due in").fill("999")
    dialog.get_by_label("Task title").fill("Send the price list")
    dialog.get_by_role("button", name="Add robot").click()
    expect(dialog).to_contain_text("between 0 and 365")
    dialog.get_by_label("Due in").fill("2")
    dialog.get_by_label("Unit").select_option("hours")
    dialog.get_by_role("button", name="Add robot").click()
    robots = dialog.get_by_test_id("robot-list")
    expect(robots).to_contain_text("Create task “Send the price list” due in 2 hours")

    # A notice to the owner, and a tag.
    dialog.locator('select[name="action"]').select_option("notify_owner")
    dialog.get_by_label("Message").fill("Call them today")
    dialog.get_by_role("button", name="Add robot").click()
    expect(robots).to_contain_text("Notify the owner: “Call them today”")
    dialog.locator('select[name="action"]').select_option("set_field")
    dialog.get_by_label("Add tag").fill("offer-sent")
    dialog.get_by_role("button", name="Add robot").click()
    expect(robots.locator("li")).to_have_count(3)
    screenshot(page, "robots-editor")
    dialog.get_by_role("button", name="Close").click()

    # The seller moves a deal into Offer on the board's API; the robots fire for it at once.
    anna = server.people["anna"]
    log_in(second_page, server, anna, path=f"/board/{pipeline_id}")
    deal = anna.api.post(
        "/api/v1/deals",
        json={"title": "Ten vans", "pipeline_id": pipeline_id, "stage_id": stages["Qualify"]},
    )
    anna.api.post(f"/api/v1/deals/{deal['id']}/move", json={"stage_id": stages["Offer"]})
    notice = second_page.get_by_test_id("robot-notice")
    expect(notice).to_contain_text("Ten vans entered Offer. Call them today")
    # The notice refreshes the board behind it: the deal shows in Offer.
    offer = second_page.locator(f"[data-stage-id='{stages['Offer']}']")
    expect(offer.locator(".deal-card", has_text="Ten vans")).to_be_visible()
    screenshot(second_page, "robot-notice")
    tasks = anna.api.get("/api/v1/tasks", params={"deal_id": deal["id"]})["items"]
    assert [t["title"] for t in tasks] == ["Send the price list"]
    assert anna.api.get(f"/api/v1/deals/{deal['id']}")["tags"] == ["offer-sent"]
    notice.get_by_role("link", name="Open the deal").click()
    expect(second_page).to_have_url(f"{server.url}/deals/{deal['id']}")


def test_stuck_deals_show_on_the_board_and_in_the_heads_list(
    page: Page, server: LiveServer
) -> None:
    pipeline_id, stages = _pipeline(server, "Slow movers")
    server.people["admin"].api.post(
        f"/api/v1/pipelines/{pipeline_id}/stages/{stages['Qualify']}/robots",
        json={"trigger": "stuck", "action": "nudge", "params": {"days": 3, "mark_stalled": True}},
    )
    boris = server.people["boris"]
    ten_days_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=10)

    async def seed() -> int:
        assert server.harness is not None
        async with server.harness.sessions.begin() as db:
            who = Principal(user_id=boris.id, login=boris.login, role=Role.SELLER)
            made = await DealService(db, who, clock=lambda: ten_days_ago).create(
                "Quiet garage", pipeline_id=pipeline_id, stage_id=stages["Qualify"]
            )
        return made.id

    deal_id = server.run(seed())
    log_in(page, server, server.people["helen"], path=f"/board/{pipeline_id}")
    card = page.locator(f".deal-card[data-deal-id='{deal_id}']")
    expect(card.get_by_test_id("stuck-badge")).to_contain_text("Stuck 10 d")
    screenshot(page, "board-stuck")
    page.get_by_role("link", name="Stuck deals").click()
    seller = page.get_by_test_id("stuck-seller").filter(has_text="Boris Seller")
    expect(seller).to_contain_text("Quiet garage")
    expect(seller).to_contain_text("Stuck 10 d")
    screenshot(page, "stuck-deals")
