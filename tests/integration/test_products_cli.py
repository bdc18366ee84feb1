"""``cti import products FILE`` on SQLite and PostgreSQL: rows by SKU, bad rows named, JSON last."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.quote_models import Product
from cti.cli import main

PRICE_LIST = (
    "名称,货号,单位,单价,币种,税率\r\n"
    "冬季轮胎,TYR-16,个,1299.00,,13\r\n"
    "安装服务,SRV-01,次,80,CNY,6\r\n"
    "坏行,,个,10,CNY,6\r\n"
).encode("gb18030")


async def _cti(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    *argv: str,
) -> tuple[int, list[str], str]:
    monkeypatch.setenv("CTI_DATABASE_URL", database_url)
    monkeypatch.delenv("CTI_CONFIG", raising=False)
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out.splitlines(), err


async def test_a_chinese_price_list_imports_once(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
    tmp_path: Path,
) -> None:
    path = tmp_path / "价目表.csv"
    path.write_bytes(PRICE_LIST)
    args = ("import", "products", str(path), "--currency", "CNY")
    code, lines, err = await _cti(monkeypatch, capsys, database_url, *args, "--dry-run")
    assert code == 0, err
    assert lines[0].startswith("row 4: error")
    assert "sku" in lines[0]
    summary = json.loads(lines[-1])
    assert (summary["created"], summary["errors"], summary["dry_run"]) == (2, 1, True)
    async with sessions() as session:
        assert (await session.scalars(select(Product))).all() == []

    code, lines, err = await _cti(monkeypatch, capsys, database_url, *args)
    assert code == 0, err
    assert json.loads(lines[-1])["created"] == 2
    code, lines, err = await _cti(monkeypatch, capsys, database_url, *args)
    assert (json.loads(lines[-1])["created"], json.loads(lines[-1])["unchanged"]) == (0, 2)
    async with sessions() as session:
        tyre = await session.scalar(select(Product).where(Product.sku == "TYR-16"))
        assert tyre is not None
        assert (tyre.name, tyre.unit, tyre.unit_price, tyre.currency, tyre.tax_rate) == (
            "冬季轮胎",
            "个",
            Decimal("1299.0000"),
            "CNY",
            Decimal("13.00"),
        )


async def test_a_file_without_the_required_columns_changes_nothing(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    tmp_path: Path,
) -> None:
    path = tmp_path / "prices.csv"
    path.write_text("name;unit\nTyre;pcs\n", encoding="utf-8")
    code, _lines, err = await _cti(
        monkeypatch, capsys, database_url, "import", "products", str(path)
    )
    assert code == 1
    assert "sku" in err
