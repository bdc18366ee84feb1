"""The record of outbound webhook deliveries: one row per (endpoint, event), with its attempts."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from crmlite.db.models import WebhookDelivery

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"


@dataclass(frozen=True, slots=True)
class DeliveryToSend:
    id: int
    delivery_id: str
    endpoint: str
    event_type: str
    body: str
    attempts: int


def _to_send(row: WebhookDelivery) -> DeliveryToSend:
    return DeliveryToSend(
        row.id, row.delivery_id, row.endpoint, row.event_type, row.body, row.attempts
    )


async def record_delivery(
    session: AsyncSession,
    *,
    endpoint: str,
    event_type: str,
    event_id: str,
    body: str,
    now: dt.datetime,
) -> DeliveryToSend | None:
    """Record a new delivery due now; None when this event already went to this endpoint."""
    row = WebhookDelivery(
        delivery_id=str(uuid.uuid4()),
        endpoint=endpoint,
        event_type=event_type,
        event_id=event_id,
        body=body,
        status=PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None  # the (endpoint, event_id) key: a replay of an event already recorded
    return _to_send(row)


async def record_attempt(
    session: AsyncSession,
    delivery_pk: int,
    *,
    status_code: int | None,
    error: str | None,
    delivered: bool,
    next_attempt_at: dt.datetime | None,
    now: dt.datetime,
) -> None:
    """Count one attempt: delivered, retried at ``next_attempt_at``, or failed for good."""
    row = await session.get(WebhookDelivery, delivery_pk)
    if row is None:
        return
    row.attempts += 1
    row.last_status_code = status_code
    row.last_error = error[:500] if error else None
    if delivered:
        row.status, row.delivered_at, row.next_attempt_at = DELIVERED, now, None
    elif next_attempt_at is None:
        row.status, row.next_attempt_at = FAILED, None
    else:
        row.next_attempt_at = next_attempt_at


async def due_deliveries(
    session: AsyncSession, now: dt.datetime, *, limit: int = 100, exclude: Sequence[int] = ()
) -> list[DeliveryToSend]:
    """Pending deliveries whose next attempt is due, oldest first."""
    query = (
        select(WebhookDelivery)
        .where(WebhookDelivery.status == PENDING, WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
    )
    if exclude:
        query = query.where(WebhookDelivery.id.not_in(exclude))
    return [_to_send(row) for row in await session.scalars(query)]


async def claim(
    session: AsyncSession, delivery: DeliveryToSend, now: dt.datetime, lease: dt.timedelta
) -> bool:
    """Take the next attempt of ``delivery`` for this sender; False when it is not ours to make.

    One conditional UPDATE: it succeeds only while the row is pending, due, and has had no attempt
    since it was read, so two instances (or a scan racing a worker) never send the same attempt.
    The lease moves the due time on; if this sender dies mid-attempt the row is due again after it.
    """
    result = await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery.id,
            WebhookDelivery.status == PENDING,
            WebhookDelivery.attempts == delivery.attempts,
            or_(WebhookDelivery.next_attempt_at.is_(None), WebhookDelivery.next_attempt_at <= now),
        )
        .values(next_attempt_at=now + lease)
    )
    return bool(getattr(result, "rowcount", 0))


async def deliveries(
    session: AsyncSession,
    *,
    status: str | None = None,
    event_type: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[WebhookDelivery]:
    """The newest deliveries first, optionally of one status or event type."""
    query = select(WebhookDelivery).order_by(WebhookDelivery.id.desc())
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    if event_type is not None:
        query = query.where(WebhookDelivery.event_type == event_type)
    rows = await session.scalars(query.limit(limit).offset(offset))
    return list(rows)


async def retry_delivery(
    session: AsyncSession, delivery_pk: int, now: dt.datetime
) -> DeliveryToSend | None:
    """Make a failed delivery due again (a fresh round of attempts); None when there is none."""
    row = await session.get(WebhookDelivery, delivery_pk)
    if row is None:
        return None
    if row.status != PENDING:
        row.status = PENDING
        row.attempts = 0
    row.next_attempt_at = now
    await session.flush()
    return _to_send(row)
