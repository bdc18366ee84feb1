"""Users API: everyone reads the user list (owner pickers); admins manage users and identities."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from aiohttp import web
from pydantic import Field

from crmlite.domain.errors import InvalidInput, PermissionDenied
from crmlite.domain.principal import Role
from crmlite.services import auth as auth_service
from crmlite.services import users as users_service
from crmlite.web.auth import IssuedTokenOut, TokenCreate, TokenOut, token_out
from crmlite.web.keys import PBX_NAMES, SESSIONS
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import ApiModel, IdPath, QueryModel
from crmlite.web.security import principal

routes = ApiRoutes("users", "Users, roles and telephony identities")

IdentityKind = Literal["extension", "interface", "queue_member"]


class IdentityIn(ApiModel):
    kind: IdentityKind = Field(
        description="extension (101), interface (PJSIP/101), queue_member (Local/101@from-queue/n)"
    )
    value: str = Field(min_length=1, max_length=128)
    pbx: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="the configured PBX (office) it belongs to; omitted: every PBX",
    )


class IdentityOut(ApiModel):
    kind: IdentityKind
    value: str
    pbx: str | None = Field(description="the PBX it belongs to; null: every PBX")


class UserSummary(ApiModel):
    """What anyone may see of a user."""

    id: int
    login: str
    display_name: str
    role: Role
    active: bool


class UserDetail(UserSummary):
    """What admins (and the user) see: identities and whether a password is set."""

    identities: list[IdentityOut]
    has_password: bool
    created_at: dt.datetime


class UserCreate(ApiModel):
    login: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]+$")
    role: Role
    display_name: str | None = Field(None, max_length=200)
    password: str | None = Field(None, min_length=8, max_length=1024)
    identities: list[IdentityIn] = Field(default_factory=list, max_length=50)


class UserUpdate(ApiModel):
    display_name: str | None = Field(None, min_length=1, max_length=200)
    role: Role | None = None
    active: bool | None = Field(None, description="false ends the user's sessions and tokens")
    password: str | None = Field(None, min_length=8, max_length=1024)


class IdentitiesIn(ApiModel):
    identities: list[IdentityIn] = Field(max_length=50)


class UserListQuery(QueryModel):
    include_inactive: bool = Field(False, description="admins only: list disabled users too")


def _summary(user: users_service.UserView) -> UserSummary:
    return UserSummary(
        id=user.id,
        login=user.login,
        display_name=user.display_name,
        role=user.role,
        active=user.active,
    )


def _detail(user: users_service.UserView) -> UserDetail:
    return UserDetail(
        **_summary(user).model_dump(),
        identities=[IdentityOut(kind=i.kind, value=i.value, pbx=i.pbx) for i in user.identities],
        has_password=user.has_password,
        created_at=user.created_at,
    )


def _identities(request: web.Request, items: list[IdentityIn]) -> list[users_service.Identity]:
    known = request.app.get(PBX_NAMES, ())
    for index, item in enumerate(items):
        if item.pbx is not None and known and item.pbx not in known:
            raise InvalidInput(
                f"no PBX named {item.pbx!r}",
                fields={f"identities.{index}.pbx": f"one of {', '.join(known)}, or omit it"},
            )
    return [users_service.Identity(item.kind, item.value, item.pbx) for item in items]


@routes.get("/api/v1/users", query=UserListQuery, response=list[UserSummary])
async def list_users(request: web.Request, *, query: UserListQuery) -> list[UserSummary]:
    """Every active user, by login (for owner and assignee pickers)."""
    actor = principal(request)
    async with request.app[SESSIONS]() as db:
        users = await users_service.list_users(db, actor, include_inactive=query.include_inactive)
    return [_summary(user) for user in users]


@routes.post(
    "/api/v1/users",
    body=UserCreate,
    response=UserDetail,
    status=201,
    errors={403: "Not an admin", 409: "Login or identity taken"},
)
async def create_user(request: web.Request, *, body: UserCreate) -> UserDetail:
    """Add a user with a role, an optional password and telephony identities (admins)."""
    actor = principal(request)
    async with request.app[SESSIONS].begin() as db:
        user = await users_service.create_user(
            db,
            actor,
            login=body.login,
            role=body.role,
            display_name=body.display_name,
            password=body.password,
            identities=_identities(request, body.identities),
        )
    return _detail(user)


@routes.get(
    "/api/v1/users/{id}",
    path_model=IdPath,
    response=UserDetail,
    errors={403: "Another user, and not an admin", 404: "No such user"},
)
async def get_user(request: web.Request, *, path: IdPath) -> UserDetail:
    """One user with identities: admins see anyone, others themselves."""
    actor = principal(request)
    async with request.app[SESSIONS]() as db:
        return _detail(await users_service.get_user(db, actor, path.id))


@routes.patch(
    "/api/v1/users/{id}",
    path_model=IdPath,
    body=UserUpdate,
    response=UserDetail,
    errors={403: "Not an admin", 404: "No such user", 409: "Last admin"},
)
async def update_user(request: web.Request, *, path: IdPath, body: UserUpdate) -> UserDetail:
    """Rename, change role, (de)activate or set the password of a user (admins)."""
    actor = principal(request)
    async with request.app[SESSIONS].begin() as db:
        user = await users_service.update_user(
            db,
            actor,
            path.id,
            display_name=body.display_name,
            role=body.role,
            active=body.active,
            password=body.password,
        )
    return _detail(user)


@routes.put(
    "/api/v1/users/{id}/identities",
    path_model=IdPath,
    body=IdentitiesIn,
    response=UserDetail,
    errors={403: "Not an admin", 404: "No such user", 409: "Identity taken"},
)
async def set_identities(request: web.Request, *, path: IdPath, body: IdentitiesIn) -> UserDetail:
    """Replace the user's extensions, interfaces and queue member names (admins)."""
    actor = principal(request)
    async with request.app[SESSIONS].begin() as db:
        identities = _identities(request, body.identities)
        user = await users_service.set_identities(db, actor, path.id, identities)
    return _detail(user)


@routes.get(
    "/api/v1/users/{id}/tokens",
    path_model=IdPath,
    response=list[TokenOut],
    errors={403: "Another user, and not an admin"},
)
async def list_user_tokens(request: web.Request, *, path: IdPath) -> list[TokenOut]:
    """A user's API tokens: one's own, or anyone's for an admin."""
    actor = principal(request)
    async with request.app[SESSIONS]() as db:
        views = await auth_service.list_api_tokens(db, actor, path.id)
    return [token_out(view) for view in views]


@routes.post(
    "/api/v1/users/{id}/tokens",
    path_model=IdPath,
    body=TokenCreate,
    response=IssuedTokenOut,
    status=201,
    errors={403: "Not an admin", 404: "No such user"},
)
async def create_user_token(
    request: web.Request, *, path: IdPath, body: TokenCreate
) -> IssuedTokenOut:
    """Issue a bearer token for a user, e.g. an integration account (admins)."""
    actor = principal(request)
    async with request.app[SESSIONS].begin() as db:
        await users_service.get_user(db, actor, path.id)
        if not actor.is_admin:
            raise PermissionDenied("only admins issue tokens for users")
        issued = await auth_service.create_api_token(
            db, path.id, body.name, scope=body.scope, allowed_ips=body.allowed_ips
        )
    return IssuedTokenOut(token=issued.token, **token_out(issued.view).model_dump())
