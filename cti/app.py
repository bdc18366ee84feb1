"""The composition root: one app factory that wires the CRM, the telephony side and the web.

Every long-lived resource (database engine, AMI consumers, pop hub, background tasks) is owned by a
``cleanup_ctx`` generator here, started in order and stopped in reverse.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from crmlite.db.checkpoints import WalCheckpointer
from crmlite.db.engine import create_engine, session_factory
from crmlite.db.one_hop import OneHop
from crmlite.domain.product_text import product_text
from crmlite.services.standard_pipeline import localize_standard_pipeline
from crmlite.web.app import setup_crm_web
from crmlite.web.crm_schemas import PHONE_EXTENSION_PATTERN
from crmlite.web.keys import (
    DEFAULT_REGION,
    ENGINE,
    ONE_HOP,
    PBX_NAMES,
    PRODUCT_TEXT,
    SESSIONS,
    SLA_CLOCK,
)
from crmlite.web.ui import ui_routes
from cti.callbacks import setup_callback_watch
from cti.fencing import ConsumerFence
from cti.pool_watch import setup_pool
from cti.robots import setup_robots
from cti.score_watch import setup_scoring
from cti.settings import Settings, pbx_names, sla_clock
from cti.telephony import setup_telephony
from cti.web import pbx as pbx_web
from cti.web import routing as routing_web
from cti.web import rules as rules_web
from cti.web import webhooks as webhooks_web
from cti.web.call_crm import setup_call_crm
from cti.web.calls import routes as calls_routes
from cti.web.health import health_routes
from cti.web.pops_keys import CONSUMER_FENCE
from cti.web.pops_setup import setup_pops
from cti.web.wrapups import routes as wrapups_routes

log = structlog.get_logger(__name__)

SETTINGS = web.AppKey("settings", Settings)
READ_POOL = 4  # PostgreSQL connections kept for the pops' lookups (as many more at a peak)


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    engine = create_engine(
        settings.database.url,
        pool_size=settings.database.pool_size,
        echo=settings.database.echo,
        background_checkpoints=True,
    )
    reads = None
    if engine.dialect.name == "postgresql":
        # The pops' lookups: a few statements each, in autocommit, without the pre-ping
        # (crmlite.db.one_hop). A lookup holds its connection while the loop is busy elsewhere:
        # two (and two more at a peak) let a few of a 100-call/s peak's wait past their timeout.
        reads = create_engine(
            settings.database.url,
            pool_size=READ_POOL,
            echo=settings.database.echo,
            pre_ping=False,
            max_overflow=READ_POOL,
            autocommit=True,
        )
    checkpointer = WalCheckpointer(engine)
    await checkpointer.start()
    app[ENGINE] = engine
    app[SESSIONS] = session_factory(engine)
    app[ONE_HOP] = units = OneHop(engine, reads=reads)
    async with app[SESSIONS].begin() as session:
        renamed = await localize_standard_pipeline(session, app[PRODUCT_TEXT])
    if renamed:
        log.info("standard pipeline named in the install's language", renamed=str(renamed))
    yield
    units.close()
    await checkpointer.stop()
    if reads is not None:
        await reads.dispose()
    await engine.dispose()


def create_app(settings: Settings) -> web.Application:
    """Build the whole service for ``settings``; nothing starts until the app runs."""
    app = web.Application()
    app[SETTINGS] = settings
    app[DEFAULT_REGION] = settings.phone.default_region
    app[PRODUCT_TEXT] = product_text(settings.i18n.default_locale)
    app[PHONE_EXTENSION_PATTERN] = settings.phone.extension_pattern
    app[PBX_NAMES] = pbx_names(settings)
    app[SLA_CLOCK] = sla_clock(settings)
    # A frozen writer's transaction is ended well before its lease could be taken over.
    app[CONSUMER_FENCE] = ConsumerFence(idle_limit_s=settings.lease.deadline_s / 2)
    app.cleanup_ctx.append(_database)
    setup_pops(app, settings)  # after the database: the pops read the CRM
    setup_call_crm(app, settings)  # rules, CallToCrm + retry worker, webhooks
    setup_telephony(app, settings)  # PBX links -> call tracker -> pops and CRM
    setup_callback_watch(app, settings)  # overdue call-backs pop a notice to the heads
    setup_pool(app, settings)  # idle contacts return to the pool, once across instances
    setup_robots(app, settings)  # stage robots: prompt on moves, stuck deals on a schedule
    setup_scoring(app, settings)  # lead scores follow changes and the night, once across instances
    setup_crm_web(
        app,
        session_ttl=dt.timedelta(hours=settings.server.session_ttl_hours),
        secure_cookies=settings.server.secure_cookies,
        extra_route_tables=(
            calls_routes,
            wrapups_routes,
            routing_web.routes,
            rules_web.routes,
            webhooks_web.routes,
            pbx_web.routes,
        ),
        token_scope_operations=routing_web.SCOPE_OPERATIONS,
        trusted_proxies=settings.server.trusted_proxies,
        answer_middlewares=(routing_web.dialplan_answers,),
    )
    app.add_routes(health_routes(lambda: app[ENGINE]))
    app.add_routes(ui_routes())  # the browser app: /, its screens, /static and /vendor files
    return app
