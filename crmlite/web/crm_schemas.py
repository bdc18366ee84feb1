"""Shapes the CRM routes share: money as strings, owner filters, phone rules of the app."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from aiohttp import web
from pydantic import Field, PlainSerializer

from crmlite.domain.errors import InvalidInput
from crmlite.domain.money import format_amount
from crmlite.domain.phones import DEFAULT_EXTENSION_PATTERN, PhoneRules
from crmlite.domain.principal import Principal
from crmlite.web.keys import DEFAULT_REGION

PHONE_EXTENSION_PATTERN = web.AppKey("phone_extension_pattern", str)
"""Optional: the regex of internal extensions (settings.phone.extension_pattern)."""

AmountOut = Annotated[
    Decimal,
    PlainSerializer(format_amount, return_type=str, when_used="json"),
    Field(description='exact decimal with two places, as a string: "1234.50"'),
]
AmountIn = Annotated[
    str,
    Field(
        pattern=r"^\d{1,12}(\.\d{1,2})?$",
        description="exact decimal as a string, at most two places (never a float)",
        examples=["1234.50"],
    ),
]
Currency = Annotated[str, Field(pattern=r"^[A-Za-z]{3}$", examples=["RUB"])]
OwnerFilter = Annotated[
    str | None,
    Field(
        None,
        pattern=r"^(mine|none|\d+)$",
        description="'mine', 'none' (unassigned) or a user id",
    ),
]


def phone_rules(request: web.Request) -> PhoneRules:
    """The phone rules configured for the app (region, extension pattern)."""
    app = request.app
    return PhoneRules(
        default_region=app.get(DEFAULT_REGION, "RU"),
        extension_pattern=app.get(PHONE_EXTENSION_PATTERN, DEFAULT_EXTENSION_PATTERN),
    )


def owner_filter(actor: Principal, owner: str | None) -> tuple[int | None, bool]:
    """Read an owner filter: (user id or None, unassigned only)."""
    if owner is None:
        return None, False
    if owner == "mine":
        if actor.user_id is None:
            raise InvalidInput("'mine' needs a user", fields={"owner": "not a user"})
        return actor.user_id, False
    if owner == "none":
        return None, True
    return int(owner), False
