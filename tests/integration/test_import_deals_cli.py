"""Deal imports and ``cti import`` on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import Contact, Deal, DealStageChange, Stage
from crmlite.domain.import_fields import ImportKind
from cti.cli import main
from tests.integration.import_support import FIXTURES, count_contacts, fixture, import_file


async def test_deals_from_a_russian_file_and_not_twice(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    data = fixture("deals_ru_utf8.csv")
    _, report = await import_file(sessions, data, kind=ImportKind.DEALS)
    assert report.by_row() == {
        2: ("created", ""),
        3: ("created", ""),
        4: ("error", "Причина отказа"),
        5: ("error", "Сумма"),
        6: ("created", ""),
    }
    async with sessions() as session:
        deals = {
            d.title: d
            for d in await session.scalars(select(Deal).join(Stage, Stage.id == Deal.stage_id))
        }
        supply = deals["Поставка ромашек"]
        assert (supply.amount, supply.currency, supply.source) == (
            Decimal("1250000.50"),
            "RUB",
            "import",
        )
        assert supply.created_at == dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
        assert supply.expected_close_date == dt.date(2026, 4, 15)
        contact = await session.get_one(Contact, supply.contact_id)
        assert contact.name == "Иванов Иван"
        contract = deals["Годовой контракт"]
        stage = await session.get_one(Stage, contract.stage_id)
        assert (stage.name, contract.closed_at) == ("Won", contract.created_at)
        assert contract.created_at == dt.datetime(2026, 2, 10, 9, 30, tzinfo=dt.UTC)
        history = await session.scalar(
            select(DealStageChange.changed_at).where(DealStageChange.deal_id == contract.id)
        )
        assert history == contract.created_at
        assert deals["Отказ по цене"].lost_reason == "дорого"
    again, report = await import_file(sessions, data, kind=ImportKind.DEALS)
    assert again.counts["created"] == 0
    assert again.counts["unchanged"] == 3
    async with sessions() as session:
        assert await session.scalar(select(func.count(Deal.id))) == 3
        assert await count_contacts(session) == 2


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


async def test_cli_prints_the_row_report_and_a_json_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    path = str(FIXTURES / "contacts_ru_cp1251.csv")
    code, lines, err = await _cti(
        monkeypatch, capsys, database_url, "import", "contacts", path, "--dry-run"
    )
    assert code == 0, err
    assert lines[0] == "row 2: created"
    assert "row 5: error [Телефон] not a phone number: 'телефон не указан'" in lines
    summary = json.loads(lines[-1])
    assert summary["dry_run"] is True
    assert (summary["created"], summary["error"], summary["unchanged"]) == (3, 3, 1)
    async with sessions() as session:
        assert await count_contacts(session) == 0

    code, lines, err = await _cti(
        monkeypatch, capsys, database_url, "import", "contacts", path, "--batch", "2"
    )
    assert code == 0, err
    assert json.loads(lines[-1])["created"] == 3
    code, lines, err = await _cti(monkeypatch, capsys, database_url, "import", "contacts", path)
    summary = json.loads(lines[-1])
    assert (summary["created"], summary["unchanged"], summary["status"]) == (0, 4, "done")
    async with sessions() as session:
        assert await count_contacts(session) == 3


async def test_cli_writes_the_report_file(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    tmp_path: Path,
) -> None:
    report = tmp_path / "report.csv"
    path = str(FIXTURES / "contacts_zh_gb18030.tsv")
    code, lines, err = await _cti(
        monkeypatch, capsys, database_url, "import", "contacts", path, "--report", str(report)
    )
    assert code == 0, err
    assert len(lines) == 1
    assert json.loads(lines[0])["created"] == 3
    rows = list(csv.reader(io.StringIO(report.read_text(encoding="utf-8-sig"))))
    assert rows[0] == ["row", "status", "id", "column", "reason"]
    assert rows[3][:2] == ["4", "error"]
    assert rows[3][3] == "电话"


async def test_cli_refuses_an_unknown_owner(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    path = str(FIXTURES / "contacts_en_utf8_bom.csv")
    code, _, err = await _cti(
        monkeypatch, capsys, database_url, "import", "contacts", path, "--owner", "nobody"
    )
    assert code == 1
    assert "cti:" in err
