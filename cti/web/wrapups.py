"""``POST /api/v1/wrapups``: after a call, one request saves the wrap-up form."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from aiohttp import web
from pydantic import Field

from crmlite.web.keys import PRODUCT_TEXT, SESSIONS
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import INT32_MAX, ApiModel
from crmlite.web.security import principal, user_id_of
from cti.pops.wrapup import WrapupRequest, pending_wrapup, save_wrapup
from cti.web.pops_keys import POP_SERVICE

routes = ApiRoutes("pops", "Screen pops: after-call wrap-up and click-to-call")


class WrapupIn(ApiModel):
    linkedid: str = Field(min_length=1, max_length=64, description="the call of the wrap-up card")
    deal_id: int | None = Field(None, ge=1, description="default: the card's deal")
    stage_id: int | None = Field(None, ge=1, description="move the deal to this stage")
    result: Literal["won", "lost"] | None = Field(None, description="close the deal")
    lost_reason: str | None = Field(None, max_length=200)
    note: str | None = Field(None, max_length=10_000)
    callback_due_at: dt.datetime | None = Field(None, description="create a call-back task")
    callback_title: str | None = Field(None, max_length=200)
    expected_version: int | None = Field(
        None, ge=1, le=INT32_MAX, description="the deal version the card saw"
    )


class WrapupOut(ApiModel):
    linkedid: str
    deal_id: int | None
    stage_id: int | None
    note_id: int | None
    task_id: int | None


@routes.post(
    "/api/v1/wrapups",
    body=WrapupIn,
    response=WrapupOut,
    status=201,
    errors={403: "not your call", 409: "the deal changed meanwhile", 422: "invalid form"},
)
async def create_wrapup(request: web.Request, *, body: WrapupIn) -> WrapupOut:
    """Save a call's wrap-up: note, stage move (or won/lost with reason) and call-back task."""
    actor = principal(request)
    user_id = user_id_of(actor)
    service = request.app[POP_SERVICE]
    card = await pending_wrapup(service.hub.backend, user_id, body.linkedid)
    callback = body.callback_due_at
    if callback is not None and callback.tzinfo is None:
        callback = callback.replace(tzinfo=dt.UTC)
    result = await save_wrapup(
        request.app[SESSIONS],
        actor,
        card,
        WrapupRequest(
            linkedid=body.linkedid,
            deal_id=body.deal_id,
            stage_id=body.stage_id,
            result=body.result,
            lost_reason=body.lost_reason,
            note=body.note,
            callback_due_at=callback,
            callback_title=body.callback_title,
            expected_version=body.expected_version,
        ),
        text=request.app[PRODUCT_TEXT],
    )
    await service.wrapup_saved(user_id, body.linkedid, result.to_dict())
    return WrapupOut(**result.to_dict())
