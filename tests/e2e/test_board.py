"""The kanban board: columns with counts and sums, drag or keyboard to move, rollback on refusal."""

from __future__ import annotations

import itertools
import re
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import LiveServer, Person, log_in, screenshot

_numbers = itertools.count(1)


def default_pipeline(who: Person) -> dict[str, Any]:
    pipelines = who.api.get("/api/v1/pipelines")
    return next(p for p in pipelines if p["is_default"])


def open_stages(pipeline: dict[str, Any]) -> list[dict[str, Any]]:
    """The open stages after Unsorted, in board order."""
    return [s for s in pipeline["stages"] if s["kind"] == "open" and not s["is_unsorted"]]


def make_deal(
    who: Person, stage: dict[str, Any], title: str, amount: str = "1500"
) -> dict[str, Any]:
    n = next(_numbers)
    contact = who.api.post(
        "/api/v1/contacts",
        json={"name": f"Client {title}", "phones": [{"raw": f"+7 495 700-{n:02d}-{n:02d}"}]},
    )
    deal: dict[str, Any] = who.api.post(
        "/api/v1/deals",
        json={
            "title": title,
            "amount": amount,
            "currency": "RUB",
            "stage_id": stage["id"],
            "contact_id": contact["id"],
        },
    )
    return deal


def column(page: Page, stage_id: int) -> Locator:
    return page.locator(f'section.column[data-stage-id="{stage_id}"]')


def card(page: Page, title: str) -> Locator:
    return page.get_by_test_id("deal-card").filter(has_text=title)


def drag_card(page: Page, title: str, stage_id: int) -> None:
    """Drag a card by its body into the free space at the end of a column, as a person does."""
    target = column(page, stage_id).locator(".cards")
    box = target.bounding_box()
    assert box is not None
    card(page, title).locator(".card-meta").drag_to(
        target, target_position={"x": box["width"] / 2, "y": box["height"] - 10}
    )


def test_the_board_shows_columns_with_counts_sums_and_cards(page: Page, server: LiveServer) -> None:
    anna = server.people["anna"]
    pipeline = default_pipeline(anna)
    first = open_stages(pipeline)[0]
    make_deal(anna, first, "Board tour: fleet of 3 cars", amount="2500000")
    log_in(page, server, anna)

    columns = page.get_by_test_id("column")
    expect(columns.first).to_contain_text("Unsorted")
    target = column(page, first["id"])
    expect(target.get_by_test_id("column-count")).to_have_text(re.compile(r"^[1-9]\d*$"))
    shown = card(page, "Board tour: fleet of 3 cars")
    expect(shown).to_contain_text("Client Board tour")
    expect(shown).to_contain_text("₽2,500,000")
    expect(shown).to_contain_text("Anna Seller")
    expect(shown).to_contain_text("0 days")
    expect(target.get_by_test_id("column-amount")).to_contain_text("₽")
    closed = page.locator("section.column.kind-won")
    expect(closed).to_have_class(re.compile("collapsed"))
    screenshot(page, "board")


def test_drag_a_card_to_the_next_stage_and_find_it_there_after_a_reload(
    page: Page, server: LiveServer
) -> None:
    anna = server.people["anna"]
    first, second = open_stages(default_pipeline(anna))[:2]
    deal = make_deal(anna, first, "Drag me: minivan")
    log_in(page, server, anna)
    source = card(page, "Drag me: minivan")
    expect(source).to_be_visible()
    count_before = int(column(page, second["id"]).get_by_test_id("column-count").inner_text())

    with page.expect_response(
        lambda r: r.url.endswith(f"/api/v1/deals/{deal['id']}/move")
    ) as moved:
        drag_card(page, "Drag me: minivan", second["id"])
    assert moved.value.status == 200
    expect(column(page, second["id"]).get_by_test_id("column-count")).to_have_text(
        str(count_before + 1)
    )

    page.reload()
    expect(
        column(page, second["id"]).locator(".deal-card", has_text="Drag me: minivan")
    ).to_be_visible()
    expect(
        column(page, first["id"]).locator(".deal-card", has_text="Drag me: minivan")
    ).to_have_count(0)
    assert anna.api.get(f"/api/v1/deals/{deal['id']}")["stage_id"] == second["id"]


def test_a_card_moves_with_the_keyboard(page: Page, server: LiveServer) -> None:
    anna = server.people["anna"]
    first, second = open_stages(default_pipeline(anna))[:2]
    deal = make_deal(anna, first, "Keyboard: sedan")
    log_in(page, server, anna)
    card(page, "Keyboard: sedan").focus()
    with page.expect_response(lambda r: r.url.endswith(f"/api/v1/deals/{deal['id']}/move")):
        page.keyboard.press("Alt+ArrowRight")
    expect(
        column(page, second["id"]).locator(".deal-card", has_text="Keyboard: sedan")
    ).to_be_visible()
    expect(card(page, "Keyboard: sedan")).to_be_focused()
    assert anna.api.get(f"/api/v1/deals/{deal['id']}")["stage_id"] == second["id"]


def test_a_refused_move_rolls_back_with_a_message(page: Page, server: LiveServer) -> None:
    anna = server.people["anna"]
    first, second = open_stages(default_pipeline(anna))[:2]
    deal = make_deal(anna, first, "Stale: coupe")
    log_in(page, server, anna)
    expect(card(page, "Stale: coupe")).to_be_visible()
    # Someone else changes the deal meanwhile: the board's copy is now stale.
    anna.api.call("PATCH", f"/api/v1/deals/{deal['id']}", json={"title": "Stale: coupe (edited)"})

    drag_card(page, "Stale: coupe", second["id"])
    expect(page.get_by_role("alert").filter(has_text="was not moved")).to_be_visible()
    expect(column(page, first["id"]).locator(".deal-card", has_text="Stale: coupe")).to_be_visible()
    assert anna.api.get(f"/api/v1/deals/{deal['id']}")["stage_id"] == first["id"]


def test_a_new_deal_from_the_board_lands_in_its_column(page: Page, server: LiveServer) -> None:
    anna = server.people["anna"]
    first = open_stages(default_pipeline(anna))[0]
    log_in(page, server, anna)
    page.get_by_role("button", name="New deal").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Title").fill("New from board: pickup")
    dialog.get_by_label("Amount").fill("350000")
    dialog.get_by_label("Contact", exact=True).fill("Marat Ismailov")
    dialog.get_by_label("Phone (for a new contact)").fill("8 926 444-55-66")
    dialog.get_by_role("button", name="Create deal").click()
    shown = column(page, first["id"]).locator(".deal-card", has_text="New from board: pickup")
    expect(shown).to_contain_text("Marat Ismailov")
    expect(shown).to_contain_text("₽350,000")


def test_a_head_filters_the_board_by_owner_and_text(page: Page, server: LiveServer) -> None:
    anna, boris = server.people["anna"], server.people["boris"]
    first = open_stages(default_pipeline(anna))[0]
    make_deal(anna, first, "Filter: Anna's tractor")
    make_deal(boris, first, "Filter: Boris's tractor")
    log_in(page, server, server.people["helen"])
    expect(card(page, "Filter: Anna's tractor")).to_be_visible()
    expect(card(page, "Filter: Boris's tractor")).to_be_visible()
    # One PBX: no office picker (it shows with two or more, like the reports page's).
    expect(page.locator("#office-filter")).to_have_count(0)

    page.get_by_label("Owner").select_option(label="Boris Seller")
    expect(card(page, "Filter: Anna's tractor")).to_have_count(0)
    expect(card(page, "Filter: Boris's tractor")).to_be_visible()

    page.get_by_label("Owner").select_option(label="Everyone I may see")
    # Let that reload redraw the board before typing: the toolbar is redrawn with it.
    expect(card(page, "Filter: Anna's tractor")).to_be_visible()
    page.get_by_label("Search").fill("Anna's tractor")
    expect(card(page, "Filter: Boris's tractor")).to_have_count(0)
    expect(card(page, "Filter: Anna's tractor")).to_be_visible()
    expect(page).to_have_url(re.compile(r"q=Anna"))
