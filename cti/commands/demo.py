"""``cti demo``: migrate, seed demo data, start the simulated PBX beside the service, serve."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import webbrowser
from pathlib import Path

from aiohttp import web

from crmlite.db.engine import create_engine, session_factory
from cti.app import create_app
from cti.commands.migrate import migrate
from cti.demo import DEMO_PASSWORD, DEMO_USERS, DemoSummary, demo_caller_numbers, seed_demo
from cti.observability import configure_logging, settle_memory
from cti.settings import Settings, load_settings

DEMO_DATABASE = Path(".demo") / "cti-demo.db"


def demo_settings(args: argparse.Namespace) -> Settings:
    """The configured settings, with the demo's defaults where the user set nothing."""
    settings = load_settings(args.config)
    update: dict[str, object] = {}
    if not os.environ.get("CTI_DATABASE_URL") and not args.config:
        DEMO_DATABASE.parent.mkdir(exist_ok=True)
        update["database"] = settings.database.model_copy(
            update={"url": f"sqlite+aiosqlite:///{DEMO_DATABASE}"}
        )
    if not settings.pbx:
        update["simulator"] = settings.simulator.model_copy(
            update={
                "enabled": True,
                "calls_per_minute": args.calls_per_minute,
                "known_callers": demo_caller_numbers(),
            }
        )
    if os.environ.get("CTI_LOG_FORMAT") is None and not args.config:
        update["logging"] = settings.logging.model_copy(update={"format": "console"})
    return settings.model_copy(update=update)


async def prepare(settings: Settings) -> tuple[DemoSummary | None, float]:
    """Migrate and seed; what was seeded now (None: it was there) and the seconds it took."""
    await migrate(settings)
    engine = create_engine(settings.database.url)
    try:
        started = time.perf_counter()
        summary = await seed_demo(
            session_factory(engine),
            locale=settings.i18n.default_locale,
        )
        return summary, time.perf_counter() - started
    finally:
        await engine.dispose()


def run(args: argparse.Namespace) -> int:
    settings = demo_settings(args)
    configure_logging(settings.logging.level, settings.logging.format)
    summary, seconds = asyncio.run(prepare(settings))
    url = f"http://{args.host}:{args.port}/"
    print(_banner(url, summary, settings), flush=True)
    if summary is not None:
        print(json.dumps({**summary.to_dict(), "seed_s": round(seconds, 2)}), flush=True)
    app = create_app(settings)
    app.on_startup.append(_settle)
    if not args.no_browser:
        app.on_startup.append(lambda _app: _open_browser(url))
    web.run_app(app, host=args.host, port=args.port, print=None)
    return 0


async def _open_browser(url: str) -> None:
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.name != "posix":
        await asyncio.to_thread(webbrowser.open, url)


def _banner(url: str, summary: DemoSummary | None, settings: Settings) -> str:
    logins = "\n".join(
        f"  {u.login:<7} {u.role.value:<7} {('extension ' + u.extension) if u.extension else ''}"
        for u in DEMO_USERS
    )
    pbx = (
        f"simulated PBX, about {settings.simulator.calls_per_minute:g} calls a minute"
        if settings.simulator.enabled
        else ", ".join(p.name for p in settings.pbx)
    )
    data = (
        f"seeded six months of history: {summary.contacts} contacts, {summary.deals} deals"
        if summary is not None
        else "demo data already there"
    )
    return (
        f"\nCTI demo on {url}  ({data})\n"
        f"PBX: {pbx}\nLog in with any of these (password {DEMO_PASSWORD}); dana sees every\n"
        f"seller's cards and the reports, a seller (anna...) their own board and tasks:\n{logins}\n"
        "Press Ctrl+C to stop.\n"
    )


async def _settle(_app: web.Application) -> None:
    settle_memory()
