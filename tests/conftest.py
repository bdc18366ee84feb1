"""Shared fixtures: real databases (SQLite always, PostgreSQL when configured), real servers."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crmlite.db.engine import create_engine, session_factory
from crmlite.db.migrate import upgrade

# The ``api`` fixture: the whole service on a real socket, with users and authenticated clients.
pytest_plugins = ["tests.support.api"]

FIXTURES = Path(__file__).parent / "fixtures"
POSTGRES_URL = os.environ.get("CTI_TEST_POSTGRES_URL", "")
REDIS_URL = os.environ.get("CTI_TEST_REDIS_URL", "")
REQUIRE_SERVICES = os.environ.get("CTI_TEST_REQUIRE_SERVICES") == "1"

BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES_URL else [])]


def _pg_dsn(database: str) -> str:
    """asyncpg DSN for ``database`` on the server of CTI_TEST_POSTGRES_URL."""
    base = POSTGRES_URL.replace("postgresql+asyncpg://", "postgresql://")
    return base.rsplit("/", 1)[0] + "/" + database


def _sa_url(database: str) -> str:
    return POSTGRES_URL.rsplit("/", 1)[0] + "/" + database


class DatabaseTemplates:
    """One migrated template per backend per test run; each test gets a fresh copy of it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.sqlite_template: Path | None = None
        self.pg_template: str | None = None
        self.run_id = uuid.uuid4().hex[:8]

    async def sqlite_copy(self) -> str:
        if self.sqlite_template is None:
            path = self.root / "template.db"
            engine = create_engine(f"sqlite+aiosqlite:///{path}")
            await upgrade(engine)
            await engine.dispose()
            self.sqlite_template = path
        target = self.root / f"{uuid.uuid4().hex}.db"
        shutil.copyfile(self.sqlite_template, target)
        return f"sqlite+aiosqlite:///{target}"

    async def pg_copy(self) -> tuple[str, str]:
        admin = await asyncpg.connect(_pg_dsn("postgres"))
        try:
            if self.pg_template is None:
                name = f"cti_tpl_{self.run_id}"
                await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
                await admin.execute(f'CREATE DATABASE "{name}"')
                engine = create_engine(_sa_url(name))
                await upgrade(engine)
                await engine.dispose()
                self.pg_template = name
            database = f"cti_test_{self.run_id}_{uuid.uuid4().hex[:8]}"
            await admin.execute(f'CREATE DATABASE "{database}" TEMPLATE "{self.pg_template}"')
        finally:
            await admin.close()
        return _sa_url(database), database

    async def drop(self, database: str) -> None:
        admin = await asyncpg.connect(_pg_dsn("postgres"))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await admin.close()

    async def close(self) -> None:
        if self.pg_template:
            await self.drop(self.pg_template)


@pytest.fixture(scope="session")
def db_templates(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DatabaseTemplates]:
    import asyncio

    templates = DatabaseTemplates(tmp_path_factory.mktemp("db"))
    yield templates
    if templates.pg_template:
        asyncio.run(templates.close())


@pytest.fixture(params=BACKENDS)
async def database_url(
    request: pytest.FixtureRequest, db_templates: DatabaseTemplates
) -> AsyncIterator[str]:
    """A migrated, empty database URL, on each backend in turn."""
    if request.param == "sqlite":
        yield await db_templates.sqlite_copy()
        return
    url, name = await db_templates.pg_copy()
    yield url
    await db_templates.drop(name)


@pytest.fixture
async def postgres_url(db_templates: DatabaseTemplates) -> AsyncIterator[str]:
    """A migrated, empty PostgreSQL database URL (for what only PostgreSQL has)."""
    if not POSTGRES_URL:
        if REQUIRE_SERVICES:
            pytest.fail("CTI_TEST_POSTGRES_URL is required in CI")
        pytest.skip("set CTI_TEST_POSTGRES_URL to run the PostgreSQL tests")
    url, name = await db_templates.pg_copy()
    yield url
    await db_templates.drop(name)


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return session_factory(engine)


@pytest.fixture
def redis_url() -> str:
    if not REDIS_URL:
        if REQUIRE_SERVICES:
            pytest.fail("CTI_TEST_REDIS_URL is required in CI")
        pytest.skip("set CTI_TEST_REDIS_URL to run the Redis tests")
    return REDIS_URL


def pytest_sessionstart(session: pytest.Session) -> None:
    if REQUIRE_SERVICES and not POSTGRES_URL:
        raise pytest.UsageError("CTI_TEST_POSTGRES_URL must be set when services are required")


def pytest_configure(config: pytest.Config) -> None:
    """Tests log through structlog's default console output, with plain tracebacks.

    Its default renders an exception with rich and every frame's locals: seconds for each
    exception a test provokes on purpose (a 500, a lost PBX), for nothing anyone reads.
    """
    processors = list(structlog.get_config()["processors"])
    if processors and isinstance(processors[-1], structlog.dev.ConsoleRenderer):
        processors[-1] = structlog.dev.ConsoleRenderer(
            colors=False, exception_formatter=structlog.dev.plain_traceback
        )
        structlog.configure(processors=processors)
