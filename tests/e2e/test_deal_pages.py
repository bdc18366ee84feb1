"""Deal and contact pages, and who may reach them by URL."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.e2e.conftest import LiveServer, log_in


def test_a_seller_opens_her_deal_with_its_timeline_and_contact(
    page: Page, server: LiveServer
) -> None:
    anna = server.people["anna"]
    pipeline = next(p for p in anna.api.get("/api/v1/pipelines") if p["is_default"])
    first, second = [s for s in pipeline["stages"] if s["kind"] == "open" and not s["is_unsorted"]][
        :2
    ]
    contact = anna.api.post(
        "/api/v1/contacts",
        json={
            "name": "Olga Smirnova",
            "company": "Vostok",
            "phones": [{"raw": "8 (495) 555-01-02"}],
        },
    )
    deal = anna.api.post(
        "/api/v1/deals",
        json={
            "title": "Timeline: two trucks",
            "amount": "990000.50",
            "stage_id": first["id"],
            "contact_id": contact["id"],
        },
    )
    anna.api.post(f"/api/v1/deals/{deal['id']}/move", json={"stage_id": second["id"]})

    log_in(page, server, anna, path=f"/deals/{deal['id']}")
    expect(page.get_by_role("heading", name="Timeline: two trucks")).to_be_visible()
    expect(page.get_by_test_id("deal-stage")).to_have_text(second["name"])
    expect(page.locator(".facts")).to_contain_text("₽990,000.5")
    timeline = page.get_by_test_id("timeline")
    expect(timeline.locator("li")).to_have_count(2)
    expect(timeline.locator("li").nth(0)).to_contain_text(first["name"])
    expect(timeline.locator("li").nth(1)).to_contain_text(second["name"])
    expect(page.get_by_role("button", name="Call 8 (495) 555-01-02")).to_be_visible()

    page.get_by_label("Add a note").fill("Called, sends the papers on Monday")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.get_by_text("Called, sends the papers on Monday")).to_be_visible()

    page.get_by_role("link", name="Olga Smirnova").click()
    expect(page.get_by_role("heading", name="Olga Smirnova")).to_be_visible()
    expect(page.locator("#main")).to_contain_text("Timeline: two trucks")
    expect(page.locator("#main")).to_contain_text("8 (495) 555-01-02")


def test_a_seller_cannot_reach_another_sellers_deal_by_url(page: Page, server: LiveServer) -> None:
    anna, boris = server.people["anna"], server.people["boris"]
    deal = anna.api.post("/api/v1/deals", json={"title": "Private: Anna's lead"})
    log_in(page, server, boris)
    with page.expect_response(lambda r: r.url.endswith(f"/api/v1/deals/{deal['id']}")) as answer:
        page.goto(f"{server.url}/deals/{deal['id']}")
    assert answer.value.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_text("Private: Anna's lead")).to_have_count(0)
    page.goto(f"{server.url}/board")
    expect(page.get_by_test_id("board")).to_be_visible()
    expect(page.get_by_text("Private: Anna's lead")).to_have_count(0)


def test_a_duplicate_phone_names_the_contact_that_has_it(page: Page, server: LiveServer) -> None:
    anna = server.people["anna"]
    owner = anna.api.post(
        "/api/v1/contacts", json={"name": "Rustam Karimov", "phones": [{"raw": "+7 495 123-99-88"}]}
    )
    log_in(page, server, anna, path="/contacts")
    form = page.get_by_role("form", name="New contact")
    form.get_by_label("Name").fill("R. Karimov")
    form.get_by_label("Phones").fill("8 (495) 123 99 88")
    form.get_by_role("button", name="Add").click()
    expect(form.get_by_role("alert")).to_contain_text(
        "This number already belongs to Rustam Karimov."
    )
    form.get_by_role("link", name="Open Rustam Karimov").click()
    expect(page).to_have_url(f"{server.url}/contacts/{owner['id']}")


def test_my_tasks_list_marks_a_task_done(page: Page, server: LiveServer) -> None:
    chen = server.people["chen"]
    task = chen.api.post(
        "/api/v1/tasks", json={"title": "Call back Dmitry", "due_at": "2026-01-05T09:00:00+00:00"}
    )
    log_in(page, server, chen, path="/tasks")
    row = page.locator("tr", has_text="Call back Dmitry")
    expect(row).to_contain_text("Overdue")
    row.get_by_role("button", name="Mark done").click()
    expect(page.get_by_text("Call back Dmitry")).to_have_count(0)
    assert chen.api.get(f"/api/v1/tasks/{task['id']}")["done_at"] is not None
