"""Who sits at an extension, cached: served from memory, dropped by any committed user change,
here and (PostgreSQL) in other instances through LISTEN/NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from crmlite.db.engine import create_engine
from crmlite.domain.principal import SYSTEM, Role
from crmlite.services.telephony_users import TelephonyUserCache
from crmlite.services.users import Identity, create_user, set_identities, update_user

ROOT = Path(__file__).parents[2]
Sessions = async_sessionmaker[AsyncSession]


@contextlib.contextmanager
def counted(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def note(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", note)


async def _two_sellers(sessions: Sessions) -> tuple[int, int]:
    async with sessions.begin() as db:
        anna = await create_user(
            db, SYSTEM, login="anna", role=Role.SELLER, identities=[Identity("extension", "101")]
        )
        boris = await create_user(db, SYSTEM, login="boris", role=Role.SELLER)
    return anna.id, boris.id


async def _who(cache: TelephonyUserCache, sessions: Sessions, name: str = "101") -> str | None:
    async with sessions() as db:
        found = await cache.lookup(db, [name, "PJSIP/999"])
    return found[name].login if name in found else None


async def test_a_known_answer_costs_no_query(engine: AsyncEngine, sessions: Sessions) -> None:
    await _two_sellers(sessions)
    cache = TelephonyUserCache()
    assert await _who(cache, sessions) == "anna"
    with counted(engine) as statements:
        assert await _who(cache, sessions) == "anna"
    assert statements == []
    with counted(engine) as statements:
        assert await _who(cache, sessions, "PJSIP/101") == "anna"  # the extension's fallback
    assert len([s for s in statements if "telephony_identities" in s]) == 1


async def test_committed_changes_drop_the_answers(sessions: Sessions) -> None:
    anna, boris = await _two_sellers(sessions)
    cache = TelephonyUserCache()
    assert await _who(cache, sessions) == "anna"
    async with sessions.begin() as db:
        await set_identities(db, SYSTEM, anna, [])
        await set_identities(db, SYSTEM, boris, [Identity("extension", "101")])
    assert await _who(cache, sessions) == "boris"
    async with sessions.begin() as db:
        await update_user(db, SYSTEM, boris, active=False)
    assert await _who(cache, sessions) is None


async def test_a_rolled_back_change_is_not_announced(sessions: Sessions) -> None:
    anna, _boris = await _two_sellers(sessions)
    cache = TelephonyUserCache()
    assert await _who(cache, sessions) == "anna"
    async with sessions() as db:
        await set_identities(db, SYSTEM, anna, [])
        await db.rollback()
    assert cache.misses == 2
    assert await _who(cache, sessions) == "anna"
    assert cache.misses == 2  # still served from memory: nothing changed


async def test_a_shared_cache_asks_the_database_until_it_listens(
    engine: AsyncEngine, sessions: Sessions
) -> None:
    await _two_sellers(sessions)
    cache = TelephonyUserCache(shared=True)
    for _ in range(2):
        assert await _who(cache, sessions) == "anna"
    assert cache.hits == 0
    listening = asyncio.create_task(cache.listen(engine))
    try:
        await _until(lambda: cache.enabled)
        for _ in range(2):
            assert await _who(cache, sessions) == "anna"
        assert cache.hits == 2
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening


_OTHER_INSTANCE = """
import asyncio, sys
from crmlite.db.engine import create_engine, session_factory
from crmlite.domain.principal import SYSTEM
from crmlite.services.users import Identity, set_identities

async def main(url, anna, boris):
    engine = create_engine(url)
    async with session_factory(engine).begin() as db:
        await set_identities(db, SYSTEM, int(anna), [])
        await set_identities(db, SYSTEM, int(boris), [Identity("extension", "101")])
    await engine.dispose()

asyncio.run(main(*sys.argv[1:]))
"""


async def test_another_instance_change_reaches_a_listening_cache(
    database_url: str, sessions: Sessions
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("one process writes SQLite: nothing to hear from other instances")
    anna, boris = await _two_sellers(sessions)
    listener_engine = create_engine(database_url)
    cache = TelephonyUserCache(shared=True)
    listening = asyncio.create_task(cache.listen(listener_engine))
    try:
        await _until(lambda: cache.enabled)
        assert await _who(cache, sessions) == "anna"
        assert await _who(cache, sessions) == "anna"
        assert cache.hits == 2  # cached: only a notification can correct it now
        other = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _OTHER_INSTANCE,
            database_url,
            str(anna),
            str(boris),
            cwd=ROOT,
            env=os.environ | {"PYTHONPATH": str(ROOT)},
        )
        assert await other.wait() == 0
        await _until(lambda: not cache._answers)
        assert await _who(cache, sessions) == "boris"
    finally:
        listening.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listening
        await listener_engine.dispose()


async def _until(condition: Callable[[], bool], attempts: int = 500) -> None:
    for _ in range(attempts):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def test_a_warmed_cache_answers_every_seller_without_a_query(
    engine: AsyncEngine, sessions: Sessions
) -> None:
    await _two_sellers(sessions)
    async with sessions.begin() as db:
        await create_user(
            db, SYSTEM, login="vera", role=Role.SELLER, identities=[Identity("extension", "102")]
        )
    cache = TelephonyUserCache()
    assert await cache.warm(sessions, ["pbx"]) == 2
    with counted(engine) as statements:
        async with sessions() as db:
            found = await cache.lookup(db, ["101", "102"], pbx="pbx")
    assert statements == []
    assert {name: user.login for name, user in found.items()} == {"101": "anna", "102": "vera"}


async def test_a_cache_that_may_not_keep_answers_is_not_warmed(sessions: Sessions) -> None:
    await _two_sellers(sessions)
    deaf = TelephonyUserCache(shared=True)  # no LISTEN connection: answers are not kept
    assert await deaf.warm(sessions, ["pbx"], wait_s=0.1) == 0
