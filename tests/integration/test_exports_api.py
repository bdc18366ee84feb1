"""Exports of the contacts, deals and call-log lists: CSV and XLSX, the lists' filters and RBAC."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from typing import Any

from openpyxl import load_workbook

from tests.support.api import ApiClient, ApiHarness


def _csv(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff"), "Excel needs the BOM to read UTF-8"
    return list(csv.DictReader(io.StringIO(text[1:])))


async def _bytes(client: ApiClient, path: str, **params: Any) -> tuple[int, str, bytes]:
    async with client.http.get(path, params=params, headers=client.default_headers) as response:
        return response.status, response.headers.get("Content-Type", ""), await response.read()


async def test_contacts_export_csv_follows_filters_and_rbac(api: ApiHarness) -> None:
    anna = await api.client("seller")
    boris = await api.client("seller")
    head = await api.client("head")
    for name, phones in [("Иван Петров", ["+7 903 000 00 01", "8 903 000 00 02"]),
                         ("=cmd|' /C calc'!A0", []), ("Zoe", [])]:  # fmt: skip
        made = await anna.post("/api/v1/contacts", json={
            "name": name, "company": "Acme", "phones": [{"raw": p} for p in phones]})  # fmt: skip
        assert made.status == 201, made.text
    await boris.post("/api/v1/contacts", json={"name": "Boris own"})

    answer = await anna.get("/api/v1/contacts", params={"format": "csv"})
    assert answer.status == 200, answer.text
    assert answer.content_type == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = _csv(answer.text)
    assert [r["name"] for r in rows] == ["'=cmd|' /C calc'!A0", "Zoe", "Иван Петров"]
    assert sorted(rows[2]["phones"].split(", ")) == ["+79030000001", "+79030000002"]
    assert anna.user is not None
    assert rows[2]["owner"] == anna.user.login
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", rows[2]["created_at"])

    filtered = await anna.get("/api/v1/contacts", params={"q": "Zoe"},
                              headers={"Accept": "text/csv"})  # fmt: skip
    assert [r["name"] for r in _csv(filtered.text)] == ["Zoe"]
    everyone = _csv((await head.get("/api/v1/contacts", params={"format": "csv"})).text)
    assert len(everyone) == 4
    json_list = await anna.get("/api/v1/contacts", params={"format": "json"})
    assert json_list.json()["total"] == 3
    # The database writes the CSV's times (SQLite by cutting its stored text): the same instants
    # as the JSON list's, to the second.
    stored = {item["id"]: item for item in json_list.json()["items"]}
    for row in rows:
        for column in ("created_at", "updated_at"):
            instant = dt.datetime.fromisoformat(stored[int(row["id"])][column])
            assert row[column] == instant.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def test_deals_export_xlsx(api: ApiHarness) -> None:
    seller = await api.client("seller")
    other = await api.client("seller")
    for title, amount in [("Big", "1500.50"), ("Small", "10")]:
        made = await seller.post("/api/v1/deals", json={"title": title, "amount": amount})
        assert made.status == 201, made.text
    await other.post("/api/v1/deals", json={"title": "Not mine", "amount": "1"})

    status, content_type, body = await _bytes(seller, "/api/v1/deals", format="xlsx", sort="title")
    assert status == 200
    assert content_type.startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(body), read_only=True).active
    assert sheet is not None
    values = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert values[0][:4] == ["id", "title", "amount", "currency"]
    assert [(row[1], row[2], row[5]) for row in values[1:]] == [
        ("Big", 1500.5, "Unsorted"),
        ("Small", 10, "Unsorted"),
    ]


async def test_call_log_export(api: ApiHarness) -> None:
    seller = await api.client("seller")
    contact = (await seller.post("/api/v1/contacts", json={"name": "Caller"})).json()
    logged = await seller.post("/api/v1/activities", json={
        "kind": "call", "contact_id": contact["id"], "direction": "inbound",
        "from_number": "+79030000001", "to_number": "101", "duration_s": 42,
        "outcome": "answered"})  # fmt: skip
    assert logged.status == 201, logged.text
    await seller.post("/api/v1/activities", json={
        "kind": "note", "contact_id": contact["id"], "body": "not a call"})  # fmt: skip
    answer = await seller.get("/api/v1/activities", params={"kind": "call", "format": "csv"})
    rows = _csv(answer.text)
    assert [(r["from_number"], r["duration_s"], r["contact"]) for r in rows] == [
        ("+79030000001", "42", "Caller")
    ]
    stranger = await api.client("seller")
    assert _csv((await stranger.get("/api/v1/activities", params={"format": "csv"})).text) == []
