"""Who is calling: the session cookie or bearer token behind a request, resolved once, and CSRF.

``auth_middleware`` loads the credentials of every request that carries some (one query);
``principal(request)`` hands them to handlers, raising 401 when there are none and 403 when a
cookie-authenticated unsafe request lacks the CSRF token. Bearer tokens need no CSRF token: a
browser never attaches them by itself.

A token may be narrowed (crmlite.domain.token_scopes): a scoped token is refused (403
``token-out-of-scope``) on every operation its scope does not list, and a token with an address
allow-list is refused (403 ``address-not-allowed``) from any other address, before any handler
runs. X-Forwarded-For is believed only from ``trusted_proxies``.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import structlog
from aiohttp import web

from crmlite.domain.errors import Unauthenticated
from crmlite.domain.principal import Principal
from crmlite.domain.token_scopes import address_allowed, client_address
from crmlite.services import auth as auth_service
from crmlite.web.errors import HttpProblem
from crmlite.web.keys import AUTH_CONFIG, CREDENTIALS, SESSIONS

SESSION_COOKIE = "cti_session"
CSRF_COOKIE = "cti_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

log = structlog.get_logger(__name__)


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
    # The operations ("GET /api/v1/route") each token scope may call; an unlisted scope calls none.
    scope_operations: Mapping[str, frozenset[str]] = field(default_factory=dict)
    # Proxies (addresses or CIDR networks) whose X-Forwarded-For names the real client.
    trusted_proxies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Credentials:
    """What authenticated a request: a browser session (with its CSRF token) or an API token."""

    principal: Principal
    scheme: Literal["session", "token"]
    csrf_token: str = ""
    scope: str | None = None  # a scoped token's scope; None for sessions and full-rights tokens


def credentials(request: web.Request) -> Credentials | None:
    """The request's credentials, or None for an anonymous request."""
    found: Credentials | None = request.get(CREDENTIALS)
    return found


def principal(request: web.Request) -> Principal:
    """The user behind the request; raises 401 without credentials, 403 on a CSRF mismatch."""
    found: Credentials | None = request.get(CREDENTIALS)
    if found is None:
        raise Unauthenticated("log in, or send an API token as 'Authorization: Bearer <token>'")
    if found.scope is not None and not scope_allows(request, found.scope):
        raise _out_of_scope(found.scope)
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


def client_address_of(request: web.Request) -> str | None:
    """The client's address: the peer, or what trusted proxies say in X-Forwarded-For."""
    return client_address(
        request.remote,
        request.headers.getall("X-Forwarded-For", []),
        request.app[AUTH_CONFIG].trusted_proxies,
    )


def operation_of(request: web.Request) -> str:
    """The matched operation as ``METHOD /path/{template}`` (what token scopes list)."""
    resource = request.match_info.route.resource
    return f"{request.method} {resource.canonical if resource is not None else request.path}"


def scope_allows(request: web.Request, scope: str) -> bool:
    """True when a token of ``scope`` may call the request's operation."""
    allowed = request.app[AUTH_CONFIG].scope_operations.get(scope, frozenset())
    return operation_of(request) in allowed


def _out_of_scope(scope: str) -> HttpProblem:
    return HttpProblem(
        403,
        "token-out-of-scope",
        "This token may not be used here",
        f"a {scope!r} token only calls what its scope allows; use a token of the user instead",
    )


async def token_credentials(request: web.Request, secret: str) -> Credentials | None:
    """The credentials of a bearer token for this request: None when it is unknown or dead.

    Raises a 403 HttpProblem when the token is used from an address it is not allowed from, or
    outside its scope.
    """
    async with request.app[SESSIONS].begin() as db:
        grant = await auth_service.resolve_token_grant(db, secret)
    if grant is None:
        return None
    if grant.allowed_ips:
        address = client_address_of(request)
        if not address_allowed(address, grant.allowed_ips):
            log.warning(
                "api_token_refused", reason="address", user=grant.principal.login, address=address
            )
            raise HttpProblem(
                403,
                "address-not-allowed",
                "This token may not be used from this address",
                f"the token is bound to other addresses than {address or 'an unknown one'}",
            )
    if grant.scope is not None and not scope_allows(request, grant.scope):
        log.warning(
            "api_token_refused",
            reason="scope",
            user=grant.principal.login,
            scope=grant.scope,
            operation=operation_of(request),
        )
        raise _out_of_scope(grant.scope)
    return Credentials(grant.principal, "token", scope=grant.scope)


async def _resolve(request: web.Request) -> Credentials | None:
    token = bearer_token(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if token is not None:
        return await token_credentials(request, token)
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
    request[CREDENTIALS] = None
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
