"""Admins see what was sent to the webhook receivers, and send a failed delivery again."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from aiohttp import web
from pydantic import Field

from crmlite.domain.errors import NotFound, PermissionDenied
from crmlite.services.webhook_deliveries import deliveries
from crmlite.web.keys import SESSIONS
from crmlite.web.routing import ApiRoutes
from crmlite.web.schemas import ApiModel, IdPath, PageQuery
from crmlite.web.security import principal
from cti.web.call_crm import WEBHOOK_SENDER

routes = ApiRoutes("webhooks", "Outbound webhook deliveries (docs/EVENTS.md)")


class DeliveryQuery(PageQuery):
    status: Literal["pending", "delivered", "failed"] | None = None
    event_type: str | None = Field(None, max_length=64)


class DeliveryOut(ApiModel):
    id: int
    delivery_id: str
    endpoint: str
    event_type: str
    event_id: str
    status: str
    attempts: int
    last_status_code: int | None
    last_error: str | None
    next_attempt_at: dt.datetime | None
    created_at: dt.datetime
    delivered_at: dt.datetime | None


class RetryOut(ApiModel):
    id: int
    queued: bool


@routes.get(
    "/api/v1/webhooks/deliveries",
    query=DeliveryQuery,
    response=list[DeliveryOut],
    errors={403: "Admins only"},
)
async def list_deliveries(request: web.Request, *, query: DeliveryQuery) -> list[DeliveryOut]:
    """The newest webhook deliveries, with their attempts and last answer."""
    if not principal(request).is_admin:
        raise PermissionDenied("only admins read webhook deliveries")
    async with request.app[SESSIONS]() as session:
        rows = await deliveries(
            session,
            status=query.status,
            event_type=query.event_type,
            limit=query.limit,
            offset=query.offset,
        )
    return [DeliveryOut.model_validate(row) for row in rows]


@routes.post(
    r"/api/v1/webhooks/deliveries/{id:\d+}/retry",
    path_model=IdPath,
    response=RetryOut,
    status=202,
    errors={403: "Admins only", 404: "No such delivery, or no webhooks configured"},
)
async def retry_delivery(request: web.Request, *, path: IdPath) -> RetryOut:
    """Send a delivery again now, with a fresh round of attempts."""
    if not principal(request).is_admin:
        raise PermissionDenied("only admins resend webhooks")
    sender = request.app.get(WEBHOOK_SENDER)
    if sender is None or not await sender.retry(path.id):
        raise NotFound(f"no delivery {path.id}", details={"delivery": path.id})
    return RetryOut(id=path.id, queued=True)
