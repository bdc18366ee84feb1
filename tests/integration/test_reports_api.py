"""Reports over HTTP: the January example's figures as JSON, who sees whose, the OpenAPI entries."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.reports_world import C0, C4, FEB, JAN, World, build_world
from tests.support.api import ApiClient, ApiHarness

pytestmark = pytest.mark.db


class Team:
    def __init__(self, world: World, head: ApiClient, anna: ApiClient, boris: ApiClient) -> None:
        self.world, self.head, self.anna, self.boris = world, head, anna, boris


@pytest.fixture
async def team(api: ApiHarness) -> Team:
    head = await api.create_user("head", login="rw-head", display_name="Head")
    anna = await api.create_user("seller", login="rw-anna", display_name="Anna")
    boris = await api.create_user("seller", login="rw-boris", display_name="Boris")
    world = await build_world(api.sessions, {"head": head.id, "anna": anna.id, "boris": boris.id})
    return Team(world, await api.client(head), await api.client(anna), await api.client(boris))


def window(team: Team, **extra: Any) -> dict[str, Any]:
    params = {"pipeline_id": team.world.pipeline_id, "since": JAN.isoformat()}
    params["until"] = FEB.isoformat()
    return params | {k: v for k, v in extra.items() if v is not None}


async def test_head_sees_the_team_funnel_sales_and_forecast(team: Team) -> None:
    funnel = await team.head.get("/api/v1/reports/funnel", params=window(team))
    assert funnel.status == 200, funnel.text
    body = funnel.json()
    steps = [(s["stage"]["name"], s["entered"], s["reached"], s["to_next"]) for s in body["stages"]]
    assert steps == [("Lead", 6, 6, 0.6667), ("Demo", 3, 4, 0.5), ("Proposal", 2, 2, 1.0)]
    assert (body["deals"], body["win_rate"]) == (6, 0.5)

    sales = (await team.head.get("/api/v1/reports/sales", params=window(team))).json()
    assert (sales["won"], sales["lost"], sales["win_rate"]) == (2, 3, 0.4)
    assert sales["average_cycle_s"] == 360_000.0
    rub = sales["currencies"]["RUB"]
    assert (rub["average_won"], rub["open_amount"], rub["velocity_per_day"]) == (
        "1000.00",
        "7000.00",
        "192.00",
    )

    forecast = (await team.head.get("/api/v1/reports/forecast", params=window(team))).json()
    assert forecast["configured_total"] == {"RUB": "1600.00"}
    assert forecast["learned_total"] == {"RUB": "2600.00"}
    assert forecast["stages"][1]["learned_probability"] == 0.3333

    times = (await team.head.get("/api/v1/reports/time-in-stage", params=window(team))).json()
    assert [(t["median_s"], t["p90_s"]) for t in times] == [
        (21_600.0, 33_120.0),
        (86_400.0, 155_520.0),
        (302_400.0, 406_080.0),
    ]
    losses = (await team.head.get("/api/v1/reports/loss-reasons", params=window(team))).json()
    assert losses == [
        {"reason": "price", "deals": 2, "amount": {"RUB": "3500.00"}},
        {"reason": None, "deals": 1, "amount": {"USD": "700.00"}},
    ]


async def test_a_seller_sees_only_their_own_figures(team: Team) -> None:
    own = (await team.anna.get("/api/v1/reports/funnel", params=window(team))).json()
    assert (own["deals"], own["won"], own["lost"], own["open"]) == (3, 1, 1, 1)
    explicit = await team.anna.get(
        "/api/v1/reports/funnel", params=window(team, seller_id=team.world.anna)
    )
    assert explicit.json() == own
    other = await team.anna.get(
        "/api/v1/reports/sales", params=window(team, seller_id=team.world.boris)
    )
    assert other.status == 403
    assert other.json()["slug"] == "forbidden"
    as_head = await team.head.get(
        "/api/v1/reports/funnel", params=window(team, seller_id=team.world.anna)
    )
    assert as_head.json() == own
    calls = (await team.anna.get("/api/v1/reports/calls", params=window(team))).json()
    assert [(s["agent_id"], s["calls"], s["answer_rate"]) for s in calls["sellers"]] == [
        (team.world.anna, 4, 0.75)
    ]
    team_calls = (await team.head.get("/api/v1/reports/calls", params=window(team))).json()
    assert (team_calls["calls"], team_calls["answered"]) == (11, 5)


async def test_call_reports_speed_to_lead_missed_and_escalations(team: Team) -> None:
    speed = (await team.head.get("/api/v1/reports/speed-to-lead", params=window(team))).json()
    assert speed == {
        "leads": 5,
        "responded": 4,
        "median_s": 455.0,
        "p90_s": 1440.0,
        "average_s": 682.5,
    }
    missed = (await team.head.get("/api/v1/reports/missed-calls", params=window(team))).json()
    assert (missed["missed"], missed["called_back"], missed["within_sla"]) == (5, 3, 2)
    assert [b["caller"] for b in missed["open_breaches"]] == [C4, C0]
    relaxed = await team.head.get(
        "/api/v1/reports/missed-calls", params=window(team, sla_minutes=40)
    )
    assert relaxed.json()["breached"] == 2
    mine = (await team.anna.get("/api/v1/reports/missed-calls", params=window(team))).json()
    assert [b["caller"] for b in mine["open_breaches"]] == [C4]

    escalations = await team.head.get(
        "/api/v1/reports/sla-escalations", params={"since": JAN.isoformat()}
    )
    assert escalations.status == 200, escalations.text
    assert [(e["caller"], e["notify_user_ids"]) for e in escalations.json()] == [
        (C4, [team.world.head]),
        (C0, [team.world.head]),
    ]
    refused = await team.anna.get("/api/v1/reports/sla-escalations")
    assert refused.status == 403


async def test_bad_report_requests(team: Team, api: ApiHarness) -> None:
    missing = await team.head.get("/api/v1/reports/funnel", params={"pipeline_id": 1})
    assert missing.status == 422
    naive = await team.head.get(
        "/api/v1/reports/funnel",
        params=window(team) | {"since": "2026-01-01T00:00:00"},
    )
    assert naive.status == 422
    backwards = await team.head.get(
        "/api/v1/reports/funnel", params=window(team) | {"until": "2025-01-01T00:00:00Z"}
    )
    assert backwards.status == 422
    unknown = await team.head.get(
        "/api/v1/reports/funnel", params=window(team, pipeline_id=team.world.pipeline_id + 99)
    )
    assert unknown.status == 404
    anonymous = await api.anonymous().get("/api/v1/reports/funnel", params=window(team))
    assert anonymous.status == 401


async def test_report_routes_are_in_the_openapi_document(api: ApiHarness) -> None:
    document = (await api.anonymous().get("/api/openapi.json")).json()
    paths = document["paths"]
    for name in (
        "funnel",
        "time-in-stage",
        "sales",
        "forecast",
        "loss-reasons",
        "calls",
        "speed-to-lead",
        "missed-calls",
        "sla-escalations",
        "campaigns",
        "campaign-plan",
    ):
        assert "get" in paths[f"/api/v1/reports/{name}"], name
    assert set(paths["/api/v1/campaigns"]) >= {"get", "post"}
    assert set(paths["/api/v1/campaigns/{id}"]) >= {"get", "patch", "delete"}
    assert "post" in paths["/api/v1/campaigns/{id}/sources"]
    assert "post" in paths["/api/v1/campaigns/{id}/costs"]
