"""``GET /api/v1/route?caller=...``: the dialplan asks which extension should ring first.

Answers ``text/plain`` by default (the bare extension, for Asterisk's ``CURL()``), or JSON when
the request prefers ``application/json`` or says ``format=json``. An unknown caller, or one whose
seller has no extension, answers 404 with an empty text body: the dialplan falls through to the
queue. A caller whose contact sits in the public pool routes by ``[pool] ring``: to the previous
owner, to a head, or (``queue``) nowhere. ``CURL()`` hands the dialplan whatever body comes back,
whatever the status, so every other plain-text answer (401, 403, 422, 429, 5xx, a crash) has an
empty body too (``dialplan_answers``); JSON clients keep problem+json. The PBX authenticates with a
token of scope ``route-lookup``, which opens nothing else (``SCOPE_OPERATIONS``). With several
PBXs each office's dialplan names itself (``pbx=east``): the answer prefers the seller's extension
on that PBX and, when the seller sits only in another office, answers ``west:101`` (text) so the
dialplan sends the call over the inter-office trunk. See docs/DIALPLAN.md and docs/MULTI_PBX.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Literal

from aiohttp import web
from pydantic import Field

from crmlite.domain.errors import InvalidInput
from crmlite.domain.phones import PhoneKind, PhoneRules, normalize_phone
from crmlite.domain.pool import RingPolicy
from crmlite.domain.token_scopes import ROUTE_LOOKUP
from crmlite.services.call_routing import responsible_seller
from crmlite.web.keys import SESSIONS
from crmlite.web.pool import POOL_POLICY
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import ApiModel, QueryModel
from crmlite.web.security import principal
from cti.web.call_crm import CALL_LANE_SESSIONS
from cti.web.pops_keys import PHONE_RULES

routes = ApiRoutes("routing", "Route a caller to their seller (for the PBX dialplan)")

ROUTE_PATH = "/api/v1/route"
# What a route-lookup token may call: this lookup and nothing else.
SCOPE_OPERATIONS = {ROUTE_LOOKUP: frozenset({f"GET {ROUTE_PATH}"})}
# Headers a blanked plain-text problem keeps: they tell a human client what to do, safely.
_KEPT_HEADERS = ("WWW-Authenticate", "Retry-After", "Allow")


class RouteQuery(QueryModel):
    caller: str = Field(min_length=1, max_length=64, description="the caller's number, any form")
    format: Literal["text", "json"] | None = Field(
        None, description="answer format; default: text/plain unless Accept prefers JSON"
    )
    pbx: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="the PBX asking (several offices): its extensions first, another's as pbx:ext",
    )


class RouteOut(ApiModel):
    caller: str
    normalized: str | None
    found: bool
    extension: str | None = None
    user_id: int | None = None
    login: str | None = None
    display_name: str | None = None
    contact_id: int | None = None
    via: Literal["contact-owner", "open-deal", "pool-previous-owner", "pool-head"] | None = None
    pbx: str | None = Field(None, description="the PBX of the extension; null: every PBX")
    remote: bool = Field(False, description="the seller sits on another PBX than the one asking")


def _ring(request: web.Request) -> RingPolicy:
    policy = request.app.get(POOL_POLICY)
    return policy.ring if policy is not None else RingPolicy.PREVIOUS_OWNER


def wants_json(request: web.Request) -> bool:
    """JSON when asked by ``format=json``, or by an Accept that names JSON and not plain text.

    Read from the raw query, so a request the schema refuses is answered in the same format.
    """
    fmt = request.query.get("format")
    if fmt in ("json", "text"):
        return fmt == "json"
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/plain" not in accept


def _normalized(raw: str, rules: PhoneRules) -> str | None:
    try:
        phone = normalize_phone(raw, rules)
    except InvalidInput:
        return None
    return None if phone.kind is PhoneKind.EXTENSION else phone.normalized


@routes.get(
    "/api/v1/route",
    query=RouteQuery,
    response=RouteOut,
    errors={404: "no seller for this caller (empty text body)"},
)
async def route_caller(request: web.Request, *, query: RouteQuery) -> web.StreamResponse:
    """The extension of the seller responsible for a caller (text/plain or JSON)."""
    principal(request)  # any authenticated user or token; the PBX gets its own token
    normalized = _normalized(query.caller, request.app[PHONE_RULES])
    seller = None
    if normalized is not None:
        # On SQLite the call path's inline engine: two indexed reads without a thread hop each.
        sessions = request.app.get(CALL_LANE_SESSIONS) or request.app[SESSIONS]
        async with sessions() as session:
            seller = await responsible_seller(
                session, normalized, pool_ring=_ring(request), pbx=query.pbx
            )
    status = 200 if seller is not None else 404
    remote = seller is not None and query.pbx is not None and seller.pbx not in (None, query.pbx)
    if not wants_json(request):
        text = ""
        if seller is not None:
            text = f"{seller.pbx}:{seller.extension}" if remote else seller.extension
        return web.Response(status=status, text=text, content_type="text/plain")
    answer = RouteOut(caller=query.caller, normalized=normalized, found=seller is not None)
    if seller is not None:
        answer = RouteOut(
            caller=query.caller,
            normalized=normalized,
            found=True,
            extension=seller.extension,
            user_id=seller.user_id,
            login=seller.login,
            display_name=seller.display_name,
            contact_id=seller.contact_id,
            via=seller.via,
            pbx=seller.pbx,
            remote=remote,
        )
    return web.json_response(answer.model_dump(mode="json"), status=status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def dialplan_answers(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Blank every plain-text answer of the lookup that is not an extension (status kept).

    Sits outside the error middleware, so it sees problems (401, 403, 404, 422, 429, 500) as
    they would leave: a JSON body there would reach the dialplan as ``${SELLER}``.
    """
    if request.path != ROUTE_PATH or wants_json(request):
        return await handler(request)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        return _blank(exc.status, exc.headers)
    if response.status == 200 and response.content_type == "text/plain":
        return response
    return _blank(response.status, response.headers)


def _blank(status: int, headers: Mapping[str, str]) -> web.Response:
    response = web.Response(status=status, text="", content_type="text/plain")
    for name in _KEPT_HEADERS:
        if name in headers:
            response.headers[name] = headers[name]
    return response
