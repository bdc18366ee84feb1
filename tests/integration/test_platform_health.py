"""Liveness, readiness (database reachable and schema migrated) and Prometheus metrics."""

from __future__ import annotations

from sqlalchemy import text

from tests.support.api import ApiHarness


async def test_ready_on_a_migrated_database(api: ApiHarness) -> None:
    client = api.anonymous()
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status == 200
    body = ready.json()
    assert body["status"] == "ready"
    assert body["database"] == "ok"
    assert body["schema"]


async def test_not_ready_when_the_schema_is_behind_the_code(api: ApiHarness) -> None:
    async with api.sessions.begin() as db:
        await db.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    ready = await api.anonymous().get("/readyz")
    assert ready.status == 503
    body = ready.json()
    assert body["database"] == "ok"
    assert body["schema"].startswith("at 0001, needs ")
    assert "cti migrate" in body["schema"]


async def test_metrics_count_requests_by_route_template(api: ApiHarness) -> None:
    client = await api.client("seller")
    for _ in range(3):
        await client.get("/api/v1/users/999999")
    metrics = await client.get("/metrics")
    assert metrics.status == 200
    assert metrics.headers["Content-Type"].startswith("text/plain")
    lines = [line for line in metrics.text.splitlines() if line.startswith("cti_http_")]
    assert any('route="/api/v1/users/{id}"' in line and 'status="403"' in line for line in lines)
    # Labels only: a sample's value (a float sum) may well contain the digits.
    labels = [line.rsplit(" ", 1)[0] for line in lines]
    assert not any("999999" in label for label in labels)
    assert any(line.startswith("cti_http_request_duration_seconds_bucket") for line in lines)
