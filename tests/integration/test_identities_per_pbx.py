"""Identities per PBX: two offices may both have an extension 101, each its own person.

The database keeps (pbx, kind, value) unique, an every-PBX identity (pbx NULL) included, on
SQLite and PostgreSQL; the users service also refuses an every-PBX identity that clashes with one
PBX's; the lookups from a call to a user answer for the PBX of the call.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import TelephonyIdentity
from crmlite.domain.principal import SYSTEM, Role
from crmlite.services import users as users_service
from crmlite.services.telephony_users import TelephonyUserCache
from crmlite.services.users import Identity, IdentityTaken, users_by_telephony
from crmlite.web.keys import PBX_NAMES
from cti.app import create_app
from cti.pops.directory import CachedUserDirectory
from cti.settings import Settings
from tests.support.api import ApiHarness, start_api

Sessions = async_sessionmaker[AsyncSession]
NAMES = ("101", "PJSIP/101", "PJSIP/150", "150")


async def _user(db: AsyncSession, login: str, *identities: Identity) -> int:
    view = await users_service.create_user(
        db, SYSTEM, login=login, role=Role.SELLER, identities=identities
    )
    return view.id


async def test_the_same_extension_on_two_pbxs_is_two_people(sessions: Sessions) -> None:
    async with sessions.begin() as db:
        anna = await _user(db, "anna", Identity("extension", "101", "east"))
        boris = await _user(
            db, "boris", Identity("extension", "101", "west"), Identity("extension", "102", "west")
        )
        # A manager who sits in either office: 150 on every PBX.
        maria = await _user(db, "maria", Identity("extension", "150"))
    async with sessions() as db:
        east = await users_by_telephony(db, ["101", "PJSIP/101", "102", "150"], pbx="east")
        west = await users_by_telephony(db, ["101", "PJSIP/101", "102", "150"], pbx="west")
    assert {k: u.user_id for k, u in east.items()} == {"101": anna, "PJSIP/101": anna, "150": maria}
    assert {k: u.user_id for k, u in west.items()} == {
        "101": boris,
        "PJSIP/101": boris,
        "102": boris,
        "150": maria,
    }


async def test_a_duplicate_within_one_pbx_is_refused_with_its_pbx(sessions: Sessions) -> None:
    async with sessions.begin() as db:
        await _user(db, "anna", Identity("extension", "101", "east"), Identity("extension", "150"))
    async with sessions.begin() as db:
        with pytest.raises(IdentityTaken) as same_pbx:
            await _user(db, "boris", Identity("extension", "101", "east"))
        assert same_pbx.value.details == {
            "kind": "extension",
            "value": "101",
            "pbx": "east",
            "login": "anna",
        }
        # Every PBX's 101 would be east's 101 too; west's 150 is anna's every-PBX 150.
        with pytest.raises(IdentityTaken):
            await _user(db, "carl", Identity("extension", "101"))
        with pytest.raises(IdentityTaken) as every:
            await _user(db, "dora", Identity("extension", "150", "west"))
        assert every.value.details["pbx"] is None


async def test_the_database_keeps_identities_unique_per_pbx_null_included(
    sessions: Sessions,
) -> None:
    async with sessions.begin() as db:
        anna = await _user(db, "anna")
        boris = await _user(db, "boris")
    rows = [
        ({"user_id": anna, "kind": "extension", "value": "101", "pbx": None}, True),
        ({"user_id": boris, "kind": "extension", "value": "101", "pbx": None}, False),
        ({"user_id": anna, "kind": "extension", "value": "102", "pbx": "east"}, True),
        ({"user_id": boris, "kind": "extension", "value": "102", "pbx": "east"}, False),
        ({"user_id": boris, "kind": "extension", "value": "102", "pbx": "west"}, True),
        ({"user_id": boris, "kind": "interface", "value": "102", "pbx": "east"}, True),
    ]
    for values, accepted in rows:
        if accepted:
            async with sessions.begin() as db:
                await db.execute(insert(TelephonyIdentity).values(**values))
            continue
        with pytest.raises(IntegrityError):
            async with sessions.begin() as db:
                await db.execute(insert(TelephonyIdentity).values(**values))


async def test_the_cache_answers_each_pbx_for_itself(sessions: Sessions) -> None:
    async with sessions.begin() as db:
        await _user(db, "anna", Identity("extension", "101", "east"))
        await _user(db, "boris", Identity("extension", "101", "west"))
    cache = TelephonyUserCache()
    for _ in range(2):  # the second round from memory
        async with sessions() as db:
            east = await cache.lookup(db, ["101"], pbx="east")
            west = await cache.lookup(db, ["101"], pbx="west")
            north = await cache.lookup(db, ["101"], pbx="north")
        assert (east["101"].login, west["101"].login, north) == ("anna", "boris", {})
    assert cache.hits == 3


def _with_pbxs(*names: str) -> object:
    def factory(settings: Settings) -> web.Application:
        app = create_app(settings)
        app[PBX_NAMES] = names  # as if configured, without AMI links to dial
        return app

    return factory


@pytest.fixture
async def offices(database_url: str) -> AsyncIterator[ApiHarness]:
    harness = await start_api(database_url, app_factory=_with_pbxs("east", "west"))  # type: ignore[arg-type]
    yield harness
    await harness.close()


async def test_the_user_editor_api_edits_identities_per_pbx(offices: ApiHarness) -> None:
    admin = await offices.client("admin")
    anna = await offices.create_user(login="anna")
    boris = await offices.create_user(login="boris")
    put = await admin.put(
        f"/api/v1/users/{anna.id}/identities",
        json={
            "identities": [
                {"kind": "extension", "value": "101", "pbx": "east"},
                {"kind": "extension", "value": "201", "pbx": "west"},
            ]
        },
    )
    assert put.status == 200, put.text
    assert put.json()["identities"] == [
        {"kind": "extension", "value": "101", "pbx": "east"},
        {"kind": "extension", "value": "201", "pbx": "west"},
    ]
    other_office = await admin.put(
        f"/api/v1/users/{boris.id}/identities",
        json={"identities": [{"kind": "extension", "value": "101", "pbx": "west"}]},
    )
    assert other_office.status == 200, other_office.text
    taken = await admin.put(
        f"/api/v1/users/{boris.id}/identities",
        json={"identities": [{"kind": "extension", "value": "201", "pbx": "west"}]},
    )
    assert taken.status == 409, taken.text
    problem = taken.json()
    assert problem["slug"] == "identity-taken"
    assert "201 on west already belongs to anna" in problem["detail"]
    unknown = await admin.put(
        f"/api/v1/users/{boris.id}/identities",
        json={"identities": [{"kind": "extension", "value": "301", "pbx": "north"}]},
    )
    assert unknown.status == 422, unknown.text
    assert "identities.0.pbx" in str(unknown.json())
    kept = await admin.get(f"/api/v1/users/{boris.id}")
    assert kept.json()["identities"] == [{"kind": "extension", "value": "101", "pbx": "west"}]


async def test_the_pops_directory_answers_per_pbx_from_its_preload(sessions: Sessions) -> None:
    async with sessions.begin() as db:
        await _user(db, "anna", Identity("extension", "101", "east"))
        await _user(db, "boris", Identity("extension", "101", "west"))
        await _user(db, "maria", Identity("interface", "PJSIP/150"))
    directory = CachedUserDirectory(sessions)
    assert await directory.preload() > 0
    found = {
        pbx: {name: user.login for name, user in (await directory.resolve(NAMES, pbx=pbx)).items()}
        for pbx in ("east", "west", "north")
    }
    assert found == {
        "east": {"101": "anna", "PJSIP/101": "anna", "PJSIP/150": "maria", "150": "maria"},
        "west": {"101": "boris", "PJSIP/101": "boris", "PJSIP/150": "maria", "150": "maria"},
        "north": {"PJSIP/150": "maria", "150": "maria"},
    }
