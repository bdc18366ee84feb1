"""Login, logout, "who am I", and the caller's own API tokens.

``principal(request)`` (re-exported from ``crmlite.web.security``) is how handlers learn who calls.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from aiohttp import web
from prometheus_client import Counter
from pydantic import Field

from crmlite.domain.errors import Unauthenticated
from crmlite.domain.principal import Role
from crmlite.services import auth as auth_service
from crmlite.services import users as users_service
from crmlite.web.errors import HttpProblem
from crmlite.web.keys import AUTH_CONFIG, LOGIN_THROTTLE, SESSIONS
from crmlite.web.routing import ApiRoutes, model_response
from crmlite.web.schemas import ApiModel, IdPath
from crmlite.web.security import (
    SESSION_COOKIE,
    clear_session_cookies,
    credentials,
    principal,
    set_session_cookies,
    user_id_of,
)

__all__ = ["principal", "routes"]

routes = ApiRoutes("auth", "Browser sessions and API tokens")

LOGINS = Counter("cti_logins_total", "Browser login attempts by outcome", ["outcome"])


class LoginIn(ApiModel):
    login: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


class MeUser(ApiModel):
    id: int
    login: str
    display_name: str
    role: Role
    extensions: list[str] = Field(description="the user's extension numbers")


class MeOut(ApiModel):
    user: MeUser
    auth: Literal["session", "token"]
    csrf_token: str | None = Field(
        description="send it as X-CSRF-Token on POST/PUT/PATCH/DELETE with the session cookie"
    )
    expires_at: dt.datetime | None = None


class PasswordChange(ApiModel):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=8, max_length=1024)


class TokenCreate(ApiModel):
    name: str = Field("api", min_length=1, max_length=100, description="what the token is for")
    scope: Literal["route-lookup"] | None = Field(
        None,
        description="null: the user's full rights; route-lookup: only GET /api/v1/route (a PBX)",
    )
    allowed_ips: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="addresses or CIDR networks the token is accepted from (empty: anywhere)",
    )


class TokenOut(ApiModel):
    id: int
    user_id: int
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    scope: str | None = Field(None, description="null: full rights; route-lookup: the lookup only")
    allowed_ips: list[str] = Field(default_factory=list)


class IssuedTokenOut(TokenOut):
    token: str = Field(description="the bearer secret; shown once, never again")


def _me_user(user: users_service.UserView) -> MeUser:
    return MeUser(
        id=user.id,
        login=user.login,
        display_name=user.display_name,
        role=user.role,
        extensions=[i.value for i in user.identities if i.kind == "extension"],
    )


def token_out(view: auth_service.TokenView) -> TokenOut:
    return TokenOut(
        id=view.id,
        user_id=view.user_id,
        name=view.name,
        created_at=view.created_at,
        last_used_at=view.last_used_at,
        revoked_at=view.revoked_at,
        scope=view.scope,
        allowed_ips=list(view.allowed_ips),
    )


@routes.post(
    "/api/v1/auth/login",
    body=LoginIn,
    response=MeOut,
    auth=False,
    errors={401: "Wrong login or password", 429: "Too many failed logins: wait Retry-After"},
)
async def login(request: web.Request, *, body: LoginIn) -> web.Response:
    """Open a browser session: sets the HttpOnly session cookie and answers the CSRF token."""
    config = request.app[AUTH_CONFIG]
    throttle = request.app[LOGIN_THROTTLE]
    attempt = f"{body.login.strip().lower()}|{request.remote}"
    wait = throttle.retry_after(attempt)
    if wait is not None:
        LOGINS.labels("throttled").inc()
        raise HttpProblem(
            429,
            "too-many-attempts",
            "Too many failed logins",
            f"try again in {int(wait)} seconds",
            headers={"Retry-After": str(int(wait))},
        )
    async with request.app[SESSIONS].begin() as db:
        try:
            ticket = await auth_service.login(db, body.login, body.password, ttl=config.session_ttl)
        except Unauthenticated:
            throttle.failed(attempt)
            LOGINS.labels("failure").inc()
            raise
        throttle.succeeded(attempt)
        LOGINS.labels("success").inc()
        user = await users_service.get_user(db, ticket.principal, user_id_of(ticket.principal))
    response = model_response(
        MeOut(
            user=_me_user(user),
            auth="session",
            csrf_token=ticket.csrf_token,
            expires_at=ticket.expires_at,
        )
    )
    set_session_cookies(response, ticket, config)
    return response


@routes.post("/api/v1/auth/logout")
async def logout(request: web.Request) -> web.Response:
    """End the browser session behind the cookie (a bearer token stays valid: revoke it)."""
    principal(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        async with request.app[SESSIONS].begin() as db:
            await auth_service.logout(db, cookie)
    response = web.Response(status=204)
    clear_session_cookies(response)
    return response


@routes.post(
    "/api/v1/auth/password",
    body=PasswordChange,
    response=MeOut,
    errors={422: "Wrong current password or too short a new one"},
)
async def change_password(request: web.Request, *, body: PasswordChange) -> web.Response:
    """Change one's own password: every browser session ends, this one gets a fresh cookie."""
    actor = principal(request)
    found = credentials(request)
    config = request.app[AUTH_CONFIG]
    ticket = None
    async with request.app[SESSIONS].begin() as db:
        user = await auth_service.change_own_password(
            db, actor, body.current_password, body.new_password
        )
        if found is not None and found.scheme == "session":
            ticket = await auth_service.open_session(db, user, ttl=config.session_ttl)
        view = await users_service.get_user(db, actor, user_id_of(actor))
    response = model_response(
        MeOut(
            user=_me_user(view),
            auth=found.scheme if found else "token",
            csrf_token=ticket.csrf_token if ticket else None,
            expires_at=ticket.expires_at if ticket else None,
        )
    )
    if ticket is not None:
        set_session_cookies(response, ticket, config)
    return response


@routes.get("/api/v1/auth/me", response=MeOut)
async def me(request: web.Request) -> MeOut:
    """Who is logged in, and the CSRF token of the browser session."""
    actor = principal(request)
    found = credentials(request)
    async with request.app[SESSIONS]() as db:
        user = await users_service.get_user(db, actor, user_id_of(actor))
    return MeOut(
        user=_me_user(user),
        auth=found.scheme if found else "token",
        csrf_token=found.csrf_token if found and found.csrf_token else None,
    )


@routes.get("/api/v1/auth/tokens", response=list[TokenOut])
async def list_tokens(request: web.Request) -> list[TokenOut]:
    """The caller's API tokens (never their secrets)."""
    actor = principal(request)
    async with request.app[SESSIONS]() as db:
        views = await auth_service.list_api_tokens(db, actor, user_id_of(actor))
    return [token_out(view) for view in views]


@routes.post("/api/v1/auth/tokens", body=TokenCreate, response=IssuedTokenOut, status=201)
async def create_token(request: web.Request, *, body: TokenCreate) -> IssuedTokenOut:
    """Issue a bearer token for the caller; the secret is in this answer only."""
    actor = principal(request)
    async with request.app[SESSIONS].begin() as db:
        issued = await auth_service.create_api_token(
            db, user_id_of(actor), body.name, scope=body.scope, allowed_ips=body.allowed_ips
        )
    return IssuedTokenOut(token=issued.token, **token_out(issued.view).model_dump())


@routes.delete(
    "/api/v1/auth/tokens/{id}", path_model=IdPath, response=TokenOut, errors={404: "No such token"}
)
async def revoke_token(request: web.Request, *, path: IdPath) -> TokenOut:
    """Revoke a token: the caller's own, or anyone's for an admin."""
    actor = principal(request)
    async with request.app[SESSIONS].begin() as db:
        view = await auth_service.revoke_api_token(db, actor, path.id)
    return token_out(view)
