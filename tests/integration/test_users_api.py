"""Users API and service: who manages users, identities, and the PBX-name lookup."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.domain.errors import InvalidInput, PermissionDenied
from crmlite.domain.principal import SYSTEM, Principal, Role
from crmlite.services import users as users_service
from crmlite.services.users import Identity, users_by_telephony
from tests.support.api import ApiHarness


async def test_seller_cannot_manage_users(api: ApiHarness) -> None:
    seller = await api.client("seller")
    head = await api.client("head")
    victim = await api.create_user("seller")
    for client in (seller, head):
        attempts = [
            await client.post("/api/v1/users", json={"login": "intruder", "role": "admin"}),
            await client.patch(f"/api/v1/users/{victim.id}", json={"role": "admin"}),
            await client.put(
                f"/api/v1/users/{victim.id}/identities",
                json={"identities": [{"kind": "extension", "value": "999"}]},
            ),
            await client.post(f"/api/v1/users/{victim.id}/tokens", json={"name": "steal"}),
        ]
        for response in attempts:
            assert response.status == 403, response.text
            assert response.json()["slug"] == "forbidden"
    own = await seller.patch(f"/api/v1/users/{seller.user.id if seller.user else 0}", json={})
    assert own.status == 403


async def test_admin_manages_users_and_identities(api: ApiHarness) -> None:
    admin = await api.client("admin")
    created = await admin.post(
        "/api/v1/users",
        json={
            "login": "Olga",
            "role": "seller",
            "display_name": "Olga K.",
            "password": "long-enough",
            "identities": [
                {"kind": "extension", "value": "101"},
                {"kind": "interface", "value": "PJSIP/101"},
            ],
        },
    )
    assert created.status == 201, created.text
    olga = created.json()
    assert olga["login"] == "olga"
    assert olga["has_password"] is True
    assert {(i["kind"], i["value"]) for i in olga["identities"]} == {
        ("extension", "101"),
        ("interface", "PJSIP/101"),
    }
    patched = await admin.patch(
        f"/api/v1/users/{olga['id']}", json={"role": "head", "display_name": "Olga Head"}
    )
    assert patched.status == 200, patched.text
    assert (patched.json()["role"], patched.json()["display_name"]) == ("head", "Olga Head")
    replaced = await admin.put(
        f"/api/v1/users/{olga['id']}/identities",
        json={"identities": [{"kind": "queue_member", "value": "Local/101@from-queue/n"}]},
    )
    assert replaced.status == 200, replaced.text
    assert replaced.json()["identities"] == [
        {"kind": "queue_member", "value": "Local/101@from-queue/n", "pbx": None}
    ]
    fetched = await admin.get(f"/api/v1/users/{olga['id']}")
    assert fetched.json() == replaced.json()
    login = await api.anonymous().post(
        "/api/v1/auth/login", json={"login": "olga", "password": "long-enough"}
    )
    assert login.status == 200


async def test_everyone_reads_the_user_list_with_minimal_fields(api: ApiHarness) -> None:
    await api.create_user("seller", login="zed", identities=[("extension", "150")])
    seller = await api.client("seller", login="amy")
    response = await seller.get("/api/v1/users")
    assert response.status == 200, response.text
    users = response.json()
    assert [u["login"] for u in users] == ["amy", "zed"]
    assert set(users[0]) == {"id", "login", "display_name", "role", "active"}
    zed_id = users[1]["id"]
    assert (await seller.get(f"/api/v1/users/{zed_id}")).status == 403
    own = await seller.get(f"/api/v1/users/{users[0]['id']}")
    assert own.status == 200
    assert own.json()["identities"] == []


async def test_inactive_users_listed_for_admins_who_ask(api: ApiHarness) -> None:
    admin = await api.client("admin", login="root")
    gone = await api.create_user("seller", login="gone")
    await admin.patch(f"/api/v1/users/{gone.id}", json={"active": False})
    default = [u["login"] for u in (await admin.get("/api/v1/users")).json()]
    everyone = (await admin.get("/api/v1/users", params={"include_inactive": "true"})).json()
    assert default == ["root"]
    assert [(u["login"], u["active"]) for u in everyone] == [("gone", False), ("root", True)]


async def test_conflicts_have_their_own_slugs(api: ApiHarness) -> None:
    admin = await api.client("admin")
    await api.create_user("seller", login="taken", identities=[("extension", "201")])
    duplicate = await admin.post("/api/v1/users", json={"login": "TAKEN", "role": "seller"})
    assert duplicate.status == 409
    assert duplicate.json()["slug"] == "duplicate-login"
    clash = await admin.post(
        "/api/v1/users",
        json={
            "login": "other",
            "role": "seller",
            "identities": [{"kind": "extension", "value": "201"}],
        },
    )
    assert clash.status == 409
    body: dict[str, Any] = clash.json()
    assert body["slug"] == "identity-taken"
    assert body["details"]["login"] == "taken"


async def test_last_admin_cannot_be_demoted(api: ApiHarness) -> None:
    admin = await api.client("admin")
    assert admin.user is not None
    response = await admin.patch(f"/api/v1/users/{admin.user.id}", json={"role": "seller"})
    assert response.status == 409
    assert response.json()["slug"] == "last-admin"
    second = await api.create_user("admin")
    demoted = await admin.patch(f"/api/v1/users/{second.id}", json={"role": "head"})
    assert demoted.status == 200


async def test_admin_issues_a_token_for_an_integration_user(api: ApiHarness) -> None:
    admin = await api.client("admin")
    robot = await api.create_user("head", login="robot")
    issued = await admin.post(f"/api/v1/users/{robot.id}/tokens", json={"name": "erp"})
    assert issued.status == 201, issued.text
    client = api.anonymous()
    client.default_headers["Authorization"] = f"Bearer {issued.json()['token']}"
    me = (await client.get("/api/v1/auth/me")).json()
    assert me["user"]["login"] == "robot"
    listed = (await admin.get(f"/api/v1/users/{robot.id}/tokens")).json()
    assert [t["name"] for t in listed] == ["erp"]


async def test_service_refuses_short_passwords_and_bad_logins(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as db:
        with pytest.raises(InvalidInput) as short:
            await users_service.create_user(
                db, SYSTEM, login="ann", role=Role.SELLER, password="short"
            )
        assert "password" in short.value.fields
        with pytest.raises(InvalidInput) as bad:
            await users_service.create_user(db, SYSTEM, login="has space", role=Role.SELLER)
        assert "login" in bad.value.fields
        seller = Principal(user_id=1, login="s", role=Role.SELLER)
        with pytest.raises(PermissionDenied):
            await users_service.create_user(db, seller, login="ann", role=Role.SELLER)


async def test_users_by_telephony_maps_every_pbx_name_in_one_call(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as db:
        ivan = await users_service.create_user(
            db,
            SYSTEM,
            login="ivan",
            role=Role.SELLER,
            identities=[Identity("extension", "101"), Identity("interface", "SIP/ivan-phone")],
        )
        olga = await users_service.create_user(
            db,
            SYSTEM,
            login="olga",
            role=Role.SELLER,
            identities=[
                Identity("extension", "102"),
                Identity("queue_member", "Local/102@from-queue/n"),
            ],
        )
        gone = await users_service.create_user(
            db, SYSTEM, login="gone", role=Role.SELLER, identities=[Identity("extension", "103")]
        )
        await users_service.update_user(db, SYSTEM, gone.id, active=False)
    async with sessions() as db:
        found = await users_by_telephony(
            db,
            [
                "101",
                "PJSIP/101",
                "SIP/ivan-phone",
                "Local/102@from-queue/n",
                "PJSIP/102",
                "103",
                "PJSIP/104",
                "",
            ],
        )
    assert {name: user.login for name, user in found.items()} == {
        "101": "ivan",
        "PJSIP/101": "ivan",
        "SIP/ivan-phone": "ivan",
        "Local/102@from-queue/n": "olga",
        "PJSIP/102": "olga",
    }
    assert found["101"].user_id == ivan.id
    assert found["PJSIP/102"].user_id == olga.id
    assert found["PJSIP/102"].role is Role.SELLER
    async with sessions() as db:
        assert await users_by_telephony(db, []) == {}


def test_identity_kind_and_device_extension() -> None:
    assert users_service.identity_kind("101") == "extension"
    assert users_service.identity_kind("PJSIP/101") == "interface"
    assert users_service.identity_kind("Local/101@from-queue/n") == "queue_member"
    assert users_service.device_extension("PJSIP/101") == "101"
    assert users_service.device_extension("Local/101@from-queue/n") == "101"
    assert users_service.device_extension("101") is None
