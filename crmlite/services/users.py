"""Users, roles and telephony identities (how the PBX names a user's phone).

Admins manage users; anyone may list them (owner pickers). The call side maps an extension or AMI
interface to a user with ``users_by_telephony`` (one query for any number of values). An identity
belongs to one PBX (by its configured name) or, with ``pbx`` None, to every PBX: two offices may
both have an extension 101, each its own person, and the call side asks for the PBX of the call.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from crmlite.db.models import ApiToken, TelephonyIdentity, User, WebSession
from crmlite.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from crmlite.domain.principal import Principal, Role
from crmlite.services.passwords import MIN_PASSWORD_LENGTH, hash_password
from crmlite.services.user_changes import announce_change

LOGIN_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")
IDENTITY_KINDS = ("extension", "interface", "queue_member")
PBX_NAME_MAX = 64
# The device part of an interface or a Local queue member: PJSIP/101, SIP/101, Local/101@ctx/n.
_DEVICE = re.compile(r"^[A-Za-z0-9]+/([^@/;-]+)")


class DuplicateLogin(Conflict):
    slug = "duplicate-login"


class IdentityTaken(Conflict):
    """An extension or interface already belongs to another user on the same PBX."""

    slug = "identity-taken"


class LastAdmin(Conflict):
    """The change would leave no active admin."""

    slug = "last-admin"


@dataclass(frozen=True, slots=True)
class Identity:
    kind: str
    value: str
    pbx: str | None = None  # the configured PBX's name; None: every PBX

    def clashes_with(self, pbx: str | None) -> bool:
        """True when the same kind and value on ``pbx`` would name the same phone."""
        return self.pbx is None or pbx is None or self.pbx == pbx


@dataclass(frozen=True, slots=True)
class UserView:
    id: int
    login: str
    display_name: str
    role: Role
    active: bool
    created_at: dt.datetime
    identities: tuple[Identity, ...] = ()
    has_password: bool = False


@dataclass(frozen=True, slots=True)
class TelephonyUser:
    """The user behind a PBX name, as the call side needs it."""

    user_id: int
    login: str
    display_name: str
    role: Role


def identity_kind(value: str) -> str:
    """The kind of a PBX name: 101 extension, PJSIP/101 interface, Local/... queue member."""
    if value.startswith("Local/"):
        return "queue_member"
    if "/" in value:
        return "interface"
    return "extension"


def principal_of(user: User) -> Principal:
    return Principal(
        user_id=user.id, login=user.login, role=Role(user.role), display_name=user.display_name
    )


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _view(user: User) -> UserView:
    identities = tuple(
        Identity(i.kind, i.value, i.pbx)
        for i in sorted(user.identities, key=lambda i: (i.pbx or "", i.kind, i.value))
    )
    return UserView(
        id=user.id,
        login=user.login,
        display_name=user.display_name,
        role=Role(user.role),
        active=user.active,
        created_at=user.created_at,
        identities=identities,
        has_password=user.password_hash is not None,
    )


def _require_admin(actor: Principal) -> None:
    if not actor.is_admin:
        raise PermissionDenied("only admins manage users")


def _check_login(login: str) -> str:
    login = login.strip().lower()
    if not LOGIN_PATTERN.match(login):
        raise InvalidInput(
            f"invalid login {login!r}",
            fields={"login": "2-64 characters: letters, digits, '.', '_', '@' or '-'"},
        )
    return login


def check_password(password: str) -> None:
    """Refuse passwords shorter than the minimum."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(
            "password too short",
            fields={"password": f"at least {MIN_PASSWORD_LENGTH} characters"},
        )


def _clean_identities(identities: Iterable[Identity]) -> list[Identity]:
    cleaned: dict[tuple[str | None, str, str], Identity] = {}
    for identity in identities:
        value = identity.value.strip()
        pbx = (identity.pbx or "").strip() or None
        if not value or identity.kind not in IDENTITY_KINDS or (pbx and len(pbx) > PBX_NAME_MAX):
            raise InvalidInput(
                f"invalid telephony identity {identity.kind}:{identity.value!r}",
                fields={
                    "identities": f"kind is one of {', '.join(IDENTITY_KINDS)}; value not empty;"
                    f" pbx up to {PBX_NAME_MAX} characters"
                },
            )
        cleaned[(pbx, identity.kind, value)] = Identity(identity.kind, value, pbx)
    return list(cleaned.values())


async def _load(db: AsyncSession, user_id: int) -> User:
    user = await db.scalar(
        select(User).where(User.id == user_id).options(selectinload(User.identities))
    )
    if user is None:
        raise NotFound(f"no user {user_id}", details={"user_id": user_id})
    return user


async def _ensure_identities_free(
    db: AsyncSession, identities: Sequence[Identity], user_id: int | None
) -> None:
    if not identities:
        return
    wanted = or_(
        *(
            and_(TelephonyIdentity.kind == i.kind, TelephonyIdentity.value == i.value)
            for i in identities
        )
    )
    rows = await db.execute(
        select(
            TelephonyIdentity.kind,
            TelephonyIdentity.value,
            TelephonyIdentity.pbx,
            User.id,
            User.login,
        )
        .join(User, User.id == TelephonyIdentity.user_id)
        .where(wanted)
    )
    # An every-PBX identity names the phone on each PBX: it clashes with the same one anywhere.
    for kind, value, pbx, owner_id, login in rows:
        if owner_id == user_id:
            continue
        for identity in identities:
            if (identity.kind, identity.value) == (kind, value) and identity.clashes_with(pbx):
                where = f" on {pbx}" if pbx else " on every PBX"
                raise IdentityTaken(
                    f"{kind} {value}{where} already belongs to {login}",
                    details={"kind": kind, "value": value, "pbx": pbx, "login": login},
                )


async def create_user(
    db: AsyncSession,
    actor: Principal,
    *,
    login: str,
    role: Role,
    display_name: str | None = None,
    password: str | None = None,
    identities: Sequence[Identity] = (),
    now: dt.datetime | None = None,
) -> UserView:
    """Add a user (admins only); the password, if any, is stored as an argon2 hash."""
    _require_admin(actor)
    login = _check_login(login)
    cleaned = _clean_identities(identities)
    if password is not None:
        check_password(password)
    if await db.scalar(select(User.id).where(User.login == login)) is not None:
        raise DuplicateLogin(f"login {login!r} is taken", details={"login": login})
    await _ensure_identities_free(db, cleaned, None)
    password_hash = await asyncio.to_thread(hash_password, password) if password else None
    user = User(
        login=login,
        display_name=(display_name or "").strip() or login,
        role=Role(role).value,
        password_hash=password_hash,
        active=True,
        locale="en",
        created_at=now or _utcnow(),
    )
    user.identities = [TelephonyIdentity(kind=i.kind, value=i.value, pbx=i.pbx) for i in cleaned]
    db.add(user)
    try:
        await db.flush()
    except IntegrityError as err:
        raise Conflict("login or telephony identity already taken") from err
    await announce_change(db)
    return _view(user)


async def list_users(
    db: AsyncSession, actor: Principal, *, include_inactive: bool = False
) -> list[UserView]:
    """Every user, by login; inactive ones only for admins who ask."""
    query = select(User).options(selectinload(User.identities)).order_by(User.login)
    if not (include_inactive and actor.is_admin):
        query = query.where(User.active.is_(True))
    return [_view(user) for user in await db.scalars(query)]


async def get_user(db: AsyncSession, actor: Principal, user_id: int) -> UserView:
    """One user with identities: admins see anyone, others only themselves."""
    if not actor.is_admin and actor.user_id != user_id:
        raise PermissionDenied("only admins see other users' details")
    return _view(await _load(db, user_id))


async def find_user_by_login(db: AsyncSession, login: str) -> UserView:
    user = await db.scalar(
        select(User)
        .where(User.login == login.strip().lower())
        .options(selectinload(User.identities))
    )
    if user is None:
        raise NotFound(f"no user {login!r}", details={"login": login})
    return _view(user)


async def _active_admins(db: AsyncSession) -> int:
    count = await db.scalar(
        select(func.count()).select_from(User).where(User.role == "admin", User.active.is_(True))
    )
    return int(count or 0)


async def update_user(
    db: AsyncSession,
    actor: Principal,
    user_id: int,
    *,
    display_name: str | None = None,
    role: Role | None = None,
    active: bool | None = None,
    password: str | None = None,
    now: dt.datetime | None = None,
) -> UserView:
    """Change a user (admins only). Deactivating ends their sessions and revokes their tokens."""
    _require_admin(actor)
    user = await _load(db, user_id)
    loses_admin = (
        user.role == "admin"
        and user.active
        and ((role is not None and role is not Role.ADMIN) or active is False)
    )
    if loses_admin and await _active_admins(db) <= 1:
        raise LastAdmin("the last active admin cannot be demoted or deactivated")
    if display_name is not None:
        if not display_name.strip():
            raise InvalidInput("empty display name", fields={"display_name": "must not be empty"})
        user.display_name = display_name.strip()
    if role is not None:
        user.role = Role(role).value
    if password is not None:
        check_password(password)
        user.password_hash = await asyncio.to_thread(hash_password, password)
    if active is not None:
        user.active = active
    if active is False or password is not None:
        await end_sessions(db, user_id)
    if active is False:
        await db.execute(
            update(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
            .values(revoked_at=now or _utcnow())
        )
    await db.flush()
    await announce_change(db)
    return _view(user)


async def end_sessions(db: AsyncSession, user_id: int) -> None:
    """Log the user out of every browser."""
    await db.execute(delete(WebSession).where(WebSession.user_id == user_id))


async def set_identities(
    db: AsyncSession, actor: Principal, user_id: int, identities: Sequence[Identity]
) -> UserView:
    """Replace the user's telephony identities (admins only)."""
    _require_admin(actor)
    cleaned = _clean_identities(identities)
    user = await _load(db, user_id)
    await _ensure_identities_free(db, cleaned, user_id)
    await db.execute(delete(TelephonyIdentity).where(TelephonyIdentity.user_id == user_id))
    await db.flush()
    for identity in cleaned:
        db.add(
            TelephonyIdentity(
                user_id=user_id, kind=identity.kind, value=identity.value, pbx=identity.pbx
            )
        )
    try:
        await db.flush()
    except IntegrityError as err:
        raise IdentityTaken("a telephony identity is already taken") from err
    await db.refresh(user, attribute_names=["identities"])
    await announce_change(db)
    return _view(user)


def device_extension(value: str) -> str | None:
    """The extension a PBX name points at: ``PJSIP/101`` and ``Local/101@from-queue/n`` -> 101."""
    match = _DEVICE.match(value)
    return match.group(1) if match else None


async def users_by_telephony(
    db: AsyncSession, values: Iterable[str], *, pbx: str | None = None
) -> dict[str, TelephonyUser]:
    """Map PBX names (extensions, interfaces, queue members) to active users in one query.

    With ``pbx``, only identities of that PBX or of every PBX count (the call's own office); an
    identity of that PBX wins over an every-PBX one. Without, any PBX's (every-PBX ones first):
    for callers that know no PBX. An exact identity wins; an interface or Local member with no
    identity of its own falls back to the user of its extension (``PJSIP/101`` -> extension 101).
    Unknown names are left out.
    """
    names = {value.strip() for value in values if value and value.strip()}
    if not names:
        return {}
    fallback = {name: ext for name in names if (ext := device_extension(name)) is not None}
    query = (
        select(
            TelephonyIdentity.kind,
            TelephonyIdentity.value,
            TelephonyIdentity.pbx,
            User.id,
            User.login,
            User.display_name,
            User.role,
        )
        .join(User, User.id == TelephonyIdentity.user_id)
        .where(
            User.active.is_(True),
            or_(
                TelephonyIdentity.value.in_(names),
                and_(
                    TelephonyIdentity.kind == "extension",
                    TelephonyIdentity.value.in_(set(fallback.values())),
                ),
            ),
        )
        .order_by(TelephonyIdentity.id)
    )
    if pbx is not None:
        query = query.where(or_(TelephonyIdentity.pbx.is_(None), TelephonyIdentity.pbx == pbx))
    exact: dict[str, tuple[int, TelephonyUser]] = {}
    by_extension: dict[str, tuple[int, TelephonyUser]] = {}
    for kind, value, scope, user_id, login, display_name, role in await db.execute(query):
        found = TelephonyUser(user_id, login, display_name, Role(role))
        # Rank: the asked PBX's own identity (2) over an every-PBX one (1) over another's (0).
        rank = 1 if scope is None else (2 if scope == pbx else 0)
        if rank > exact.get(value, (-1, found))[0]:
            exact[value] = (rank, found)
        if kind == "extension" and rank > by_extension.get(value, (-1, found))[0]:
            by_extension[value] = (rank, found)
    result: dict[str, TelephonyUser] = {}
    for name in names:
        if name in exact:
            result[name] = exact[name][1]
        elif name in fallback and fallback[name] in by_extension:
            result[name] = by_extension[fallback[name]][1]
    return result
