"""Wire calls-into-CRM into the app: the rule book, ``CallToCrm``, its retry worker, webhooks.

``setup_call_crm(app, settings)`` is the composition root's one call (after the database's
cleanup context). Once the app started, ``app[CALL_TO_CRM]`` is the call flow's CRM handler and
``app[WEBHOOK_EVENTS]`` (when webhooks are configured) one of its outcome sinks.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable

import structlog
from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crmlite.db.engine import create_engine, session_factory
from crmlite.db.inline_sqlite import lane_engine
from crmlite.domain.phones import PhoneRules
from crmlite.domain.pool import RingPolicy
from crmlite.domain.product_text import product_text
from crmlite.services.call_catalog import CallCatalogCache
from crmlite.services.call_effects import customer_phone
from crmlite.services.telephony_users import TelephonyUserCache
from crmlite.web.inbox import INBOX_LISTENERS, DecisionListener
from crmlite.web.keys import ENGINE, SESSIONS
from cti.rules.book import RuleBook
from cti.rules.call_to_crm import ATTEMPTS, BACKOFF_S, CallToCrm
from cti.rules.executor import RuleExecutor
from cti.settings import ConfigError, Settings, pbx_names
from cti.web.pops_keys import CONSUMER_FENCE
from cti.webhooks.deal_feed import DealChangeFeed
from cti.webhooks.events import WebhookEvents
from cti.webhooks.sender import Endpoint, WebhookSender

log = structlog.get_logger(__name__)

RULE_BOOK = web.AppKey("rule_book", RuleBook)
CALL_TO_CRM = web.AppKey("call_to_crm", CallToCrm)
WEBHOOK_SENDER = web.AppKey("webhook_sender", WebhookSender)
WEBHOOK_EVENTS = web.AppKey("webhook_events", WebhookEvents)
# The sessions of the call path (the CRM lane's writes, the dialplan's route lookup), on an engine
# of its own (``_lane_engine``) where there is one, else the app's. Whatever hooks a commit of the
# app's sessions (robots' stage entries) hooks these too.
CALL_LANE_SESSIONS = web.AppKey("call_lane_sessions", async_sessionmaker[AsyncSession])
# Lock waits on the inline SQLite lane fail at once: tries 5 ms apart, doubling, about 2.5 s in
# all, before the event waits in the retry queue.
INLINE_ATTEMPTS, INLINE_BACKOFF_S = 10, 0.005
LANE_OVERFLOW = 4  # PostgreSQL: lane connections past pool_size, for the route lookups


def _lane_engine(engine: AsyncEngine, settings: Settings) -> AsyncEngine | None:
    """The call path's own engine, or None to share the app's (SQLite in memory).

    SQLite: the lane's statements run on the loop's thread (no aiosqlite hop for each); a lock
    held by another writer fails at once there, so it is retried sooner and longer. PostgreSQL: a
    pool of its own without the pre-ping (three round trips per unit of work, a third of a call
    event's): the lane retries a unit that met a lost connection anyway. One connection per call's
    CRM work at once, and a few for the route lookups beside.
    """
    if engine.dialect.name != "postgresql":
        return lane_engine(engine)
    return create_engine(
        settings.database.url,
        pool_size=settings.database.pool_size,
        pre_ping=False,
        max_overflow=LANE_OVERFLOW,
    )


async def _warm(
    users: TelephonyUserCache, sessions: async_sessionmaker[AsyncSession], pbxs: Iterable[str]
) -> None:
    try:
        kept = await users.warm(sessions, [*pbxs] or [None])
    except (SQLAlchemyError, OSError) as err:  # the database is away: the calls look up later
        log.warning("call lane not warmed up", error=str(err))
        return
    log.info("call lane warmed up", names_known=kept)


def lane_retries(inline: bool) -> tuple[int, float]:
    """(attempts, first backoff) of the call lane's events: on the inline SQLite engine, or not."""
    return (INLINE_ATTEMPTS, INLINE_BACKOFF_S) if inline else (ATTEMPTS, BACKOFF_S)


def office_numbers(settings: Settings, phone_rules: PhoneRules) -> frozenset[str]:
    """Every configured PBX's own numbers in E.164 (``[[pbx]] dids``); a bad one stops the start."""
    numbers: set[str] = set()
    for pbx in settings.pbx:
        for did in pbx.dids:
            phone = customer_phone(did, phone_rules)
            if phone is None:
                raise ConfigError(f"[[pbx]] {pbx.name}: dids: {did!r} is not a phone number")
            numbers.add(phone.normalized)
    return frozenset(numbers)


def setup_call_crm(app: web.Application, settings: Settings) -> None:
    """Add the cleanup context that owns the rules, the CRM handler and the webhook sender."""
    phone_rules = PhoneRules(settings.phone.default_region, settings.phone.extension_pattern)
    colleagues = office_numbers(settings, phone_rules)
    listeners: list[DecisionListener] = []
    app[INBOX_LISTENERS] = listeners

    async def call_crm_context(app: web.Application) -> AsyncIterator[None]:
        sessions = app[SESSIONS]
        book = RuleBook(phone_rules, file=settings.rules.file, pbxs=pbx_names(settings))
        await book.load(sessions)
        engine = app[ENGINE]
        shared = engine.dialect.name == "postgresql"
        users = TelephonyUserCache(shared=shared)
        users_task = asyncio.create_task(users.listen(engine), name="telephony-user-cache")
        catalog = CallCatalogCache(shared=shared)
        catalog_task = asyncio.create_task(catalog.listen(engine), name="call-catalog-cache")
        executor = RuleExecutor(
            phone_rules,
            recording_base_url=settings.rules.recording_base_url,
            text=product_text(settings.i18n.default_locale),
            pool_ring=RingPolicy(settings.pool.ring),
            users=users,
            catalog=catalog,
            office_numbers=colleagues,
        )
        fence = app[CONSUMER_FENCE]
        own = _lane_engine(engine, settings)
        lane_sessions = session_factory(own) if own is not None else sessions
        app[CALL_LANE_SESSIONS] = lane_sessions
        # Ready before the first calls (or a takeover's burst): the sellers behind every name.
        warm_task = asyncio.create_task(
            _warm(users, sessions, pbx_names(settings)), name="call-lane-warm-up"
        )
        attempts, backoff_s = lane_retries(own is not None and own.dialect.name == "sqlite")
        crm = CallToCrm(
            lane_sessions,
            book,
            executor,
            queue_size=settings.rules.retry_queue_size,
            fence=fence,
            attempts=attempts,
            backoff_s=backoff_s,
        )
        app[RULE_BOOK] = book
        app[CALL_TO_CRM] = crm
        sender: WebhookSender | None = None
        feed_task: asyncio.Task[None] | None = None
        if settings.webhooks:
            endpoints = [
                Endpoint(hook.url, hook.secret.get_secret_value(), hook.events)
                for hook in settings.webhooks
            ]
            sender = WebhookSender(sessions, endpoints)
            await sender.start()
            events = WebhookEvents(sender, fence)
            app[WEBHOOK_SENDER] = sender
            app[WEBHOOK_EVENTS] = events
            listeners.append(events)
            feed = DealChangeFeed(sessions, sender)
            feed_task = asyncio.create_task(feed.run(), name="deal-change-webhooks")
        worker = asyncio.create_task(crm.run_retry_worker(), name="call-crm-retries")
        yield
        for task in (worker, feed_task, users_task, catalog_task, warm_task):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if crm.pending:
            log.error("call events still waiting for the database at shutdown", left=crm.pending)
        if sender is not None:
            await sender.close()
        if own is not None:
            await own.dispose()

    app.cleanup_ctx.append(call_crm_context)
