"""The contract on both databases: bounds, strict dates, 409s naming the field, problems.

The fuzz run (test_api_fuzz.py) searches; these pin each finding it started from, on SQLite and
PostgreSQL, where the backends differ (integer widths, how a unique violation is reported).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from crmlite.db.models import User
from crmlite.db.unique import unique_violation
from crmlite.domain.errors import AlreadyTaken
from tests.support.api import ApiHarness

PROBLEM = "application/problem+json"


async def test_an_integer_past_the_databases_range_is_a_422_on_the_query(
    api: ApiHarness,
) -> None:
    admin = await api.client("admin")
    answer = await admin.get("/api/v1/deals", params={"stage": "243364357085665624064"})
    assert answer.status == 422, answer.text
    assert answer.content_type == PROBLEM
    assert answer.json()["errors"][0] | {"message": ""} == {
        "field": "stage.0",
        "in": "query",
        "message": "",
        "type": "less_than_equal",
    }
    assert (await admin.get("/api/v1/users/2776378419266499216921774260224")).status == 422


async def test_a_version_past_postgresqls_integer_is_refused_before_the_database(
    api: ApiHarness,
) -> None:
    seller = await api.client("seller")
    contact = await seller.post("/api/v1/contacts", json={"name": "Ann"})
    deal = await seller.post(
        "/api/v1/deals", json={"title": "Deal", "contact_id": contact.json()["id"]}
    )
    assert deal.status == 201, deal.text
    answer = await seller.patch(
        f"/api/v1/deals/{deal.json()['id']}", json={"title": "x", "expected_version": 2**31}
    )
    assert answer.status == 422, answer.text
    assert answer.json()["errors"][0]["field"] == "expected_version"


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/deals", "created_to"),
        ("/api/v1/tasks", "due_before"),
        ("/api/v1/reports/sla-escalations", "since"),
    ],
)
@pytest.mark.parametrize("value", ["0.5", "0", "2026-01-01T10:00:00", "yesterday"])
async def test_a_date_time_parameter_takes_rfc_3339_only(
    api: ApiHarness, path: str, name: str, value: str
) -> None:
    head = await api.client("head")
    answer = await head.get(path, params={name: value})
    assert answer.status == 422, (value, answer.text)
    assert answer.json()["errors"][0]["in"] == "query"
    assert (await head.get(path, params={name: "2026-01-01T10:00:00+03:00"})).status == 200


async def test_a_json_body_takes_json_numbers_and_booleans(api: ApiHarness) -> None:
    admin = await api.client("admin")
    for body in (
        {"name": "P", "is_default": 0},
        {"name": "P", "stages": [{"name": "S", "probability": "5"}]},
    ):
        answer = await admin.post("/api/v1/pipelines", json=body)
        assert answer.status == 422, (body, answer.text)
        assert answer.json()["slug"] == "validation-failed"
    created = await admin.post("/api/v1/pipelines", json={"name": "P", "is_default": False})
    assert created.status == 201, created.text


async def test_a_rule_broken_by_a_query_parameter_says_in_query(api: ApiHarness) -> None:
    head = await api.client("head")
    moment = "2026-01-01T00:00:00Z"
    answer = await head.get("/api/v1/reports/calls", params={"since": moment, "until": moment})
    assert answer.status == 422, answer.text
    assert answer.json()["slug"] == "invalid-input"
    assert {e["in"] for e in answer.json()["errors"]} == {"query"}


async def test_a_name_taken_past_the_services_check_is_a_409_naming_the_field(
    api: ApiHarness,
) -> None:
    # SQLite's lower() folds ASCII only: the service's case-blind check misses this one, and the
    # unique index on the exact name stops it. PostgreSQL's check finds it first. Both: 409 name.
    admin = await api.client("admin")
    first = await admin.post("/api/v1/pipelines", json={"name": "Ärger"})
    assert first.status == 201, first.text
    again = await admin.post("/api/v1/pipelines", json={"name": "Ärger"})
    assert again.status == 409, again.text
    problem = again.json()
    assert problem["slug"] == "already-taken"
    assert [e["field"] for e in problem["errors"]] == ["name"]


async def test_an_integrity_error_of_a_unique_constraint_names_its_columns(
    api: ApiHarness,
) -> None:
    await api.create_user("seller", login="anna")
    with pytest.raises(IntegrityError) as raised:
        async with api.sessions.begin() as db:
            db.add(
                User(
                    login="anna",
                    display_name="A",
                    role="seller",
                    active=True,
                    locale="en",
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
    taken = unique_violation(raised.value)
    assert isinstance(taken, AlreadyTaken)
    assert taken.fields == ("login",)
    assert taken.details["entity"] == "users"


@pytest.mark.parametrize(
    ("method", "path", "status", "slug"),
    [
        ("GET", "/api/v1/nothing-here", 404, "no-such-route"),
        ("GET", "/api/v1/pipelines/not-a-number", 404, "no-such-route"),
        ("DELETE", "/api/v1/pipelines", 405, "method-not-allowed"),
        ("POST", "/api/v1/pipelines", 400, "malformed-json"),
    ],
)
async def test_every_error_is_a_problem(
    api: ApiHarness, method: str, path: str, status: int, slug: str
) -> None:
    admin = await api.client("admin")
    headers = {"Content-Type": "application/json"}
    answer = await admin.request(method, path, data=b"{not json", headers=headers)
    assert (answer.status, answer.content_type) == (status, PROBLEM), answer.text
    assert answer.json()["slug"] == slug


async def test_the_document_lists_every_problem_a_declared_route_can_answer(
    api: ApiHarness,
) -> None:
    document = (await api.anonymous().get("/api/openapi.json")).json()
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            statuses = set(operation["responses"])
            where = f"{method.upper()} {path}"
            if "requestBody" in operation:
                assert {"400", "415", "422"} <= statuses, where
            if "{" in path:
                assert "404" in statuses, where
            if operation["security"]:
                assert "401" in statuses, where
            if operation["security"] and method != "get":
                assert {"403", "409"} <= statuses, where
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    assert set(response["content"]) == {PROBLEM}, (where, status)
            for parameter in operation.get("parameters", []):
                _assert_bounded(parameter["schema"], f"{where} {parameter['name']}")
    for name, schema in document["components"]["schemas"].items():
        if not name.endswith("Out") and name != "Problem":
            _assert_bounded(schema, name)


def _assert_bounded(schema: Any, where: str) -> None:
    if isinstance(schema, list):
        for item in schema:
            _assert_bounded(item, where)
    elif isinstance(schema, dict):
        if schema.get("type") == "integer":
            assert "maximum" in schema or "exclusiveMaximum" in schema, where
            assert "minimum" in schema or "exclusiveMinimum" in schema, where
        for value in schema.values():
            _assert_bounded(value, where)
