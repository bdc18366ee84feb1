"""Deliver recorded webhook events over HTTP: signed, retried with exponential backoff.

Every event is first written to ``webhook_deliveries`` (one row per endpoint), then sent at once
by a small pool of workers. A failed attempt (connection error, timeout, 5xx, 408, 429) is
scheduled again after ``base_delay * 2**(attempt-1)`` seconds, capped, until ``max_attempts``;
other 4xx answers fail it for good. A scanner picks up due retries, and deliveries left pending
by a restart, from the table.
"""

from __future__ import annotations

import asyncio
import collections
import datetime as dt
import fnmatch
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp
import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from crmlite.services.webhook_deliveries import (
    DeliveryToSend,
    claim,
    due_deliveries,
    record_attempt,
    record_delivery,
    retry_delivery,
)
from cti.rules.metrics import WEBHOOK_ATTEMPTS
from cti.webhooks.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign,
)

log = structlog.get_logger(__name__)

SCHEMA_VERSION = 1
RETRYABLE_4XX = frozenset({408, 425, 429})


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One receiver: its URL, shared secret and the event types it wants (glob patterns)."""

    url: str
    secret: str
    events: tuple[str, ...] = ("*",)

    def wants(self, event_type: str) -> bool:
        return any(fnmatch.fnmatchcase(event_type, pattern) for pattern in self.events)


def envelope(event_type: str, event_id: str, occurred_at: dt.datetime, data: Any) -> str:
    """The body every webhook carries (docs/EVENTS.md), serialized the same way every time."""
    message = {
        "version": SCHEMA_VERSION,
        "id": event_id,
        "type": event_type,
        "occurred_at": occurred_at.astimezone(dt.UTC).isoformat(),
        "data": data,
    }
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class WebhookSender:
    """Record and deliver webhook events to the configured endpoints."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        endpoints: Sequence[Endpoint],
        *,
        max_attempts: int = 8,
        base_delay_s: float = 1.0,
        max_delay_s: float = 600.0,
        timeout_s: float = 10.0,
        workers: int = 4,
        scan_interval_s: float = 5.0,
        hold_limit: int = 10_000,
        clock: Callable[[], dt.datetime] = _utc_now,
    ) -> None:
        self.sessions = sessions
        self.endpoints = {endpoint.url: endpoint for endpoint in endpoints}
        self.max_attempts = max_attempts
        self.base_delay_s = base_delay_s
        self.max_delay_s = max_delay_s
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.worker_count = workers
        self.scan_interval_s = scan_interval_s
        self.clock = clock
        # Bounded: beyond it deliveries wait in the table, where the scanner finds them.
        self._queue: asyncio.Queue[DeliveryToSend] = asyncio.Queue(maxsize=10_000)
        self._inflight: set[int] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._client: aiohttp.ClientSession | None = None
        self._unrecorded: collections.deque[tuple[str, str, str]] = collections.deque()
        self.hold_limit = hold_limit
        self.lost = 0
        self.sent = 0
        self.failed_attempts = 0

    async def publish(
        self, event_type: str, event_id: str, data: Mapping[str, Any], occurred_at: dt.datetime
    ) -> int:
        """Record the event for every endpoint that wants it and queue it; return how many.

        While the database is away the event waits in memory (bounded) and is recorded by the
        scanner once it is back.
        """
        targets = [e for e in self.endpoints.values() if e.wants(event_type)]
        if not targets:
            return 0
        body = envelope(event_type, event_id, occurred_at, dict(data))
        try:
            return await self._record(event_type, event_id, body, targets)
        except (SQLAlchemyError, OSError) as err:
            self._hold(event_type, event_id, body, err)
            return 0

    async def _record(
        self, event_type: str, event_id: str, body: str, targets: Sequence[Endpoint]
    ) -> int:
        now = self.clock()
        recorded: list[DeliveryToSend] = []
        async with self.sessions() as session, session.begin():
            for endpoint in targets:
                delivery = await record_delivery(
                    session,
                    endpoint=endpoint.url,
                    event_type=event_type,
                    event_id=event_id,
                    body=body,
                    now=now,
                )
                if delivery is not None:
                    recorded.append(delivery)
        for delivery in recorded:
            self._submit(delivery)
        return len(recorded)

    def _hold(self, event_type: str, event_id: str, body: str, err: BaseException) -> None:
        if len(self._unrecorded) >= self.hold_limit:
            lost = self._unrecorded.popleft()
            self.lost += 1
            log.error("webhook event lost: database away too long", event_id=lost[1])
        self._unrecorded.append((event_type, event_id, body))
        log.warning(
            "webhook event held until the database is back",
            event_type=event_type,
            error=type(err).__name__,
            held=len(self._unrecorded),
        )

    async def flush_held(self) -> int:
        """Record the events held while the database was away; stop at the first failure."""
        done = 0
        while self._unrecorded:
            event_type, event_id, body = self._unrecorded[0]
            targets = [e for e in self.endpoints.values() if e.wants(event_type)]
            await self._record(event_type, event_id, body, targets)
            self._unrecorded.popleft()
            done += 1
        return done

    def _submit(self, delivery: DeliveryToSend) -> None:
        if delivery.id in self._inflight:
            return
        try:
            self._queue.put_nowait(delivery)
        except asyncio.QueueFull:
            return  # recorded as pending and due: a later scan submits it
        self._inflight.add(delivery.id)

    async def start(self) -> None:
        """Open the HTTP client and start the workers and the retry scanner."""
        self._client = aiohttp.ClientSession(timeout=self.timeout)
        for index in range(self.worker_count):
            self._tasks.append(asyncio.create_task(self._work(), name=f"webhook-worker-{index}"))
        self._tasks.append(asyncio.create_task(self._scan(), name="webhook-scanner"))

    async def close(self) -> None:
        """Stop the workers (pending deliveries stay recorded for the next start)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._client is not None:
            await self._client.close()
            self._client = None

    async def _work(self) -> None:
        while True:
            delivery = await self._queue.get()
            try:
                if await self._still_due(delivery):
                    await self.attempt(delivery)
            except Exception:  # a bug must not kill the worker; the row stays due
                log.exception("webhook attempt crashed", delivery=delivery.delivery_id)
            finally:
                self._inflight.discard(delivery.id)
                self._queue.task_done()

    async def _scan(self) -> None:
        while True:
            await asyncio.sleep(self.scan_interval_s)
            try:
                await self.flush_held()
                async with self.sessions() as session:
                    due = await due_deliveries(session, self.clock(), exclude=list(self._inflight))
            except (SQLAlchemyError, OSError) as err:  # the database may be away for a while
                log.warning("webhook scan failed", error=type(err).__name__)
                continue
            for delivery in due:
                self._submit(delivery)

    async def retry(self, delivery_pk: int) -> bool:
        """Send a delivery again now (after a receiver was fixed); False when it does not exist."""
        async with self.sessions() as session, session.begin():
            delivery = await retry_delivery(session, delivery_pk, self.clock())
        if delivery is None:
            return False
        self._submit(delivery)
        return True

    async def _still_due(self, delivery: DeliveryToSend) -> bool:
        """Claim the attempt: a scan here or another instance may have taken or made it."""
        lease = dt.timedelta(seconds=self.timeout.total or 10.0) * 3
        async with self.sessions() as session, session.begin():
            return await claim(session, delivery, self.clock(), lease)

    async def attempt(self, delivery: DeliveryToSend) -> bool:
        """Send one delivery once and record the attempt; True when the receiver took it."""
        endpoint = self.endpoints.get(delivery.endpoint)
        if endpoint is None or self._client is None:
            return False  # endpoint removed from the configuration: leave the row as it is
        body = delivery.body.encode("utf-8")
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: delivery.event_type,
            DELIVERY_HEADER: delivery.delivery_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(endpoint.secret, timestamp, body),
        }
        status: int | None = None
        error: str | None = None
        try:
            async with self._client.post(endpoint.url, data=body, headers=headers) as response:
                status = response.status
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as err:
            error = f"{type(err).__name__}: {err}"
        delivered = status is not None and 200 <= status < 300
        retryable = status is None or status >= 500 or status in RETRYABLE_4XX
        attempts = delivery.attempts + 1
        next_at: dt.datetime | None = None
        if not delivered and retryable and attempts < self.max_attempts:
            next_at = self.clock() + dt.timedelta(seconds=self.backoff(attempts))
        WEBHOOK_ATTEMPTS.labels(
            "delivered" if delivered else ("retry" if next_at is not None else "failed")
        ).inc()
        if not delivered:
            self.failed_attempts += 1
            error = error or f"HTTP {status}"
            log.warning(
                "webhook attempt failed",
                delivery=delivery.delivery_id,
                endpoint=endpoint.url,
                attempt=attempts,
                error=error,
                retry=next_at is not None,
            )
        else:
            self.sent += 1
        async with self.sessions() as session, session.begin():
            await record_attempt(
                session,
                delivery.id,
                status_code=status,
                error=error,
                delivered=delivered,
                next_attempt_at=next_at,
                now=self.clock(),
            )
        return delivered

    def backoff(self, attempts: int) -> float:
        """Seconds to wait after ``attempts`` failed attempts."""
        return float(min(self.max_delay_s, self.base_delay_s * 2 ** (attempts - 1)))

    async def idle(self) -> None:
        """Wait until every queued delivery has had its attempt (for tests and shutdown)."""
        await self._queue.join()
