"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from aiohttp import web
from alembic.script import ScriptDirectory
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from crmlite.db.migrate import alembic_config


@cache
def schema_head() -> str:
    """The newest migration revision shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    return head or ""


async def schema_revision(engine: AsyncEngine) -> str | None:
    """The migration revision of the database; None when it was never migrated."""
    async with engine.connect() as connection:
        migrated = await connection.run_sync(
            lambda sync: inspect(sync).has_table("alembic_version")
        )
        if not migrated:
            return None
        revision = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    return None if revision is None else str(revision)


def health_routes(engine: Callable[[], AsyncEngine]) -> list[web.RouteDef]:
    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_request: web.Request) -> web.Response:
        try:
            revision = await schema_revision(engine())
        except (SQLAlchemyError, OSError) as err:
            return web.json_response(
                {"status": "unavailable", "database": type(err).__name__}, status=503
            )
        if revision != schema_head():
            needs = f"at {revision or 'no revision'}, needs {schema_head()}: run `cti migrate`"
            return web.json_response(
                {"status": "unavailable", "database": "ok", "schema": needs}, status=503
            )
        return web.json_response({"status": "ready", "database": "ok", "schema": revision})

    async def metrics(_request: web.Request) -> web.Response:
        response = web.Response(body=generate_latest(REGISTRY))
        response.headers["Content-Type"] = CONTENT_TYPE_LATEST
        return response

    return [
        web.get("/healthz", healthz),
        web.get("/readyz", readyz),
        web.get("/metrics", metrics),
    ]
