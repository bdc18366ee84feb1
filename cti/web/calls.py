"""``POST /api/v1/calls``: click-to-call from the seller's own extension.

The answer comes at once (202, ``dialing``); the progress comes on the websocket. A seller may ring
only from their own extension (403 otherwise); heads and admins may name any extension.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.domain.errors import InvalidInput, PermissionDenied
from crmlite.domain.phones import PhoneKind, PhoneRules, normalize_phone
from crmlite.domain.principal import Principal
from crmlite.services.contacts import ContactService
from crmlite.services.deals import DealService
from crmlite.services.users import device_extension, get_user
from crmlite.web.errors import HttpProblem
from crmlite.web.keys import SESSIONS
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import ApiModel
from crmlite.web.security import principal, user_id_of
from cti.pops.lookup import format_number
from cti.web.pops_keys import CLICK_TO_CALL, PHONE_RULES

routes = ApiRoutes("calls", "Click-to-call")


class CallIn(ApiModel):
    number: str | None = Field(None, min_length=1, max_length=64, description="as people type it")
    contact_id: int | None = Field(None, ge=1, description="ring the contact's first phone")
    deal_id: int | None = Field(None, ge=1, description="ring the phone of the deal's contact")
    extension: str | None = Field(None, max_length=32, description="default: your extension")

    @model_validator(mode="after")
    def _one_target(self) -> CallIn:
        given = [x for x in (self.number, self.contact_id, self.deal_id) if x is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of number, contact_id, deal_id")
        return self


class CallOut(ApiModel):
    request_id: str = Field(description="click_to_call.status messages on /ws carry it")
    status: Literal["dialing"]
    extension: str
    number: str = Field(description="the number dialled, E.164")
    display: str = Field(description="the number formatted for people")


@routes.post(
    "/api/v1/calls",
    body=CallIn,
    response=CallOut,
    status=202,
    errors={403: "not your extension", 404: "no such contact or deal", 503: "no PBX link"},
)
async def create_call(request: web.Request, *, body: CallIn) -> CallOut:
    """Ring your phone, then the number (or the contact's, or the deal's contact's phone)."""
    actor = principal(request)
    user_id = user_id_of(actor)
    click = request.app[CLICK_TO_CALL]
    if not click.available:
        raise HttpProblem(503, "no-pbx", "no PBX link can place calls", "configure [[pbx]]")
    rules = request.app[PHONE_RULES]
    async with request.app[SESSIONS]() as db:
        extension, channel = await _own_phone(db, actor, user_id, body.extension)
        raw = body.number or await _target_phone(db, actor, rules, body)
    phone = normalize_phone(raw, rules, field="number")
    if phone.kind is PhoneKind.EXTENSION and phone.normalized == extension:
        raise InvalidInput("that is your own phone", fields={"number": "call someone else"})
    number = format_number(raw, rules.default_region, rules.extension_pattern)
    started = click.start(user_id, extension, channel, number, phone.normalized)
    return CallOut(
        request_id=started.request_id,
        status="dialing",
        extension=extension,
        number=phone.normalized,
        display=number.display,
    )


async def _own_phone(
    db: AsyncSession, actor: Principal, user_id: int, wanted: str | None
) -> tuple[str, str]:
    """The extension to ring first and its channel (``PJSIP/101``)."""
    user = await get_user(db, actor, user_id)
    extensions = [i.value for i in user.identities if i.kind == "extension"]
    interfaces = [i.value for i in user.identities if i.kind == "interface"]
    if wanted is None:
        if not extensions:
            raise InvalidInput("you have no extension", fields={"extension": "ask an admin"})
        wanted = extensions[0]
    elif wanted not in extensions and not actor.sees_everything:
        raise PermissionDenied(
            "you may ring only from your own extension", details={"extension": wanted}
        )
    channel = next((i for i in interfaces if device_extension(i) == wanted), f"PJSIP/{wanted}")
    return wanted, channel


async def _target_phone(db: AsyncSession, actor: Principal, rules: PhoneRules, body: CallIn) -> str:
    contact_id = body.contact_id
    if body.deal_id is not None:
        deal = await DealService(db, actor).get(body.deal_id)
        if deal.contact_id is None:
            raise InvalidInput("the deal has no contact", fields={"deal_id": "no contact to call"})
        contact_id = deal.contact_id
    if contact_id is None:
        raise InvalidInput("nothing to call", fields={"number": "give a number"})
    contact = await ContactService(db, actor, rules).get(contact_id)
    if not contact.phones:
        raise InvalidInput("the contact has no phone", fields={"contact_id": "no phone"})
    return contact.phones[0].raw
