"""``cti user add|list|passwd`` and ``cti token create`` against a real database."""

from __future__ import annotations

import asyncio
import io

import pytest
from sqlalchemy import select

from crmlite.db.engine import create_engine, session_factory
from crmlite.db.models import User
from crmlite.services import auth as auth_service
from crmlite.services.passwords import verify_password
from cti.cli import main


async def cti(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    database_url: str,
    *argv: str,
    stdin: str = "",
) -> tuple[int, str, str]:
    """Run ``cti ARGV`` in a worker thread (it runs its own event loop) with CTI_DATABASE_URL."""
    monkeypatch.setenv("CTI_DATABASE_URL", database_url)
    monkeypatch.delenv("CTI_CONFIG", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = await asyncio.to_thread(main, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def _password_hash(database_url: str, login: str) -> str | None:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as db:
            return await db.scalar(select(User.password_hash).where(User.login == login))
    finally:
        await engine.dispose()


async def test_user_add_list_and_passwd(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    code, out, err = await cti(
        monkeypatch,
        capsys,
        database_url,
        "user",
        "add",
        "ivan",
        "--role",
        "seller",
        "--name",
        "Ivan Petrov",
        "--extension",
        "101",
        "--interface",
        "PJSIP/101",
        "--interface",
        "Local/101@from-queue/n",
        "--password-stdin",
        stdin="first-password\n",
    )
    assert code == 0, err
    assert "added seller ivan" in out
    stored = await _password_hash(database_url, "ivan")
    assert stored is not None
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "first-password")

    code, out, _ = await cti(
        monkeypatch, capsys, database_url, "user", "add", "boss", "--role", "admin"
    )
    assert code == 0
    assert await _password_hash(database_url, "boss") is None

    code, out, _ = await cti(monkeypatch, capsys, database_url, "user", "list")
    assert code == 0
    rows = out.splitlines()
    assert rows[0].split()[:4] == ["ID", "LOGIN", "ROLE", "ACTIVE"]
    boss, ivan = rows[1].split(), rows[2].split()
    assert boss[1:4] == ["boss", "admin", "yes"]
    assert ivan[1:4] == ["ivan", "seller", "yes"]
    assert {"101", "PJSIP/101", "Local/101@from-queue/n"} <= set(ivan)

    code, out, err = await cti(
        monkeypatch, capsys, database_url, "user", "passwd", "ivan", stdin="second-password\n"
    )
    assert code == 0, err
    changed = await _password_hash(database_url, "ivan")
    assert verify_password(changed, "second-password")
    assert not verify_password(changed, "first-password")


async def test_user_errors_exit_non_zero(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    args = ("user", "add", "olga", "--role", "head", "--password-stdin")
    code, _, err = await cti(monkeypatch, capsys, database_url, *args, stdin="short\n")
    assert code == 1
    assert "password too short" in err
    code, _, err = await cti(monkeypatch, capsys, database_url, *args, stdin="long-enough\n")
    assert code == 0, err
    code, _, err = await cti(monkeypatch, capsys, database_url, *args, stdin="long-enough\n")
    assert code == 1
    assert "taken" in err
    code, _, err = await cti(
        monkeypatch, capsys, database_url, "user", "passwd", "nobody", stdin="whatever-pass\n"
    )
    assert code == 1
    assert "no user 'nobody'" in err


async def test_token_create_prints_a_working_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], database_url: str
) -> None:
    await cti(monkeypatch, capsys, database_url, "user", "add", "erp", "--role", "head")
    code, out, err = await cti(
        monkeypatch, capsys, database_url, "token", "create", "erp", "--name", "erp-sync"
    )
    assert code == 0, err
    token = out.strip()
    assert token.startswith("cti_")
    assert "\n" not in token
    assert "will not be shown again" in err
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as db:
            principal = await auth_service.resolve_api_token(db, token)
    finally:
        await engine.dispose()
    assert principal is not None
    assert principal.login == "erp"
    code, _, err = await cti(monkeypatch, capsys, database_url, "token", "create", "ghost")
    assert code == 1
    assert "ghost" in err
