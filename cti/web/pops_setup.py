"""Wire the screen pops into the app: fan-out backend, hub, pop service, ``/ws`` and the routes.

``setup_pops(app, settings)`` is the composition root's one call. The pop service is the call
flow's fast sink and outcome sink: read it from ``app[POP_SERVICE]`` once the app started.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import structlog
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from crmlite.domain.phones import PhoneRules
from crmlite.web.keys import ONE_HOP, SESSIONS
from cti.pops.click_to_call import ClickToCall, Originator
from cti.pops.directory import CachedUserDirectory
from cti.pops.fanout import FanoutBackend, InProcessFanout
from cti.pops.hints import DuplicateHints
from cti.pops.hub import HubLimits, ScreenPopHub
from cti.pops.lookup import SqlCallerLookup
from cti.pops.redis_fanout import RedisFanout
from cti.pops.service import PopService, PopSettings
from cti.settings import Settings
from cti.web.pops_keys import (
    CLICK_TO_CALL,
    CONSUMER_FENCE,
    ORIGINATOR,
    ORIGINATORS,
    PHONE_RULES,
    POP_SERVICE,
)
from cti.web.ws import POP_HUB, WS_CONFIG, WsConfig, ws_routes

log = structlog.get_logger(__name__)

__all__ = ["CLICK_TO_CALL", "ORIGINATOR", "POP_HUB", "POP_SERVICE", "make_backend", "setup_pops"]


def make_backend(settings: Settings) -> FanoutBackend:
    """Redis pub/sub when a Redis URL is configured, else in-process."""
    pops = settings.pops
    if settings.redis.url:
        return RedisFanout(settings.redis.url, prefix=pops.redis_prefix, live_ttl_s=pops.live_ttl_s)
    return InProcessFanout(live_ttl_s=pops.live_ttl_s)


def setup_pops(app: web.Application, settings: Settings) -> None:
    """Add the pops' cleanup context (after the database's) and the ``/ws`` route.

    The API routes (``cti.web.calls.routes``, ``cti.web.wrapups.routes``) go to
    ``setup_crm_web(extra_route_tables=...)`` so they share its middlewares and OpenAPI document.
    """
    app[PHONE_RULES] = PhoneRules(settings.phone.default_region, settings.phone.extension_pattern)
    app[WS_CONFIG] = WsConfig(
        allowed_origins=settings.server.allowed_origins,
        heartbeat_s=settings.pops.heartbeat_s,
        auth_timeout_s=settings.pops.auth_timeout_s,
    )

    async def pops_context(app: web.Application) -> AsyncIterator[None]:
        hub = ScreenPopHub(
            make_backend(settings),
            limits=HubLimits(
                queue_size=settings.pops.queue_size,
                send_deadline_s=settings.pops.send_deadline_s,
            ),
        )
        directory = CachedUserDirectory(app[SESSIONS])
        try:
            await directory.preload()
        except (SQLAlchemyError, OSError) as err:
            # The pops still work: each extension is then looked up at its first ring.
            log.warning("pops_directory_preload_failed", error=str(err))
        lookup = SqlCallerLookup(app[ONE_HOP], pool_ring=settings.pool.ring)
        service = PopService(
            hub,
            directory,
            lookup,
            settings=PopSettings(
                default_region=settings.phone.default_region,
                lookup_timeout_s=settings.pops.lookup_timeout_s,
                extension_pattern=settings.phone.extension_pattern,
            ),
            fence=app[CONSUMER_FENCE],
            hints=DuplicateHints(app[SESSIONS]),
        )

        def originator(pbx: str | None) -> Originator | None:
            by_pbx = app.get(ORIGINATORS, {})
            return by_pbx[pbx] if pbx in by_pbx else app.get(ORIGINATOR)

        click = ClickToCall(service, originator)
        await hub.start()
        app[POP_HUB] = hub
        app[POP_SERVICE] = service
        app[CLICK_TO_CALL] = click
        yield
        await click.close()
        await service.close()
        await hub.stop()

    app.cleanup_ctx.append(pops_context)
    app.add_routes(ws_routes())
