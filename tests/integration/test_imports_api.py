"""The imports API: upload, preview with a mapping, run, poll, the row report; RBAC."""

from __future__ import annotations

import asyncio
import csv
import io
from typing import Any

from tests.integration.import_support import fixture
from tests.support.api import ApiClient, ApiHarness


async def _upload(client: ApiClient, name: str, kind: str = "contacts") -> Any:
    answer = await client.post(
        "/api/v1/imports/uploads",
        params={"kind": kind},
        data=fixture(name),
        headers={"Content-Type": "text/csv", "X-File-Name": name},
    )
    assert answer.status == 201, answer.text
    return answer.json()


async def _finished(client: ApiClient, import_id: str) -> Any:
    for _ in range(200):
        state = (await client.get(f"/api/v1/imports/{import_id}")).json()
        if state["status"] != "running":
            return state
        await asyncio.sleep(0.05)
    raise AssertionError("the import did not finish")


async def test_upload_preview_run_and_report(api: ApiHarness) -> None:
    head = await api.client("head")
    preview = await _upload(head, "contacts_ru_cp1251.csv")
    assert (preview["encoding"], preview["delimiter"]) == ("cp1251", ";")
    assert preview["header"][:3] == ["ФИО", "Компания", "Телефон"]
    assert preview["mapping"] == ["name", "company", "phone", "email", None]
    assert preview["rows_total"] == 7
    assert preview["rows"][2]["errors"] == [
        {"column": "Телефон", "reason": "not a phone number: 'телефон не указан'"}
    ]
    # The person leaves the email column out: the bad address no longer fails its row.
    mapping = ["name", "company", "phone", None, None]
    remapped = await head.post(
        f"/api/v1/imports/uploads/{preview['upload_id']}/preview",
        json={"kind": "contacts", "mapping": mapping},
    )
    assert remapped.status == 200, remapped.text
    assert remapped.json()["rows"][3]["errors"] == []
    bad = await head.post(
        f"/api/v1/imports/uploads/{preview['upload_id']}/preview",
        json={"kind": "contacts", "mapping": ["name"]},
    )
    assert bad.status == 422

    started = await head.post(
        "/api/v1/imports", json={"upload_id": preview["upload_id"], "mapping": mapping}
    )
    assert started.status == 202, started.text
    done = await _finished(head, started.json()["id"])
    assert done["status"] == "done", done
    assert (done["counts"]["created"], done["counts"]["error"]) == (4, 2)
    assert done["run_id"] is not None

    rows = await head.get(f"/api/v1/imports/{done['id']}/rows", params={"status": "error"})
    assert [(r["row"], r["column"]) for r in rows.json()["items"]] == [(5, "Телефон"), (7, "ФИО")]
    report = await head.get(f"/api/v1/imports/{done['id']}/report")
    assert report.content_type == "text/csv"
    lines = list(csv.reader(io.StringIO(report.text.lstrip("\ufeff"))))
    assert lines[0] == ["row", "status", "id", "column", "reason"]
    assert len(lines) == 1 + 7

    contacts = (await head.get("/api/v1/contacts", params={"q": "Кузнецова"})).json()
    assert contacts["items"][0]["email"] is None


async def test_dry_run_and_a_sellers_import(api: ApiHarness) -> None:
    seller = await api.client("seller")
    other = await api.client("seller")
    preview = await _upload(seller, "contacts_en_utf8_bom.csv")
    assert preview["encoding"] == "utf-8-sig"
    assert preview["mapping"] == ["name", "company", "phone", "phone", "email", "owner"]
    assert other.user is not None
    refused = await seller.post(
        "/api/v1/imports", json={"upload_id": preview["upload_id"], "owner_id": other.user.id}
    )
    assert refused.status == 403
    stolen = await other.post("/api/v1/imports", json={"upload_id": preview["upload_id"]})
    assert stolen.status == 404

    dry = await seller.post(
        "/api/v1/imports", json={"upload_id": preview["upload_id"], "dry_run": True}
    )
    state = await _finished(seller, dry.json()["id"])
    assert (state["status"], state["dry_run"], state["run_id"]) == ("done", True, None)
    assert state["counts"]["created"] == 3
    assert (await seller.get("/api/v1/contacts")).json()["total"] == 0

    real = await seller.post("/api/v1/imports", json={"upload_id": preview["upload_id"]})
    state = await _finished(seller, real.json()["id"])
    assert state["counts"]["created"] == 3
    mine = (await seller.get("/api/v1/contacts")).json()
    assert mine["total"] == 3
    assert (await other.get("/api/v1/contacts")).json()["total"] == 0
    assert (await other.get(f"/api/v1/imports/{state['id']}")).status == 404


async def test_multipart_upload(api: ApiHarness) -> None:
    admin = await api.client("admin")
    form = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="file"; filename="zh.tsv"\r\n'
        b"Content-Type: text/csv\r\n\r\n" + fixture("contacts_zh_gb18030.tsv") + b"\r\n--XyZ--\r\n"
    )
    answer = await admin.post(
        "/api/v1/imports/uploads",
        data=form,
        headers={"Content-Type": "multipart/form-data; boundary=XyZ"},
    )
    assert answer.status == 201, answer.text
    preview = answer.json()
    assert (preview["file_name"], preview["encoding"], preview["delimiter"]) == (
        "zh.tsv",
        "gb18030",
        "\t",
    )
    assert preview["rows"][0]["cells"][0] == "张伟"
