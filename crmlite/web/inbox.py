"""The Unsorted inbox API: list deals calls created, accept, decline (maybe block), merge."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal, Protocol

import structlog
from aiohttp import web
from pydantic import Field

from crmlite.domain.phones import PhoneRules, normalize_phone
from crmlite.services.inbox import (
    Decision,
    DeclineReason,
    InboxService,
    blocked_numbers,
    unblock_number,
)
from crmlite.web.keys import DEFAULT_REGION, SESSIONS
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import ApiModel, IdPath, Page, PageQuery, QueryModel
from crmlite.web.security import principal

log = structlog.get_logger(__name__)

routes = ApiRoutes("inbox", "The Unsorted inbox: deals made from calls, waiting for a decision")


class DecisionListener(Protocol):
    """Told of every inbox decision after it is committed (webhooks follow it)."""

    async def deal_decided(self, decision: Mapping[str, Any]) -> None: ...


INBOX_LISTENERS: web.AppKey[list[DecisionListener]] = web.AppKey("inbox_listeners")

ERRORS = {
    404: "No such deal, or not yours",
    409: "The deal is no longer in Unsorted",
    403: "The deal has another owner",
}


class InboxQuery(PageQuery):
    pipeline_id: int | None = Field(None, ge=1)


class InboxItemOut(ApiModel):
    deal_id: int
    title: str
    pipeline_id: int
    stage_id: int
    contact_id: int | None
    contact_name: str | None
    phone: str | None = Field(description="the contact's first number, E.164")
    owner_id: int | None
    source: str
    created_at: dt.datetime
    calls: int
    last_call_at: dt.datetime | None


class AcceptIn(ApiModel):
    stage_id: int = Field(ge=1, description="an open stage of the deal's pipeline after Unsorted")
    owner_id: int | None = Field(None, ge=1, description="default: you (heads may name anyone)")


class DeclineIn(ApiModel):
    reason: Literal["spam", "wrong_number", "service_request"]
    block_number: bool = Field(False, description="the number never creates a deal again")


class MergeIn(ApiModel):
    into_deal_id: int = Field(ge=1, description="an open deal of the same contact")


class DecisionOut(ApiModel):
    decision_id: int
    decision: Literal["accepted", "declined", "merged"]
    deal_id: int
    deal_title: str
    contact_id: int | None
    reason: str | None
    into_deal_id: int | None
    stage_id: int | None
    owner_id: int | None
    decided_by: int | None
    decided_at: dt.datetime
    blocked_numbers: list[str]


class BlockedQuery(QueryModel):
    number: str = Field(min_length=1, max_length=64)


async def _announce(request: web.Request, decision: Decision) -> DecisionOut:
    for listener in request.app.get(INBOX_LISTENERS, []):
        try:
            await listener.deal_decided(decision.to_dict())
        except Exception:  # a listener's failure must not undo a committed decision
            log.exception("inbox listener failed", deal_id=decision.deal_id)
    return DecisionOut.model_validate(decision.to_dict())


@routes.get("/api/v1/inbox", query=InboxQuery, response=Page[InboxItemOut])
async def list_inbox(request: web.Request, *, query: InboxQuery) -> Page[InboxItemOut]:
    """Deals waiting in Unsorted (sellers see unclaimed ones and their own), newest first."""
    actor = principal(request)
    async with request.app[SESSIONS]() as session:
        page = await InboxService(session, actor).waiting(
            pipeline_id=query.pipeline_id, limit=query.limit, offset=query.offset
        )
    return Page[InboxItemOut](
        items=[InboxItemOut.model_validate(item) for item in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@routes.post(
    r"/api/v1/inbox/{id:\d+}/accept",
    path_model=IdPath,
    body=AcceptIn,
    response=DecisionOut,
    errors={**ERRORS, 422: "Not a stage after Unsorted, or no such owner"},
)
async def accept_deal(request: web.Request, *, path: IdPath, body: AcceptIn) -> DecisionOut:
    """Accept a deal: move it to a stage and give it an owner (history records the move)."""
    actor = principal(request)
    async with request.app[SESSIONS].begin() as session:
        decision = await InboxService(session, actor).accept(path.id, body.stage_id, body.owner_id)
    return await _announce(request, decision)


@routes.post(
    r"/api/v1/inbox/{id:\d+}/decline",
    path_model=IdPath,
    body=DeclineIn,
    response=DecisionOut,
    errors=ERRORS,
)
async def decline_deal(request: web.Request, *, path: IdPath, body: DeclineIn) -> DecisionOut:
    """Decline a deal that is not a sale; its calls stay on the contact."""
    actor = principal(request)
    async with request.app[SESSIONS].begin() as session:
        decision = await InboxService(session, actor).decline(
            path.id, DeclineReason(body.reason), block_number=body.block_number
        )
    return await _announce(request, decision)


@routes.post(
    r"/api/v1/inbox/{id:\d+}/merge",
    path_model=IdPath,
    body=MergeIn,
    response=DecisionOut,
    errors={**ERRORS, 422: "Not an open deal of the same contact"},
)
async def merge_deal(request: web.Request, *, path: IdPath, body: MergeIn) -> DecisionOut:
    """Merge a deal into the contact's existing deal; its calls and tasks move there."""
    actor = principal(request)
    async with request.app[SESSIONS].begin() as session:
        decision = await InboxService(session, actor).merge(path.id, body.into_deal_id)
    return await _announce(request, decision)


class BlockedOut(ApiModel):
    number: str = Field(description="E.164")
    reason: str
    created_at: dt.datetime
    created_by: int | None


@routes.get(
    "/api/v1/inbox/blocked-numbers",
    query=PageQuery,
    response=Page[BlockedOut],
    errors={403: "Heads and admins only"},
)
async def list_blocked(request: web.Request, *, query: PageQuery) -> Page[BlockedOut]:
    """Numbers that never create a deal again (marked when a deal was declined)."""
    actor = principal(request)
    async with request.app[SESSIONS]() as session:
        page = await blocked_numbers(session, actor, limit=query.limit, offset=query.offset)
    return Page[BlockedOut](
        items=[BlockedOut.model_validate(item) for item in page.items],
        total=page.total,
        limit=page.limit,
        offset=page.offset,
    )


@routes.delete(
    "/api/v1/inbox/blocked-numbers",
    query=BlockedQuery,
    errors={404: "The number is not blocked", 403: "Heads and admins only"},
)
async def unblock(request: web.Request, *, query: BlockedQuery) -> None:
    """Let a blocked number create deals again."""
    actor = principal(request)
    rules = PhoneRules(default_region=request.app.get(DEFAULT_REGION, "RU"))
    number = normalize_phone(query.number, rules, field="number").normalized
    async with request.app[SESSIONS].begin() as session:
        await unblock_number(session, actor, number)
