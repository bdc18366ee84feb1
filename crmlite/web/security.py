"""Who is calling: the session cookie or bearer token behind a request, resolved once, and CSRF.

``auth_middleware`` loads the credentials of every request that carries some (one query);
``principal(request)`` hands them to handlers, raising 401 when there are none and 403 when a
cookie-authenticated unsafe request lacks the CSRF token. Bearer tokens need no CSRF token: a
browser never attaches them by itself.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

import structlog
from aiohttp import web

from crmlite.domain.errors import Unauthenticated
from crmlite.domain.principal import Principal
from crmlite.services import auth as auth_service
from crmlite.web.errors import HttpProblem
from crmlite.web.keys import AUTH_CONFIG, CREDENTIALS, SESSIONS

SESSION_COOKIE = "cti_session"
CSRF_COOKIE = "cti_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """Web authentication settings (plain values from the composition root)."""

    session_ttl: dt.timedelta = dt.timedelta(hours=12)
    secure_cookies: bool = False
    # Requests under these prefixes never touch the database for credentials (static files, probes).
    skip_prefixes: tuple[str, ...] = (
        "/static/",
        "/vendor/",
        "/favicon",
        "/healthz",
        "/readyz",
        "/metrics",
    )


@dataclass(frozen=True, slots=True)
class Credentials:
    """What authenticated a request: a browser session (with its CSRF token) or an API token."""

    principal: Principal
    scheme: Literal["session", "token"]
    csrf_token: str = ""


def credentials(request: web.Request) -> Credentials | None:
    """The request's credentials, or None for an anonymous request."""
    found: Credentials | None = request.get(CREDENTIALS)
    return found


def principal(request: web.Request) -> Principal:
    """The user behind the request; raises 401 without credentials, 403 on a CSRF mismatch."""
    found: Credentials | None = request.get(CREDENTIALS)
    if found is None:
        raise Unauthenticated("log in, or send an API token as 'Authorization: Bearer <token>'")
    if found.scheme == "session" and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not sent or not hmac.compare_digest(sent.encode(), found.csrf_token.encode()):
            raise HttpProblem(
                403,
                "csrf-failed",
                "CSRF token missing or wrong",
                f"send the token from the login answer or /api/v1/auth/me in {CSRF_HEADER}",
            )
    return found.principal


def user_id_of(actor: Principal) -> int:
    """The user id of a web principal (always a real user, unlike the SYSTEM principal)."""
    if actor.user_id is None:
        raise Unauthenticated("this principal is not a user")
    return actor.user_id


def bearer_token(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


async def _resolve(request: web.Request) -> Credentials | None:
    token = bearer_token(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if token is not None:
        async with request.app[SESSIONS].begin() as db:
            found = await auth_service.resolve_api_token(db, token)
        return Credentials(found, "token") if found else None
    if cookie:
        async with request.app[SESSIONS].begin() as db:
            session = await auth_service.resolve_session(db, cookie)
        return Credentials(session.principal, "session", session.csrf_token) if session else None
    return None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Load the request's credentials once; bind the login into the log context."""
    config = request.app[AUTH_CONFIG]
    if request.path.startswith(config.skip_prefixes):
        return await handler(request)
    found = await _resolve(request)
    request[CREDENTIALS] = found
    if found is None:
        return await handler(request)
    with structlog.contextvars.bound_contextvars(user=found.principal.login):
        return await handler(request)


def set_session_cookies(
    response: web.StreamResponse, ticket: auth_service.SessionTicket, config: AuthConfig
) -> None:
    """Set the HttpOnly session cookie and the script-readable CSRF cookie."""
    max_age = int(config.session_ttl.total_seconds())
    response.set_cookie(
        SESSION_COOKIE,
        ticket.token,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=config.secure_cookies,
    )
    response.set_cookie(
        CSRF_COOKIE,
        ticket.csrf_token,
        max_age=max_age,
        path="/",
        httponly=False,
        samesite="Lax",
        secure=config.secure_cookies,
    )


def clear_session_cookies(response: web.StreamResponse) -> None:
    response.del_cookie(SESSION_COOKIE, path="/")
    response.del_cookie(CSRF_COOKIE, path="/")
