"""Admins read and replace the call rules over HTTP; names that do not exist are refused."""

from __future__ import annotations

from typing import Any

import pytest

from cti.web.call_crm import RULE_BOOK
from tests.support.api import ApiHarness


def _document(**then: Any) -> dict[str, Any]:
    return {
        "queues": ["sales"],
        "groups": {"sellers": {"users": ["ivan"], "queues": ["sales"]}},
        "rules": [
            {
                "id": "sales",
                "when": {"direction": "inbound", "queue": "sales", "did": "8 495 123-45-67"},
                "then": {"deal": {"pipeline": "Sales", "stage": "Unsorted"}, **then},
            }
        ],
    }


async def test_defaults_are_in_force_until_someone_saves(api: ApiHarness) -> None:
    head = await api.client("head")
    answer = await head.get("/api/v1/rules")
    assert answer.status == 200
    assert answer.json()["source"] == "defaults"
    assert answer.json()["version"] is None
    seller = await api.client("seller")
    assert (await seller.get("/api/v1/rules")).status == 403


async def test_admin_replaces_rules_and_they_are_in_force(api: ApiHarness) -> None:
    await api.create_user("seller", login="ivan")
    admin = await api.client("admin")
    answer = await admin.put("/api/v1/rules", json=_document(owner="round-robin:sellers"))
    assert answer.status == 200, answer.text
    assert answer.json()["version"] is not None
    assert answer.json()["source"] == "api"
    book = api.app[RULE_BOOK]
    assert [rule.id for rule in book.ruleset.rules] == ["sales"]
    assert book.ruleset.rules[0].when.dids == {"+74951234567"}
    again = await admin.get("/api/v1/rules")
    assert again.json()["document"]["rules"][0]["id"] == "sales"


@pytest.mark.parametrize(
    ("document", "field", "fragment"),
    [
        (
            {"rules": [{"id": "a", "then": {"deal": {"pipeline": "Nope"}}}]},
            "rules[0].then.deal.pipeline",
            "no pipeline",
        ),
        (
            {"rules": [{"id": "a", "then": {"deal": {"stage": "Gone"}}}]},
            "rules[0].then.deal.stage",
            "no stage",
        ),
        (
            {"rules": [{"id": "a", "then": {"owner": "user:ghost"}}]},
            "rules[0].then.owner",
            "no user",
        ),
        ({"rules": [{"id": "a", "when": {"queue": "q"}}]}, "rules[0].when.queue", "unknown queue"),
        ({"rules": [{"id": "a", "when": {"moment": "later"}}]}, "rules[0].when.moment", "one of"),
        ({"rules": [{"id": "a", "when": {"did": "xyz"}}]}, "rules[0].when.did", "phone number"),
    ],
)
async def test_invalid_rules_are_refused_field_by_field(
    api: ApiHarness, document: dict[str, Any], field: str, fragment: str
) -> None:
    admin = await api.client("admin")
    answer = await admin.put("/api/v1/rules", json=document)
    assert answer.status == 422, answer.text
    assert answer.content_type == "application/problem+json"
    errors = {error["field"]: error["message"] for error in answer.json()["errors"]}
    assert field in errors, errors
    assert fragment in errors[field]
    assert api.app[RULE_BOOK].source == "defaults"  # nothing changed


async def test_only_admins_replace_rules(api: ApiHarness) -> None:
    head = await api.client("head")
    assert (await head.put("/api/v1/rules", json={"rules": []})).status == 403


async def test_check_validates_without_saving(api: ApiHarness) -> None:
    head = await api.client("head")
    good = await head.post("/api/v1/rules/check", json={"rules": [{"id": "a"}]})
    assert good.status == 200
    assert good.json()["rules"] == 1
    bad = await head.post("/api/v1/rules/check", json={"rules": [{"id": "A B"}]})
    assert bad.status == 422
    assert api.app[RULE_BOOK].source == "defaults"
