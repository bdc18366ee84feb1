"""Alembic migrations go up and down cleanly on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection, inspect
from sqlalchemy.ext.asyncio import AsyncEngine

from crmlite.db.migrate import downgrade, upgrade
from crmlite.db.models import Base


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda c: inspect(c).get_table_names())
    return set(names) - {"alembic_version"}


async def test_upgrade_creates_every_model_table(engine: AsyncEngine) -> None:
    assert await _tables(engine) == set(Base.metadata.tables)


async def test_downgrade_to_base_and_back(engine: AsyncEngine) -> None:
    await downgrade(engine, "base")
    assert await _tables(engine) == set()
    await upgrade(engine)
    assert await _tables(engine) == set(Base.metadata.tables)


async def test_the_migrated_schema_is_the_models_schema(engine: AsyncEngine) -> None:
    """Tables, columns, indexes and constraints: what Alembic built is what the models declare."""

    def differences(connection: Connection) -> list[object]:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with engine.connect() as connection:
        drift = await connection.run_sync(differences)
    assert drift == []
