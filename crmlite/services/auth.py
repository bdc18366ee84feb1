"""Logins, browser sessions and API tokens. Only SHA-256 digests of the secrets are stored."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import ApiToken, User, WebSession
from crmlite.domain.errors import InvalidInput, NotFound, PermissionDenied, Unauthenticated
from crmlite.domain.principal import Principal
from crmlite.domain.token_scopes import check_scope, parse_networks
from crmlite.services.passwords import hash_password, needs_rehash, verify_password
from crmlite.services.users import check_password, end_sessions, principal_of

API_TOKEN_PREFIX = "cti_"  # noqa: S105 - a prefix that marks our tokens, not a secret
# last_used_at is a hint for admins, not an audit log: write it at most this often per token.
TOKEN_USE_RESOLUTION = dt.timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class SessionTicket:
    """A new browser session: ``token`` goes in the cookie, ``csrf_token`` in X-CSRF-Token."""

    token: str
    csrf_token: str
    expires_at: dt.datetime
    principal: Principal


@dataclass(frozen=True, slots=True)
class ActiveSession:
    principal: Principal
    csrf_token: str
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True)
class TokenView:
    id: int
    user_id: int
    name: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked_at: dt.datetime | None
    scope: str | None = None
    allowed_ips: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What a bearer token grants: its user, its scope (None = full rights), its addresses."""

    principal: Principal
    scope: str | None
    allowed_ips: tuple[str, ...]

    @property
    def unrestricted(self) -> bool:
        return self.scope is None and not self.allowed_ips


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new API token; ``token`` is shown once and never stored."""

    token: str
    view: TokenView


def digest(secret: str) -> str:
    """The SHA-256 hex digest stored in place of a session or token secret."""
    return hashlib.sha256(secret.encode()).hexdigest()


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _token_view(token: ApiToken) -> TokenView:
    return TokenView(
        id=token.id,
        user_id=token.user_id,
        name=token.name,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
        revoked_at=token.revoked_at,
        scope=token.scope,
        allowed_ips=tuple(token.allowed_ips or ()),
    )


async def login(
    db: AsyncSession,
    login_name: str,
    password: str,
    *,
    ttl: dt.timedelta,
    now: dt.datetime | None = None,
) -> SessionTicket:
    """Check the password and open a browser session; any mismatch reads the same."""
    now = now or _utcnow()
    user = await db.scalar(select(User).where(User.login == login_name.strip().lower()))
    stored = user.password_hash if user is not None and user.active else None
    if not await asyncio.to_thread(verify_password, stored, password) or user is None:
        raise Unauthenticated("wrong login or password")
    if stored is not None and needs_rehash(stored):
        user.password_hash = await asyncio.to_thread(hash_password, password)
    return await open_session(db, user, ttl=ttl, now=now)


async def open_session(
    db: AsyncSession, user: User, *, ttl: dt.timedelta, now: dt.datetime | None = None
) -> SessionTicket:
    """Start a browser session for ``user`` (whose credentials the caller has checked)."""
    now = now or _utcnow()
    token, csrf_token = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    expires_at = now + ttl
    db.add(
        WebSession(
            token_hash=digest(token),
            user_id=user.id,
            csrf_token=csrf_token,
            created_at=now,
            expires_at=expires_at,
        )
    )
    # Expired sessions are swept on login rather than by a timer: logins are rare and cheap.
    await db.execute(delete(WebSession).where(WebSession.expires_at < now))
    await db.flush()
    return SessionTicket(token, csrf_token, expires_at, principal_of(user))


async def resolve_session(
    db: AsyncSession, token: str, now: dt.datetime | None = None
) -> ActiveSession | None:
    """The live session behind a cookie value, or None when unknown, expired or disabled."""
    now = now or _utcnow()
    row = (
        await db.execute(
            select(WebSession.csrf_token, WebSession.expires_at, User)
            .join(User, User.id == WebSession.user_id)
            .where(WebSession.token_hash == digest(token))
        )
    ).one_or_none()
    if row is None:
        return None
    csrf_token, expires_at, user = row
    if expires_at <= now or not user.active:
        return None
    return ActiveSession(principal_of(user), csrf_token, expires_at)


async def change_own_password(db: AsyncSession, actor: Principal, current: str, new: str) -> User:
    """Set the caller's password after checking the current one; every browser session ends."""
    user = await db.get(User, actor.user_id) if actor.user_id is not None else None
    if user is None or not user.active:
        raise Unauthenticated("no such user")
    if not await asyncio.to_thread(verify_password, user.password_hash, current):
        raise InvalidInput(
            "the current password is wrong", fields={"current_password": "does not match"}
        )
    check_password(new)
    user.password_hash = await asyncio.to_thread(hash_password, new)
    await end_sessions(db, user.id)
    await db.flush()
    return user


async def logout(db: AsyncSession, token: str) -> None:
    """End the session behind a cookie value (nothing happens when it is already gone)."""
    await db.execute(delete(WebSession).where(WebSession.token_hash == digest(token)))


async def create_api_token(
    db: AsyncSession,
    user_id: int,
    name: str,
    now: dt.datetime | None = None,
    *,
    scope: str | None = None,
    allowed_ips: Sequence[str] = (),
) -> IssuedToken:
    """Issue a bearer token for ``user_id``; only its digest is kept.

    ``scope`` narrows it to one job (``route-lookup``); ``allowed_ips`` to some addresses.
    """
    scope = check_scope(scope)
    networks = parse_networks(allowed_ips)
    user = await db.get(User, user_id)
    if user is None or not user.active:
        raise NotFound(f"no active user {user_id}", details={"user_id": user_id})
    secret = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user_id,
        name=name.strip()[:100] or "token",
        token_hash=digest(secret),
        scope=scope,
        allowed_ips=list(networks) or None,
    )
    token.created_at = now or _utcnow()
    db.add(token)
    await db.flush()
    return IssuedToken(secret, _token_view(token))


async def resolve_token_grant(
    db: AsyncSession, secret: str, now: dt.datetime | None = None
) -> TokenGrant | None:
    """What a bearer token grants, or None when unknown, revoked or its user disabled.

    The caller enforces the scope and the addresses (the web layer knows the route and the peer).
    """
    now = now or _utcnow()
    row = (
        await db.execute(
            select(
                ApiToken.id,
                ApiToken.revoked_at,
                ApiToken.last_used_at,
                ApiToken.scope,
                ApiToken.allowed_ips,
                User,
            )
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == digest(secret))
        )
    ).one_or_none()
    if row is None:
        return None
    token_id, revoked_at, last_used_at, scope, allowed_ips, user = row
    if revoked_at is not None or not user.active:
        return None
    if last_used_at is None or now - last_used_at >= TOKEN_USE_RESOLUTION:
        await db.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
    return TokenGrant(principal_of(user), scope, tuple(allowed_ips or ()))


async def resolve_api_token(
    db: AsyncSession, secret: str, now: dt.datetime | None = None
) -> Principal | None:
    """The principal behind a full-rights token usable from anywhere, else None.

    A scoped or address-bound token resolves to nobody here: only a caller that checks the
    scope and the address (``resolve_token_grant``) may accept it.
    """
    grant = await resolve_token_grant(db, secret, now)
    return grant.principal if grant is not None and grant.unrestricted else None


async def list_api_tokens(db: AsyncSession, actor: Principal, user_id: int) -> list[TokenView]:
    """A user's tokens (never their secrets): the user's own, or anyone's for admins."""
    if not actor.is_admin and actor.user_id != user_id:
        raise PermissionDenied("only admins see other users' tokens")
    tokens = await db.scalars(
        select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.id)
    )
    return [_token_view(token) for token in tokens]


async def revoke_api_token(
    db: AsyncSession, actor: Principal, token_id: int, now: dt.datetime | None = None
) -> TokenView:
    """Revoke a token: its owner or an admin may; someone else's token reads as not found."""
    token = await db.get(ApiToken, token_id)
    if token is None or not (actor.is_admin or token.user_id == actor.user_id):
        raise NotFound(f"no token {token_id}", details={"token_id": token_id})
    if token.revoked_at is None:
        token.revoked_at = now or _utcnow()
        await db.flush()
    return _token_view(token)
