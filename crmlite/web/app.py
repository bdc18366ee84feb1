"""Install the CRM's web layer (middlewares, auth, users, OpenAPI) onto an aiohttp app."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from aiohttp import web
from aiohttp.typedefs import Middleware

from crmlite.web import (
    activities,
    auth,
    board,
    campaigns,
    contacts,
    deals,
    duplicates,
    imports,
    inbox,
    pipelines,
    pool,
    products,
    quote_print,
    quotes,
    reports,
    robots,
    scoring,
    users,
)
from crmlite.web.errors import error_middleware
from crmlite.web.import_jobs import import_workspace_ctx
from crmlite.web.keys import API_ROUTES, AUTH_CONFIG, LOGIN_THROTTLE
from crmlite.web.middleware import access_log_middleware, request_id_middleware
from crmlite.web.openapi import openapi_routes
from crmlite.web.quote_pdf import PDF_RENDERER, PdfRenderer
from crmlite.web.routing import ApiRoutes, add_api_routes
from crmlite.web.security import AuthConfig, auth_middleware
from crmlite.web.throttle import LoginThrottle

# The CRM's route tables. Add yours here (one line) and it is served and in /api/openapi.json.
CRM_ROUTE_TABLES: tuple[ApiRoutes, ...] = (
    auth.routes,
    users.routes,
    contacts.routes,
    duplicates.routes,
    pipelines.routes,
    deals.routes,
    board.routes,
    activities.activity_routes,
    activities.task_routes,
    inbox.routes,
    reports.routes,
    campaigns.routes,
    imports.routes,
    pool.routes,
    products.routes,
    quotes.routes,
    quote_print.routes,
    robots.routes,
    scoring.routes,
)


def setup_crm_web(
    app: web.Application,
    *,
    session_ttl: dt.timedelta = dt.timedelta(hours=12),
    secure_cookies: bool = False,
    extra_route_tables: tuple[ApiRoutes, ...] = (),
    token_scope_operations: Mapping[str, frozenset[str]] | None = None,
    trusted_proxies: tuple[str, ...] = (),
    answer_middlewares: tuple[Middleware, ...] = (),
) -> None:
    """Add the middlewares and the CRM API to ``app`` (which must hold ENGINE and SESSIONS).

    ``token_scope_operations`` lists what each token scope may call (``{"route-lookup":
    frozenset({"GET /api/v1/route"})}``); ``answer_middlewares`` see every answer, problems
    included, as the client will (e.g. to reshape the errors of a plain-text endpoint).
    """
    app[AUTH_CONFIG] = AuthConfig(
        session_ttl=session_ttl,
        secure_cookies=secure_cookies,
        scope_operations=dict(token_scope_operations or {}),
        trusted_proxies=trusted_proxies,
    )
    app[LOGIN_THROTTLE] = LoginThrottle()
    app[PDF_RENDERER] = PdfRenderer()  # loads WeasyPrint on the first PDF asked for
    app.cleanup_ctx.append(import_workspace_ctx)  # uploads and running imports
    if API_ROUTES not in app:
        app[API_ROUTES] = []
    # Outermost first: the id is bound before anything logs, errors become problems before the
    # access log reads the status, and credentials load inside the error handling.
    app.middlewares.extend(
        [
            request_id_middleware,
            access_log_middleware,
            *answer_middlewares,
            error_middleware,
            auth_middleware,
        ]
    )
    add_api_routes(app, *CRM_ROUTE_TABLES, *extra_route_tables)
    app.add_routes(openapi_routes())
