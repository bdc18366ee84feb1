"""``cti serve``: run the service."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys

import structlog
from aiohttp import web
from sqlalchemy import make_url
from sqlalchemy.exc import SQLAlchemyError

from crmlite.db.engine import create_engine
from cti.app import create_app
from cti.observability import configure_logging, settle_memory
from cti.settings import load_settings
from cti.web.health import schema_head, schema_revision

log = structlog.get_logger(__name__)


async def database_problem(url: str) -> str | None:
    """Why the service cannot use the database at ``url`` (unreachable, not migrated), or None."""
    shown = make_url(url).render_as_string(hide_password=True)
    engine = create_engine(url)
    try:
        revision = await schema_revision(engine)
    except (SQLAlchemyError, OSError) as err:
        return f"cannot use the database at {shown}: {err}"
    finally:
        await engine.dispose()
    if revision != schema_head():
        return (
            f"the database at {shown} is at revision {revision or '(none)'}, this code needs "
            f"{schema_head()}: run `cti migrate` first"
        )
    return None


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    configure_logging(settings.logging.level, settings.logging.format)
    host = args.host or settings.server.host
    port = args.port if args.port is not None else settings.server.port
    problem = asyncio.run(database_problem(settings.database.url))
    if problem:
        print(f"cti: {problem}", file=sys.stderr)
        return 2
    app = create_app(settings)
    app.on_startup.append(_settle)
    web.run_app(app, host=host, port=port, print=_announce)
    return 0


def _announce(message: str) -> None:
    """Log where the service listens once its sockets are bound (with ``--port 0``: which port).

    aiohttp hands this its banner, which names every bound address; the log keeps the addresses.
    """
    log.info("serving", urls=re.findall(r"https?://\S+", message))


async def _settle(_app: web.Application) -> None:
    settle_memory()
