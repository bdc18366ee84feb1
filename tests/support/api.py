"""Test harness for the HTTP API: the real app on a real socket, users and authenticated clients.

Use the ``api`` fixture (registered in tests/conftest.py)::

    async def test_something(api: ApiHarness) -> None:
        seller = await api.client("seller")            # a new seller with a bearer token
        admin = await api.client("admin", login="boss")
        browser = await api.browser("head")           # cookie session; CSRF header sent for you
        response = await seller.post("/api/v1/contacts", json={"name": "Ann"})
        assert response.status == 201, response.text
        body = response.json()
"""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDictProxy
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.domain.principal import SYSTEM, Principal, Role
from crmlite.services import auth as auth_service
from crmlite.services import users as users_service
from crmlite.web.keys import SESSIONS
from crmlite.web.security import CSRF_HEADER
from cti.app import create_app
from cti.settings import Settings

DEFAULT_PASSWORD = "correct horse battery"


@dataclass(frozen=True)
class ApiResponse:
    """A fully read response: status, headers, and the body as text or JSON."""

    status: int
    headers: CIMultiDictProxy[str]
    text: str

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";")[0]

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass(frozen=True)
class ApiUser:
    id: int
    login: str
    role: Role
    password: str | None

    @property
    def principal(self) -> Principal:
        return Principal(user_id=self.id, login=self.login, role=self.role, display_name=self.login)


@dataclass
class ApiClient:
    """An HTTP client for one user (or nobody) against the running test server."""

    http: aiohttp.ClientSession
    user: ApiUser | None = None
    csrf_token: str | None = None
    default_headers: dict[str, str] = field(default_factory=dict)

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | Sequence[tuple[str, Any]] | None = None,
        data: str | bytes | io.BytesIO | None = None,
        headers: Mapping[str, str] | None = None,
        csrf: bool = True,
    ) -> ApiResponse:
        """Send a request; with ``csrf`` (default) a cookie client adds its X-CSRF-Token."""
        sent = dict(self.default_headers)
        if csrf and self.csrf_token and method.upper() not in {"GET", "HEAD", "OPTIONS"}:
            sent[CSRF_HEADER] = self.csrf_token
        sent.update(headers or {})
        async with self.http.request(
            method, path, json=json, params=params, data=data, headers=sent
        ) as response:
            return ApiResponse(response.status, response.headers, await response.text())

    async def get(self, path: str, **options: Any) -> ApiResponse:
        return await self.request("GET", path, **options)

    async def post(self, path: str, **options: Any) -> ApiResponse:
        return await self.request("POST", path, **options)

    async def put(self, path: str, **options: Any) -> ApiResponse:
        return await self.request("PUT", path, **options)

    async def patch(self, path: str, **options: Any) -> ApiResponse:
        return await self.request("PATCH", path, **options)

    async def delete(self, path: str, **options: Any) -> ApiResponse:
        return await self.request("DELETE", path, **options)


class ApiHarness:
    """The whole service (``cti.app.create_app``) on port 0 over a migrated test database."""

    def __init__(self, app: web.Application, server: TestServer) -> None:
        self.app = app
        self.server = server
        self._clients: list[aiohttp.ClientSession] = []
        self._numbers = itertools.count(1)

    @property
    def sessions(self) -> async_sessionmaker[AsyncSession]:
        return self.app[SESSIONS]

    def url(self, path: str = "") -> str:
        return str(self.server.make_url(path))

    async def create_user(
        self,
        role: Role | str = Role.SELLER,
        *,
        login: str | None = None,
        password: str | None = None,
        display_name: str | None = None,
        identities: Sequence[tuple[str, str]] = (),
    ) -> ApiUser:
        """Add a user straight through the service (no password unless given: hashing is slow)."""
        role = Role(role)
        login = login or f"{role.value}{next(self._numbers)}"
        async with self.sessions.begin() as db:
            view = await users_service.create_user(
                db,
                SYSTEM,
                login=login,
                role=role,
                display_name=display_name,
                password=password,
                identities=[users_service.Identity(kind, value) for kind, value in identities],
            )
        return ApiUser(view.id, view.login, view.role, password)

    def _http(self, *, with_cookies: bool = False) -> aiohttp.ClientSession:
        jar: aiohttp.abc.AbstractCookieJar = (
            aiohttp.CookieJar(unsafe=True) if with_cookies else aiohttp.DummyCookieJar()
        )
        http = aiohttp.ClientSession(base_url=self.url(), cookie_jar=jar)
        self._clients.append(http)
        return http

    def anonymous(self, *, with_cookies: bool = False) -> ApiClient:
        return ApiClient(self._http(with_cookies=with_cookies))

    async def client(self, user: ApiUser | Role | str = Role.SELLER, **create: Any) -> ApiClient:
        """A bearer-token client for ``user``, or for a new user of that role."""
        if not isinstance(user, ApiUser):
            user = await self.create_user(user, **create)
        async with self.sessions.begin() as db:
            issued = await auth_service.create_api_token(db, user.id, "test")
        client = ApiClient(self._http(), user)
        client.default_headers["Authorization"] = f"Bearer {issued.token}"
        return client

    async def browser(self, user: ApiUser | Role | str = Role.SELLER, **create: Any) -> ApiClient:
        """A cookie-session client logged in through /api/v1/auth/login, sending CSRF itself."""
        if not isinstance(user, ApiUser):
            create.setdefault("password", DEFAULT_PASSWORD)
            user = await self.create_user(user, **create)
        if user.password is None:
            raise ValueError(f"user {user.login} has no password to log in with")
        client = ApiClient(self._http(with_cookies=True), user)
        response = await client.post(
            "/api/v1/auth/login", json={"login": user.login, "password": user.password}
        )
        if response.status != 200:
            raise AssertionError(f"login failed: {response.status} {response.text}")
        client.csrf_token = response.json()["csrf_token"]
        return client

    async def close(self) -> None:
        for http in self._clients:
            await http.close()
        await self.server.close()


AppFactory = Callable[[Settings], web.Application]


async def start_api(
    database_url: str,
    *,
    settings: Mapping[str, Any] | None = None,
    app_factory: AppFactory = create_app,
) -> ApiHarness:
    """Start the app for ``database_url``; ``settings`` are extra configuration sections."""
    raw: dict[str, Any] = {"database": {"url": database_url}}
    for section, values in (settings or {}).items():
        raw.setdefault(section, {}).update(values)
    app = app_factory(Settings.model_validate(raw))
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    return ApiHarness(app, server)


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[ApiHarness]:
    """The service running over a fresh database (SQLite, and PostgreSQL when configured)."""
    harness = await start_api(database_url)
    yield harness
    await harness.close()
