"""``POST /api/v1/calls``: click-to-call from the seller's own extension.

The answer comes at once (202, ``dialing``); the progress comes on the websocket. A seller may ring
only from their own extension (403 otherwise); heads and admins may name any extension. With several
PBXs the call is placed on the PBX of the identity it rings from; a user with extensions on two
PBXs (or one on every PBX) may name ``pbx``, else the PBX of their latest call is used.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field, model_validator
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.domain.errors import InvalidInput, PermissionDenied
from crmlite.domain.phones import PhoneKind, PhoneRules, normalize_phone
from crmlite.domain.principal import Principal
from crmlite.services.call_pbx import last_call_pbx
from crmlite.services.contacts import ContactService
from crmlite.services.deals import DealService
from crmlite.services.users import device_extension, get_user
from crmlite.web.errors import HttpProblem
from crmlite.web.keys import PBX_NAMES, SESSIONS
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
    pbx: str | None = Field(
        None, min_length=1, max_length=64, description="the PBX to ring from; default: your last"
    )

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
    pbx: str | None = Field(description="the PBX the call is placed on; null: the only one")
    number: str = Field(description="the number dialled, E.164")
    display: str = Field(description="the number formatted for people")


@routes.post(
    "/api/v1/calls",
    body=CallIn,
    response=CallOut,
    status=202,
    errors={
        403: "not your extension",
        404: "no such contact or deal",
        422: "no extension, an unknown PBX, or your own phone",
        503: "no PBX link",
    },
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
        known = request.app.get(PBX_NAMES, ())
        if body.pbx is not None and known and body.pbx not in known:
            raise InvalidInput(f"no PBX named {body.pbx!r}", fields={"pbx": ", ".join(known)})
        preferred = body.pbx
        if preferred is None and len(known) > 1:
            preferred = await last_call_pbx(db, user_id, known)
        try:
            extension, channel, pbx = await _own_phone(
                db, actor, user_id, body.extension, preferred
            )
        except (InvalidInput, PermissionDenied):
            if body.pbx is not None or preferred is None:
                raise
            # No phone of theirs on the PBX of their last call: any of their phones will do.
            extension, channel, pbx = await _own_phone(db, actor, user_id, body.extension, None)
        if pbx is None and len(known) > 1:
            pbx = known[0]
        raw = body.number or await _target_phone(db, actor, rules, body)
    phone = normalize_phone(raw, rules, field="number")
    if phone.kind is PhoneKind.EXTENSION and phone.normalized == extension:
        raise InvalidInput("that is your own phone", fields={"number": "call someone else"})
    number = format_number(raw, rules.default_region, rules.extension_pattern)
    started = click.start(user_id, extension, channel, number, phone.normalized, pbx=pbx)
    return CallOut(
        request_id=started.request_id,
        status="dialing",
        extension=extension,
        pbx=pbx,
        number=phone.normalized,
        display=number.display,
    )


async def _own_phone(
    db: AsyncSession, actor: Principal, user_id: int, wanted: str | None, pbx: str | None
) -> tuple[str, str, str | None]:
    """The extension to ring first, its channel (``PJSIP/101``) and its PBX (None: any)."""
    user = await get_user(db, actor, user_id)
    # On ``pbx`` (when named) only that PBX's identities and every PBX's count.
    mine = [i for i in user.identities if pbx is None or i.pbx in (None, pbx)]
    extensions = [i for i in mine if i.kind == "extension"]
    interfaces = [i.value for i in mine if i.kind == "interface"]
    chosen = next((i for i in extensions if wanted in (None, i.value)), None)
    if chosen is None and (wanted is None or not actor.sees_everything):
        if wanted is None:
            raise InvalidInput("you have no extension", fields={"extension": "ask an admin"})
        raise PermissionDenied(
            "you may ring only from your own extension", details={"extension": wanted}
        )
    extension = chosen.value if chosen is not None else str(wanted)
    channel = next((i for i in interfaces if device_extension(i) == extension), None)
    return extension, channel or f"PJSIP/{extension}", pbx or (chosen.pbx if chosen else None)


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
