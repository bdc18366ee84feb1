"""``cti migrate``: bring the database schema up to date."""

from __future__ import annotations

import argparse
import asyncio

from crmlite.db.engine import create_engine, session_factory
from crmlite.db.migrate import upgrade
from crmlite.domain.product_text import product_text
from crmlite.services.standard_pipeline import localize_standard_pipeline
from cti.settings import Settings, load_settings


async def migrate(settings: Settings, revision: str = "head") -> None:
    """Upgrade the schema; at head, name the seeded pipeline in the install's language."""
    engine = create_engine(settings.database.url)
    try:
        await upgrade(engine, revision)
        if revision == "head":
            async with session_factory(engine).begin() as session:
                text = product_text(settings.i18n.default_locale)
                await localize_standard_pipeline(session, text)
    finally:
        await engine.dispose()


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    asyncio.run(migrate(settings, args.revision))
    print(f"database at revision {args.revision}: {settings.database.url.split('@')[-1]}")
    return 0
