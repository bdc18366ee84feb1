"""Reports for heads: the charts render, and the numbers beside them are the right ones.

A pipeline of its own keeps the figures independent of the other tests: four deals enter
"Qualify", two go on to "Offer", one of those is won and one deal is lost as too expensive.
"""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.e2e.conftest import LiveServer, log_in, screenshot


def seed_report_pipeline(server: LiveServer) -> dict[str, Any]:
    admin, anna = server.people["admin"], server.people["anna"]
    pipeline = admin.api.post(
        "/api/v1/pipelines",
        json={
            "name": "Fleet sales",
            "stages": [
                {"name": "Qualify", "kind": "open", "probability": 20},
                {"name": "Offer", "kind": "open", "probability": 50},
                {"name": "Won", "kind": "won", "probability": 100},
                {"name": "Lost", "kind": "lost", "probability": 0},
            ],
        },
    )
    stage = {s["name"]: s["id"] for s in pipeline["stages"]}
    deals = [
        anna.api.post(
            "/api/v1/deals",
            json={
                "title": f"Fleet {n}",
                "amount": "1000",
                "pipeline_id": pipeline["id"],
                "stage_id": stage["Qualify"],
            },
        )
        for n in range(4)
    ]

    def move(deal: dict[str, Any], name: str, **extra: str) -> None:
        anna.api.post(f"/api/v1/deals/{deal['id']}/move", json={"stage_id": stage[name], **extra})

    move(deals[0], "Offer")
    move(deals[1], "Offer")
    move(deals[0], "Won")
    move(deals[2], "Lost", lost_reason="Too expensive")
    return pipeline


def row(table: Locator, first_cell: str) -> Locator:
    return table.locator("tbody tr").filter(
        has=table.page.get_by_role("rowheader", name=first_cell, exact=True)
    )


def test_a_head_sees_the_charts_with_the_right_numbers(page: Page, server: LiveServer) -> None:
    pipeline = seed_report_pipeline(server)
    log_in(page, server, server.people["helen"], path="/reports")
    page.get_by_label("Pipeline").select_option(str(pipeline["id"]))

    funnel = page.get_by_test_id("funnel-table")
    expect(row(funnel, "Qualify").locator("td").nth(0)).to_have_text("4")
    expect(row(funnel, "Offer").locator("td").nth(0)).to_have_text("2")
    expect(row(funnel, "Qualify").locator("td").nth(1)).to_have_text("50%")
    expect(page.get_by_test_id("kpi-win-rate")).to_contain_text("50%")
    expect(page.get_by_test_id("kpi-forecast")).to_contain_text("₽700")
    expect(
        row(page.get_by_test_id("loss-table"), "Too expensive").locator("td").nth(0)
    ).to_have_text("1")

    funnel_chart = page.get_by_test_id("report-funnel").get_by_test_id("chart")
    expect(funnel_chart.locator("svg")).to_have_count(1)
    labels = funnel_chart.locator("svg text")
    expect(labels.filter(has_text="Qualify")).not_to_have_count(0)
    expect(labels.get_by_text("4", exact=True)).to_have_count(1)
    expect(labels.get_by_text("2", exact=True)).to_have_count(1)
    expect(
        page.get_by_test_id("report-losses").get_by_test_id("chart").locator("svg")
    ).to_have_count(1)
    screenshot(page, "reports")


def test_a_seller_is_told_reports_are_for_heads(page: Page, server: LiveServer) -> None:
    log_in(page, server, server.people["anna"], path="/reports")
    expect(page.get_by_role("alert")).to_have_text("Reports are for heads of sales.")
