"""Factories for the CRM tests: users as principals, a clock the test controls."""

from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.db.models import User
from crmlite.domain.principal import Principal, Role

START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


class StepClock:
    """A clock that moves only when told to."""

    def __init__(self, start: dt.datetime = START) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


async def add_user(session: AsyncSession, login: str, role: Role = Role.SELLER) -> Principal:
    user = User(
        login=login,
        display_name=login.title(),
        role=role.value,
        password_hash=None,
        locale="en",
        active=True,
        created_at=START,
    )
    session.add(user)
    await session.flush()
    return Principal(user_id=user.id, login=login, role=role, display_name=user.display_name)


async def add_users(
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[Principal, Principal, Principal, Principal]:
    """Two sellers, a head and an admin."""
    async with sessions.begin() as session:
        anna = await add_user(session, "anna")
        boris = await add_user(session, "boris")
        head = await add_user(session, "helen", Role.HEAD)
        admin = await add_user(session, "adam", Role.ADMIN)
    return anna, boris, head, admin
