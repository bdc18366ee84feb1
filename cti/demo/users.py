"""The demo's people at the company: an admin, a head of sales and five sellers with extensions."""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import User
from crmlite.domain.principal import SYSTEM, Principal, Role
from crmlite.services.passwords import hash_password
from crmlite.services.users import Identity, create_user, principal_of

DEMO_PASSWORD = "demo1234"  # noqa: S105 - the published demo password, shown on the login screen


@dataclass(frozen=True, slots=True)
class DemoUser:
    login: str
    name: str
    role: Role
    extension: str | None = None


DEMO_USERS = (
    DemoUser("admin", "Pavel Admin", Role.ADMIN),
    DemoUser("dana", "Dana Head", Role.HEAD),
    DemoUser("anna", "Anna Smirnova", Role.SELLER, "101"),
    DemoUser("boris", "Boris Ivanov", Role.SELLER, "102"),
    DemoUser("chen", "Chen Wei", Role.SELLER, "103"),
    DemoUser("dmitri", "Dmitri Orlov", Role.SELLER, "104"),
    DemoUser("elena", "Elena Popova", Role.SELLER, "105"),
)


async def create_demo_users(db: AsyncSession, joined: dt.datetime) -> dict[str, Principal]:
    """Create the demo users through the users service (identities, checks), one password hash."""
    for user in DEMO_USERS:
        identities = (
            [
                Identity("extension", user.extension),
                Identity("interface", f"PJSIP/{user.extension}"),
            ]
            if user.extension
            else []
        )
        await create_user(
            db,
            SYSTEM,
            login=user.login,
            role=user.role,
            display_name=user.name,
            identities=identities,
            now=joined,
        )
    # Everyone shares the published password: one argon2 hash (slow on purpose) serves them all.
    shared = await asyncio.to_thread(hash_password, DEMO_PASSWORD)
    logins = [user.login for user in DEMO_USERS]
    await db.execute(update(User).where(User.login.in_(logins)).values(password_hash=shared))
    rows = (await db.execute(select(User))).scalars().all()
    return {row.login: principal_of(row) for row in rows}
