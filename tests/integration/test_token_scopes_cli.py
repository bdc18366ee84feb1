"""``cti token create --scope --allow`` issues a PBX token; migration 0008 goes down safely."""

from __future__ import annotations

import asyncio
import io

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from crmlite.db.engine import create_engine, session_factory
from crmlite.db.migrate import downgrade, upgrade
from crmlite.db.models import ApiToken
from crmlite.domain.principal import SYSTEM, Role
from crmlite.services import auth as auth_service
from crmlite.services import users as users_service
from cti.cli import main


async def _cti(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    *argv: str,
) -> tuple[int, str, str]:
    monkeypatch.setenv("CTI_DATABASE_URL", database_url)
    monkeypatch.delenv("CTI_CONFIG", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def test_token_create_with_scope_and_addresses(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    await _cti(monkeypatch, capsys, database_url, "user", "add", "pbx", "--role", "seller")
    code, out, err = await _cti(
        monkeypatch,
        capsys,
        database_url,
        *("token", "create", "pbx", "--name", "dialplan", "--scope", "route-lookup"),
        *("--allow", "10.0.0.5", "--allow", "10.0.1.0/24"),
    )
    assert code == 0, err
    token = out.strip()
    assert "scope route-lookup" in err
    assert "from 10.0.0.5/32 10.0.1.0/24" in err
    engine = create_engine(database_url)
    try:
        async with session_factory(engine).begin() as db:
            grant = await auth_service.resolve_token_grant(db, token)
            full_rights = await auth_service.resolve_api_token(db, token)
    finally:
        await engine.dispose()
    assert grant is not None
    assert (grant.scope, grant.allowed_ips) == ("route-lookup", ("10.0.0.5/32", "10.0.1.0/24"))
    assert full_rights is None  # never a full-rights principal, wherever it is offered
    code, _, err = await _cti(
        monkeypatch, capsys, database_url, "token", "create", "pbx", "--allow", "pbx.internal"
    )
    assert code == 1
    assert "not an IP address" in err


async def test_downgrading_0008_revokes_the_tokens_it_would_widen(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    async with sessions.begin() as db:
        user = await users_service.create_user(db, SYSTEM, login="pbx", role=Role.SELLER)
        full = await auth_service.create_api_token(db, user.id, "full")
        scoped = await auth_service.create_api_token(db, user.id, "pbx", scope="route-lookup")
        bound = await auth_service.create_api_token(db, user.id, "bound", allowed_ips=["::1"])
    await downgrade(engine, "0007")
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT id, revoked_at FROM api_tokens"))
        revoked = {token_id: at for token_id, at in rows}
    assert revoked[full.view.id] is None
    assert revoked[scoped.view.id] is not None
    assert revoked[bound.view.id] is not None
    await upgrade(engine)
    async with sessions() as db:
        scopes = {
            token_id: scope
            for token_id, scope in await db.execute(select(ApiToken.id, ApiToken.scope))
        }
    assert scopes == {full.view.id: None, scoped.view.id: None, bound.view.id: None}
