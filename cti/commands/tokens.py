"""``cti token create LOGIN``: print a new bearer API token (the only time it is shown).

``--scope route-lookup`` makes a token the PBX's dialplan can send in clear: it only asks which
extension a caller should ring; ``--allow ADDRESS`` (repeatable) binds it to the PBX's addresses.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from crmlite.db.engine import create_engine, session_factory
from crmlite.domain.errors import DomainError
from crmlite.services import auth as auth_service
from crmlite.services import users as users_service
from cti.settings import load_settings


async def _create(
    url: str, login: str, name: str, scope: str | None, allowed_ips: Sequence[str]
) -> auth_service.IssuedToken:
    engine = create_engine(url)
    try:
        async with session_factory(engine).begin() as db:
            user = await users_service.find_user_by_login(db, login)
            return await auth_service.create_api_token(
                db, user.id, name, scope=scope, allowed_ips=allowed_ips
            )
    finally:
        await engine.dispose()


def run(args: argparse.Namespace) -> int:
    settings = load_settings(args.config)
    try:
        issued = asyncio.run(
            _create(settings.database.url, args.login, args.name, args.scope, args.allow)
        )
    except DomainError as err:
        print(f"cti: {err.message}", file=sys.stderr)
        return 1
    # The token alone on stdout, so scripts can capture it; the note goes to stderr.
    print(issued.token)
    view = issued.view
    limits = "".join(
        [
            f", scope {view.scope}" if view.scope else "",
            f", from {' '.join(view.allowed_ips)}" if view.allowed_ips else "",
        ]
    )
    print(
        f"token {view.id} ({view.name}{limits}) for {args.login}: "
        "send it as 'Authorization: Bearer <token>'; it will not be shown again",
        file=sys.stderr,
    )
    return 0
