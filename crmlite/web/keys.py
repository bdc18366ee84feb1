"""Typed keys of the app state the CRM's web layer reads (set by the composition root)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crmlite.domain.office_hours import SlaClock
from crmlite.domain.product_text import ProductText

if TYPE_CHECKING:
    from crmlite.db.one_hop import OneHop
    from crmlite.web.routing import ApiRoute
    from crmlite.web.security import AuthConfig, Credentials
    from crmlite.web.throttle import LoginThrottle

ENGINE = web.AppKey("engine", AsyncEngine)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
DEFAULT_REGION = web.AppKey("default_region", str)
# The text the product writes into the CRM, in the install's language ([i18n] default_locale).
PRODUCT_TEXT = web.AppKey("product_text", ProductText)
# Units of work in one worker-thread hop on SQLite (the board's stage move).
ONE_HOP: web.AppKey[OneHop] = web.AppKey("one_hop")
# The configured PBXs' names (offices): a telephony identity may name one of them.
PBX_NAMES: web.AppKey[tuple[str, ...]] = web.AppKey("pbx_names")
# Each office's hours the call-back SLA runs in (none set: plain minutes).
SLA_CLOCK = web.AppKey("sla_clock", SlaClock)

# Set by crmlite.web.app.setup_crm_web.
AUTH_CONFIG: web.AppKey[AuthConfig] = web.AppKey("auth_config")
API_ROUTES: web.AppKey[list[ApiRoute]] = web.AppKey("api_routes")
LOGIN_THROTTLE: web.AppKey[LoginThrottle] = web.AppKey("login_throttle")

# Per request, set by the middlewares in crmlite.web.middleware and crmlite.web.security.
REQUEST_ID = web.RequestKey("request_id", str)
CREDENTIALS: web.RequestKey[Credentials | None] = web.RequestKey("credentials")
