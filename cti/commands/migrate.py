"""``cti migrate``: bring the database schema up to date."""

from __future__ import annotations

import argparse
import asyncio

from crmlite.db.engine import create_engine
from crmlite.db.migrate import upgrade
from cti.settings import load_settings


async def _migrate(url: str, revision: str) -> None:
    engine = create_engine(url)
    try:
        await upgrade(engine, revision)
    finally:
        await engine.dispose()


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    asyncio.run(_migrate(settings.database.url, args.revision))
    print(f"database at revision {args.revision}: {settings.database.url.split('@')[-1]}")
    return 0
