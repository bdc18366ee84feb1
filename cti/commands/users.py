"""``cti user add|list|passwd``: manage users from the shell (passwords come from stdin)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from crmlite.db.engine import create_engine, session_factory
from crmlite.domain.errors import DomainError
from crmlite.domain.principal import SYSTEM, Role
from crmlite.services import users as users_service
from cti.settings import load_settings


def read_password(from_stdin: bool) -> str:
    """One password: the first line of stdin, or typed twice at a terminal."""
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise DomainError("the two passwords differ")
    return first


async def _add(url: str, args: argparse.Namespace, password: str | None) -> str:
    identities = [users_service.Identity("extension", ext) for ext in args.extension]
    identities += [
        users_service.Identity(users_service.identity_kind(value), value)
        for value in args.interface
    ]
    engine = create_engine(url)
    try:
        async with session_factory(engine).begin() as db:
            user = await users_service.create_user(
                db,
                SYSTEM,
                login=args.login,
                role=Role(args.role),
                display_name=args.name,
                password=password,
                identities=identities,
            )
    finally:
        await engine.dispose()
    names = ", ".join(f"{i.kind} {i.value}" for i in user.identities) or "no telephony identity"
    return f"added {user.role.value} {user.login} (id {user.id}; {names})"


async def _list(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        async with session_factory(engine)() as db:
            users = await users_service.list_users(db, SYSTEM, include_inactive=True)
    finally:
        await engine.dispose()
    lines = [f"{'ID':>4}  {'LOGIN':<20} {'ROLE':<7} {'ACTIVE':<6} {'NAME':<24} IDENTITIES"]
    for user in users:
        identities = " ".join(i.value for i in user.identities)
        lines.append(
            f"{user.id:>4}  {user.login:<20} {user.role.value:<7} "
            f"{'yes' if user.active else 'no':<6} {user.display_name:<24} {identities}"
        )
    return lines


async def _passwd(url: str, login: str, password: str) -> str:
    engine = create_engine(url)
    try:
        async with session_factory(engine).begin() as db:
            user = await users_service.find_user_by_login(db, login)
            await users_service.update_user(db, SYSTEM, user.id, password=password)
    finally:
        await engine.dispose()
    return f"password of {user.login} changed; their browser sessions were ended"


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    url = settings.database.url
    try:
        if args.user_command == "add":
            password = read_password(True) if args.password_stdin else None
            print(asyncio.run(_add(url, args, password)))
        elif args.user_command == "list":
            print("\n".join(asyncio.run(_list(url))))
        else:
            print(asyncio.run(_passwd(url, args.login, read_password(False))))
    except DomainError as err:
        print(f"cti: {err.message}", file=sys.stderr)
        return 1
    return 0
