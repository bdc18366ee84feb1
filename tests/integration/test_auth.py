"""Browser sessions (cookie + CSRF), bearer tokens, and how secrets are stored."""

from __future__ import annotations

import datetime as dt
import hashlib

from sqlalchemy import select

from crmlite.db.models import ApiToken, User, WebSession
from crmlite.services import auth as auth_service
from crmlite.web.keys import LOGIN_THROTTLE
from tests.support.api import DEFAULT_PASSWORD, ApiHarness


async def test_login_sets_a_hardened_cookie_and_me_answers(api: ApiHarness) -> None:
    user = await api.create_user("head", login="hanna", password="s3cret-pass")
    browser = api.anonymous(with_cookies=True)
    response = await browser.post(
        "/api/v1/auth/login", json={"login": "hanna", "password": "s3cret-pass"}
    )
    assert response.status == 200, response.text
    body = response.json()
    assert body["user"]["login"] == "hanna"
    assert body["user"]["role"] == "head"
    assert body["auth"] == "session"
    assert len(body["csrf_token"]) >= 32
    cookies = [value.lower() for value in response.headers.getall("Set-Cookie")]
    session_cookie = next(c for c in cookies if c.startswith("cti_session="))
    assert "httponly" in session_cookie
    assert "samesite=lax" in session_cookie
    assert "secure" not in session_cookie
    me = await browser.get("/api/v1/auth/me")
    assert me.status == 200, me.text
    assert me.json()["user"]["id"] == user.id
    assert me.json()["csrf_token"] == body["csrf_token"]


async def test_wrong_password_and_unknown_login_read_the_same(api: ApiHarness) -> None:
    await api.create_user("seller", login="sam", password="right-password")
    client = api.anonymous()
    wrong = await client.post("/api/v1/auth/login", json={"login": "sam", "password": "nope"})
    unknown = await client.post("/api/v1/auth/login", json={"login": "who", "password": "nope"})
    for response in (wrong, unknown):
        assert response.status == 401
        assert response.json()["slug"] == "unauthenticated"
        assert response.json()["detail"] == "wrong login or password"
    tokens_only = await api.create_user("seller", login="bot")
    no_password = await client.post("/api/v1/auth/login", json={"login": "bot", "password": ""})
    assert no_password.status == 422  # empty password: refused by the schema
    assert tokens_only.password is None


async def test_logout_ends_the_session(api: ApiHarness) -> None:
    browser = await api.browser("seller")
    assert (await browser.get("/api/v1/auth/me")).status == 200
    refused = await browser.post("/api/v1/auth/logout", csrf=False)
    assert refused.status == 403
    response = await browser.post("/api/v1/auth/logout")
    assert response.status == 204
    assert (await browser.get("/api/v1/auth/me")).status == 401
    async with api.sessions() as db:
        assert (await db.scalars(select(WebSession))).all() == []


async def test_old_cookie_is_dead_after_logout(api: ApiHarness) -> None:
    user = await api.create_user("seller", password=DEFAULT_PASSWORD)
    login = await api.anonymous().post(
        "/api/v1/auth/login", json={"login": user.login, "password": DEFAULT_PASSWORD}
    )
    cookie = login.headers["Set-Cookie"].split(";")[0]
    csrf = login.json()["csrf_token"]
    replay = api.anonymous()
    assert (await replay.get("/api/v1/auth/me", headers={"Cookie": cookie})).status == 200
    logout = await replay.post(
        "/api/v1/auth/logout", headers={"Cookie": cookie, "X-CSRF-Token": csrf}
    )
    assert logout.status == 204
    assert (await replay.get("/api/v1/auth/me", headers={"Cookie": cookie})).status == 401


async def test_csrf_is_required_on_unsafe_cookie_requests(api: ApiHarness) -> None:
    browser = await api.browser("admin")
    target = await api.create_user("seller")
    for method, path, payload in (
        ("POST", "/api/v1/users", {"login": "newbie", "role": "seller"}),
        ("PATCH", f"/api/v1/users/{target.id}", {"display_name": "Renamed"}),
        ("PUT", f"/api/v1/users/{target.id}/identities", {"identities": []}),
    ):
        missing = await browser.request(method, path, json=payload, csrf=False)
        assert missing.status == 403, (method, missing.text)
        assert missing.json()["slug"] == "csrf-failed"
        wrong = await browser.request(
            method, path, json=payload, csrf=False, headers={"X-CSRF-Token": "forged"}
        )
        assert wrong.status == 403
        accepted = await browser.request(method, path, json=payload)
        assert accepted.status in (200, 201), (method, accepted.text)
    token = (await browser.post("/api/v1/auth/tokens", json={"name": "x"})).json()
    no_csrf_delete = await browser.delete(f"/api/v1/auth/tokens/{token['id']}", csrf=False)
    assert no_csrf_delete.status == 403
    delete = await browser.delete(f"/api/v1/auth/tokens/{token['id']}")
    assert delete.status == 200, delete.text
    # Safe methods need no token.
    assert (await browser.get("/api/v1/users", csrf=False)).status == 200


async def test_bearer_tokens_need_no_csrf(api: ApiHarness) -> None:
    admin = await api.client("admin")
    response = await admin.post("/api/v1/users", json={"login": "viatoken", "role": "seller"})
    assert response.status == 201, response.text
    me = (await admin.get("/api/v1/auth/me")).json()
    assert me["auth"] == "token"
    assert me["csrf_token"] is None


async def test_unknown_and_revoked_tokens_are_401(api: ApiHarness) -> None:
    seller = await api.client("seller")
    unknown = api.anonymous()
    unknown.default_headers["Authorization"] = "Bearer cti_not-a-real-token"
    response = await unknown.get("/api/v1/auth/me")
    assert response.status == 401
    assert response.json()["slug"] == "unauthenticated"

    issued = (await seller.post("/api/v1/auth/tokens", json={"name": "script"})).json()
    script = api.anonymous()
    script.default_headers["Authorization"] = f"Bearer {issued['token']}"
    assert (await script.get("/api/v1/auth/me")).status == 200
    revoked = await seller.delete(f"/api/v1/auth/tokens/{issued['id']}")
    assert revoked.json()["revoked_at"] is not None
    assert (await script.get("/api/v1/auth/me")).status == 401
    listed = (await seller.get("/api/v1/auth/tokens")).json()
    assert "token" not in listed[0]


async def test_someone_elses_token_cannot_be_revoked(api: ApiHarness) -> None:
    ann = await api.client("seller")
    bob = await api.client("seller")
    issued = (await ann.post("/api/v1/auth/tokens", json={"name": "mine"})).json()
    response = await bob.delete(f"/api/v1/auth/tokens/{issued['id']}")
    assert response.status == 404
    admin = await api.client("admin")
    assert (await admin.delete(f"/api/v1/auth/tokens/{issued['id']}")).status == 200


async def test_deactivated_user_loses_tokens_and_sessions(api: ApiHarness) -> None:
    admin = await api.client("admin")
    user = await api.create_user("seller", password=DEFAULT_PASSWORD)
    token_client = await api.client(user)
    browser = await api.browser(user)
    response = await admin.patch(f"/api/v1/users/{user.id}", json={"active": False})
    assert response.status == 200, response.text
    assert (await token_client.get("/api/v1/auth/me")).status == 401
    assert (await browser.get("/api/v1/auth/me")).status == 401
    again = await api.anonymous().post(
        "/api/v1/auth/login", json={"login": user.login, "password": DEFAULT_PASSWORD}
    )
    assert again.status == 401


async def test_secrets_are_stored_hashed(api: ApiHarness) -> None:
    user = await api.create_user("seller", password="plain-text-never")
    browser = await api.browser(user)
    token_client = await api.client(user)
    session_cookie = browser.http.cookie_jar.filter_cookies(api.server.make_url("/"))
    raw_session = session_cookie["cti_session"].value
    raw_token = token_client.default_headers["Authorization"].removeprefix("Bearer ")
    async with api.sessions() as db:
        stored_user = await db.scalar(select(User).where(User.id == user.id))
        sessions = (await db.scalars(select(WebSession))).all()
        tokens = (await db.scalars(select(ApiToken))).all()
    assert stored_user is not None
    assert stored_user.password_hash is not None
    assert stored_user.password_hash.startswith("$argon2id$")
    assert "plain-text-never" not in stored_user.password_hash
    assert [s.token_hash for s in sessions] == [hashlib.sha256(raw_session.encode()).hexdigest()]
    assert [t.token_hash for t in tokens] == [hashlib.sha256(raw_token.encode()).hexdigest()]


async def test_expired_sessions_do_not_resolve(api: ApiHarness) -> None:
    user = await api.create_user("seller", password=DEFAULT_PASSWORD)
    start = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)
    async with api.sessions.begin() as db:
        ticket = await auth_service.login(
            db, user.login, DEFAULT_PASSWORD, ttl=dt.timedelta(hours=1), now=start
        )
    async with api.sessions() as db:
        live = await auth_service.resolve_session(
            db, ticket.token, start + dt.timedelta(minutes=59)
        )
        dead = await auth_service.resolve_session(db, ticket.token, start + dt.timedelta(hours=1))
    assert live is not None
    assert live.principal.login == user.login
    assert dead is None


async def test_secure_cookies_setting(database_url: str) -> None:
    from tests.support.api import start_api

    harness = await start_api(database_url, settings={"server": {"secure_cookies": True}})
    try:
        user = await harness.create_user("seller", password=DEFAULT_PASSWORD)
        response = await harness.anonymous().post(
            "/api/v1/auth/login", json={"login": user.login, "password": DEFAULT_PASSWORD}
        )
        cookies = [value.lower() for value in response.headers.getall("Set-Cookie")]
        assert all("secure" in cookie for cookie in cookies)
    finally:
        await harness.close()


async def test_change_own_password_keeps_this_browser_logged_in(api: ApiHarness) -> None:
    user = await api.create_user("seller", password=DEFAULT_PASSWORD)
    other_browser = await api.browser(user)
    browser = await api.browser(user)
    wrong = await browser.post(
        "/api/v1/auth/password",
        json={"current_password": "not-it", "new_password": "brand-new-password"},
    )
    assert wrong.status == 422
    assert wrong.json()["errors"][0]["field"] == "current_password"
    changed = await browser.post(
        "/api/v1/auth/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": "brand-new-password"},
    )
    assert changed.status == 200, changed.text
    browser.csrf_token = changed.json()["csrf_token"]
    assert (await browser.get("/api/v1/auth/me")).status == 200
    assert (await other_browser.get("/api/v1/auth/me")).status == 401
    old = await api.anonymous().post(
        "/api/v1/auth/login", json={"login": user.login, "password": DEFAULT_PASSWORD}
    )
    assert old.status == 401
    new = await api.anonymous().post(
        "/api/v1/auth/login", json={"login": user.login, "password": "brand-new-password"}
    )
    assert new.status == 200


async def test_repeated_wrong_passwords_are_throttled(api: ApiHarness) -> None:
    now = [1000.0]
    throttle = api.app[LOGIN_THROTTLE]
    throttle.clock = lambda: now[0]
    user = await api.create_user("seller", password=DEFAULT_PASSWORD)
    client = api.anonymous()
    wrong = {"login": user.login, "password": "guess"}
    right = {"login": user.login, "password": DEFAULT_PASSWORD}
    for _ in range(throttle.max_failures):
        assert (await client.post("/api/v1/auth/login", json=wrong)).status == 401
    blocked = await client.post("/api/v1/auth/login", json=right)
    assert blocked.status == 429
    assert blocked.json()["slug"] == "too-many-attempts"
    assert int(blocked.headers["Retry-After"]) == int(throttle.window_s)
    other = await api.create_user("seller", password=DEFAULT_PASSWORD)
    unaffected = {"login": other.login, "password": DEFAULT_PASSWORD}
    assert (await client.post("/api/v1/auth/login", json=unaffected)).status == 200
    metrics = (await client.get("/metrics")).text
    assert 'cti_logins_total{outcome="throttled"}' in metrics
    assert 'cti_logins_total{outcome="failure"}' in metrics
    now[0] += throttle.window_s + 1
    assert (await client.post("/api/v1/auth/login", json=right)).status == 200
    assert throttle.retry_after(f"{user.login}|127.0.0.1") is None
