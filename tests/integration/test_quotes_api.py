"""The quotes API end to end: catalogue and its CSV import, quotes, print view, PDF read back."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import aiohttp
import pytest
from pypdf import PdfReader

from tests.support.api import ApiClient, ApiHarness

PRICE_LIST = (
    "Наименование;Артикул;Ед.;Цена;Валюта;НДС;Активен\r\n"
    "Шины зимние R16;TYR-16;шт;7 450,50;RUB;20;да\r\n"
    "Шиномонтаж;SRV-01;усл;1500;RUB;20;да\r\n"
    "Коврики;MAT-02;компл;abc;RUB;20;да\r\n"
).encode("cp1251")


async def _pdf(api: ApiHarness, client: ApiClient, quote_id: int) -> tuple[int, str, bytes]:
    async with (
        aiohttp.ClientSession(headers=client.default_headers) as http,
        http.get(api.url(f"/api/v1/quotes/{quote_id}/pdf")) as answer,
    ):
        return answer.status, answer.content_type, await answer.read()


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)


async def _deal(client: ApiClient, currency: str = "RUB") -> int:
    answer = await client.post(
        "/api/v1/deals", json={"title": "Winter tyres", "currency": currency}
    )
    assert answer.status == 201, answer.text
    return int(answer.json()["id"])


async def test_admins_import_a_spreadsheet_price_list_and_sellers_quote_from_it(
    api: ApiHarness,
) -> None:
    admin = await api.client("admin")
    seller = await api.client("seller")
    refused = await seller.post("/api/v1/products/import", data=PRICE_LIST)
    assert refused.status == 403
    imported = await admin.post(
        "/api/v1/products/import", data=PRICE_LIST, headers={"Content-Type": "text/csv"}
    )
    assert imported.status == 200, imported.text
    result = imported.json()
    assert (result["created"], result["errors"], result["delimiter"]) == (2, 1, ";")
    assert result["row_errors"][0]["row"] == 4
    assert "unit_price" in result["row_errors"][0]["fields"]
    again = (await admin.post("/api/v1/products/import", data=PRICE_LIST)).json()
    assert (again["created"], again["unchanged"]) == (0, 2)

    products = (await seller.get("/api/v1/products", params={"q": "TYR"})).json()["items"]
    assert [(p["sku"], p["unit_price"], p["tax_rate"]) for p in products] == [
        ("TYR-16", "7450.50", "20")
    ]
    deal_id = await _deal(seller)
    created = await seller.post(
        f"/api/v1/deals/{deal_id}/quotes",
        json={
            "lines": [
                {"product_id": products[0]["id"], "quantity": "4", "discount_percent": "10"},
                {"description": "Хранение шин", "quantity": "1", "unit_price": "3000"},
            ],
            "locale": "ru",
        },
    )
    assert created.status == 201, created.text
    quote = created.json()
    # 4 x 7450.50 = 29802.00, less 10 % = 26821.80, VAT 20 % = 5364.36; storage 3000, no tax.
    assert [line["total"] for line in quote["lines"]] == ["32186.16", "3000.00"]
    assert (quote["discount"], quote["tax"], quote["total"]) == ("2980.20", "5364.36", "35186.16")
    assert quote["number"].startswith("Q-")
    assert quote["status"] == "draft"
    assert "send" in quote["actions"]

    page = await seller.get(f"/api/v1/quotes/{quote['id']}/print")
    assert page.status == 200
    assert page.content_type == "text/html"
    assert "Коммерческое предложение" in page.text
    assert "35\u00a0186,16\u00a0₽" in page.text  # Russian grouping and decimal comma

    other = await api.client("seller")
    assert (await other.get(f"/api/v1/quotes/{quote['id']}")).status == 404
    assert (await other.get(f"/api/v1/quotes/{quote['id']}/print")).status == 404


async def test_the_server_computes_previews_and_refuses_floats(api: ApiHarness) -> None:
    seller = await api.client("seller")
    preview = await seller.post(
        "/api/v1/quotes/preview",
        json={
            "currency": "EUR",
            "tax_rounding": "per_total",
            "lines": [{"quantity": "1", "unit_price": "0.05", "tax_rate": "10"}] * 3,
        },
    )
    assert preview.status == 200, preview.text
    assert (preview.json()["tax"], preview.json()["total"]) == ("0.02", "0.17")
    floats = await seller.post(
        "/api/v1/quotes/preview",
        json={"currency": "EUR", "lines": [{"quantity": 1.5, "unit_price": "1"}]},
    )
    assert floats.status == 422


@pytest.mark.parametrize(
    ("locale", "currency", "words"),
    [
        ("zh-CN", "CNY", ["报价单", "总计", "¥12,100.00"]),
        ("fa", "IRR", ["پیشنهاد", "قیمت", "جمع", "کل"]),
    ],
)
async def test_pdf_quotes_read_back_in_their_language(
    api: ApiHarness, locale: str, currency: str, words: list[str]
) -> None:
    seller = await api.client("seller")
    deal_id = await _deal(seller, currency)
    created = await seller.post(
        f"/api/v1/deals/{deal_id}/quotes",
        json={
            "locale": locale,
            "lines": [
                {
                    "description": "轮胎 / لاستیک",
                    "quantity": "2",
                    "unit_price": "5000",
                    "tax_rate": "21",
                },
                {"description": "安装 / نصب", "quantity": "1", "unit_price": "0"},
            ],
        },
    )
    assert created.status == 201, created.text
    status, content_type, pdf = await _pdf(api, seller, created.json()["id"])
    assert (status, content_type) == (200, "application/pdf")
    text = _text(pdf)
    for word in words:
        assert word in text, f"{word!r} not in the PDF's text: {text!r}"
    if locale == "fa":
        assert "12,100" in text.replace("٬", ",")  # 10,000 + 21 % tax, no decimals in rials


async def test_a_server_without_weasyprint_says_what_is_missing(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    seller = await api.client("seller")
    deal_id = await _deal(seller)
    created = await seller.post(
        f"/api/v1/deals/{deal_id}/quotes",
        json={"lines": [{"description": "Wash", "quantity": "1", "unit_price": "10"}]},
    )
    quote_id = created.json()["id"]
    # The import of the library fails as it does on a machine without it.
    monkeypatch.setitem(sys.modules, "weasyprint", None)
    answer = await seller.get(f"/api/v1/quotes/{quote_id}/pdf")
    assert answer.status == 503
    assert answer.content_type == "application/problem+json"
    problem = answer.json()
    assert problem["slug"] == "pdf-unavailable"
    assert "weasyprint" in problem["detail"]
    assert "scripts/install-pdf-deps" in problem["detail"]
    page = await seller.get(f"/api/v1/quotes/{quote_id}/print")
    assert page.status == 200  # the HTML view does not need it


async def test_accepting_through_the_api_moves_the_deal(api: ApiHarness) -> None:
    head = await api.client("head")
    seller = await api.client("seller")
    deal_id = await _deal(seller)
    deal = (await seller.get(f"/api/v1/deals/{deal_id}")).json()
    pipeline = (await seller.get(f"/api/v1/pipelines/{deal['pipeline_id']}")).json()
    won = next(s["id"] for s in pipeline["stages"] if s["kind"] == "won")
    refused = await seller.put(
        f"/api/v1/pipelines/{deal['pipeline_id']}/quote-settings", json={"accept_stage_id": won}
    )
    assert refused.status == 403
    saved = await head.put(
        f"/api/v1/pipelines/{deal['pipeline_id']}/quote-settings", json={"accept_stage_id": won}
    )
    assert saved.status == 200, saved.text
    quote = (
        await seller.post(
            f"/api/v1/deals/{deal_id}/quotes",
            json={"lines": [{"description": "Wash", "quantity": "3", "unit_price": "10.10"}]},
        )
    ).json()
    early = await seller.post(f"/api/v1/quotes/{quote['id']}/accept", json={})
    assert early.status == 409
    assert early.json()["slug"] == "quote-state"
    assert (await seller.post(f"/api/v1/quotes/{quote['id']}/send")).status == 200
    accepted = await seller.post(f"/api/v1/quotes/{quote['id']}/accept", json={})
    assert accepted.status == 200, accepted.text
    assert accepted.json()["deal_stage_id"] == won
    moved = (await seller.get(f"/api/v1/deals/{deal_id}")).json()
    assert (moved["stage_id"], moved["amount"], moved["status"]) == (won, "30.30", "won")


async def test_a_server_without_fonts_says_which_package_is_missing(
    api: ApiHarness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seller = await api.client("seller")
    deal_id = await _deal(seller, "CNY")
    created = await seller.post(
        f"/api/v1/deals/{deal_id}/quotes",
        json={
            "locale": "zh-CN",
            "lines": [{"description": "轮胎", "quantity": "1", "unit_price": "9"}],
        },
    )
    # fontconfig answers no font for Chinese, as on a machine without fonts-noto-cjk.
    fake = tmp_path / "fc-list"
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    answer = await seller.get(f"/api/v1/quotes/{created.json()['id']}/pdf")
    assert answer.status == 503
    problem = answer.json()
    assert problem["slug"] == "pdf-unavailable"
    assert "fonts-noto-cjk" in problem["detail"]
