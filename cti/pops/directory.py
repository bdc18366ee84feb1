"""Which user sits at an extension: the users service's telephony lookup behind a small cache.

The first ring at an extension costs one query; later ones are dictionary hits. Entries older
than the TTL are still served while a background refresh reads them again, so a ringing card never
waits for the refresh. Answers are per PBX: extension 101 of one office is not 101 of the other.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.domain.principal import SYSTEM
from crmlite.services.users import device_extension, list_users, users_by_telephony

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class PopUser:
    """A user a card can go to."""

    id: int
    login: str
    name: str

    def to_dict(self) -> dict[str, object]:
        """Plain JSON-ready dict."""
        return {"id": self.id, "login": self.login, "name": self.name}


class UserDirectory(Protocol):
    """Maps PBX names (``101``, ``PJSIP/101``) to users."""

    async def resolve(self, names: Iterable[str], *, pbx: str | None = None) -> dict[str, PopUser]:
        """The users behind ``names`` on ``pbx``; unknown names are left out."""
        ...


class CachedUserDirectory:
    """``UserDirectory`` over the users service, cached with stale-while-refresh."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        ttl_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sessions = sessions
        self._ttl = ttl_s
        self._clock = clock
        # (asking PBX, name) -> answer; ``preload`` fills (identity's PBX or None, name).
        self._cache: dict[tuple[str | None, str], tuple[PopUser | None, float]] = {}
        self._preloaded: dict[tuple[str | None, str], tuple[PopUser, float]] = {}
        self._refreshing: set[asyncio.Task[None]] = set()

    async def resolve(self, names: Iterable[str], *, pbx: str | None = None) -> dict[str, PopUser]:
        """Cached answers at once; one query for the names never seen on ``pbx``."""
        now = self._clock()
        found: dict[str, PopUser] = {}
        missing: list[str] = []
        stale: list[str] = []
        for name in {n for n in names if n}:
            entry = self._cache.get((pbx, name)) or self._from_preload(pbx, name)
            if entry is None:
                missing.append(name)
                continue
            user, loaded_at = entry
            if user is not None:
                found[name] = user
            if now - loaded_at > self._ttl:
                stale.append(name)
        if missing:
            found.update(await self._load(missing, pbx))
        if stale:
            task = asyncio.create_task(self._refresh(stale, pbx))
            self._refreshing.add(task)
            task.add_done_callback(self._refreshing.discard)
        return found

    async def preload(self) -> int:
        """Read every active user's telephony names at start; return how many were cached."""
        async with self._sessions() as session:
            users = await list_users(session, SYSTEM)
        now = self._clock()
        for user in users:
            entry = PopUser(id=user.id, login=user.login, name=user.display_name)
            for identity in user.identities:
                self._preloaded[(identity.pbx, identity.value)] = (entry, now)
                # ``PJSIP/101`` rings as extension 101 too (users_by_telephony's fallback).
                extension = device_extension(identity.value)
                if extension is not None:
                    self._preloaded.setdefault((identity.pbx, extension), (entry, now))
        return len(self._preloaded)

    def forget(self) -> None:
        """Drop the cache (after an admin changed the mapping)."""
        self._cache.clear()
        self._preloaded.clear()

    def _from_preload(self, pbx: str | None, name: str) -> tuple[PopUser | None, float] | None:
        """The preloaded answer: the PBX's own identity, else an every-PBX one."""
        entry = self._preloaded.get((pbx, name)) or self._preloaded.get((None, name))
        if entry is not None:
            self._cache[(pbx, name)] = entry
        return entry

    async def _load(self, names: list[str], pbx: str | None) -> dict[str, PopUser]:
        async with self._sessions() as session:
            rows = await users_by_telephony(session, names, pbx=pbx)
        now = self._clock()
        result = {
            name: PopUser(id=u.user_id, login=u.login, name=u.display_name)
            for name, u in rows.items()
        }
        for name in names:
            self._cache[(pbx, name)] = (result.get(name), now)
        return result

    async def _refresh(self, names: list[str], pbx: str | None) -> None:
        try:
            await self._load(names, pbx)
        except (SQLAlchemyError, OSError) as err:
            log.warning("pops_directory_refresh_failed", error=str(err))
