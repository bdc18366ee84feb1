"""The steps of opening a session: TLS context, Login (the only place the secret goes), filters."""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Mapping

import structlog

from cti.ami.errors import AmiActionFailed, AmiLoginFailed
from cti.ami.filters import exclusion_filter
from cti.protocol import AmiMessage
from cti.settings import PbxSettings

log = structlog.get_logger(__name__)

Action = Callable[[Mapping[str, str]], Awaitable[list[AmiMessage]]]


def ssl_context(settings: PbxSettings) -> ssl.SSLContext | bool:
    """A verifying TLS context for the PBX, or False for plain TCP (localhost only)."""
    if not settings.tls:
        return False
    return ssl.create_default_context(cafile=settings.tls_ca_file)


def login_fields(username: str, secret: str, events_on: bool) -> dict[str, str]:
    return {
        "Action": "Login",
        "Username": username,
        "Secret": secret,
        "Events": "on" if events_on else "off",
    }


def check_login(answer: list[AmiMessage], pbx: str, username: str) -> None:
    """Raise AmiLoginFailed unless the PBX accepted the login (naming the user, not the secret)."""
    first = answer[0] if answer else None
    if first is None or (first.response or "").lower() != "success":
        reason = (first.get("Message") if first else None) or "no answer"
        raise AmiLoginFailed(f"{pbx}: login as {username!r} refused: {reason}")


async def install_filters(action: Action, events: tuple[str, ...], pbx: str) -> None:
    """Ask Asterisk to drop ``events`` for this session; carry on if the account may not."""
    for name in events:
        fields = {"Action": "Filter", "Operation": "Add", "Filter": exclusion_filter(name)}
        try:
            await action(fields)
        except AmiActionFailed as err:
            # A read-only account may not use Filter (it needs the system class): manager.conf
            # eventfilter lines do the same job for it.
            log.info("ami.filter_refused", pbx=pbx, reason=err.reason)
            return
