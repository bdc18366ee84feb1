"""``cti serve``: run the service."""

from __future__ import annotations

import argparse

from aiohttp import web

from cti.app import create_app
from cti.observability import configure_logging
from cti.settings import load_settings


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    configure_logging(settings.logging.level, settings.logging.format)
    host = args.host or settings.server.host
    port = args.port if args.port is not None else settings.server.port
    web.run_app(create_app(settings), host=host, port=port, print=None)
    return 0
