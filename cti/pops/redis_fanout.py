"""Fan-out through Redis: pub/sub for messages, a hash per user (with a TTL) for live cards.

A user connected to instance B gets the pops of calls instance A consumed: A publishes on one
channel, every instance's subscriber delivers to the sockets it holds. Live cards live in Redis so
a tab reconnecting to any instance gets its current state.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from cti.pops.fanout import DEFAULT_LIVE_TTL_S, Deliver, FanoutUnavailable, LiveChange, Resync

log = structlog.get_logger(__name__)

DEFAULT_PREFIX = "cti:pops"
_RESUBSCRIBE_DELAY_S = 1.0


class RedisFanout:
    """``FanoutBackend`` over one Redis server (redis-py asyncio)."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        live_ttl_s: float = DEFAULT_LIVE_TTL_S,
    ) -> None:
        # Named, so an operator (or a test) can tell this instance's connections in CLIENT LIST.
        self._redis: aioredis.Redis = aioredis.Redis.from_url(
            url, decode_responses=True, client_name=f"{prefix}:pops"
        )
        self._prefix = prefix
        self._channel = f"{prefix}:messages"
        self._ttl = int(live_ttl_s)
        self._listener: asyncio.Task[None] | None = None
        self._subscribed = asyncio.Event()
        self._resync: Resync | None = None

    def _live_key(self, user_id: int) -> str:
        return f"{self._prefix}:live:{user_id}"

    async def start(self, deliver: Deliver, resync: Resync | None = None) -> None:
        """Subscribe and deliver every published message; returns once subscribed."""
        self._resync = resync
        self._listener = asyncio.create_task(self._listen(deliver), name="pops-redis-listener")
        waiter = asyncio.create_task(self._subscribed.wait())
        done, _ = await asyncio.wait({waiter, self._listener}, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            self._listener.result()  # the listener died before subscribing: raise its error

    async def close(self) -> None:
        """Stop listening and close the connection pool."""
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        await self._redis.aclose()

    async def publish(self, user_id: int, text: str, live: LiveChange | None = None) -> None:
        """Write the live change and publish the message in one round trip."""
        for attempt in (1, 2):
            try:
                await self._publish_once(user_id, text, live)
            except RedisConnectionError as err:
                # After a Redis restart the first use of each pooled connection fails (redis-py
                # retries single commands, not a MULTI/EXEC pipeline): once more, on a new one.
                if attempt == 2:
                    raise FanoutUnavailable(f"redis: {err}") from err
            except (RedisError, OSError) as err:
                raise FanoutUnavailable(f"redis: {err}") from err
            else:
                return

    async def _publish_once(self, user_id: int, text: str, live: LiveChange | None) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            if live is not None:
                key = self._live_key(user_id)
                if live.card is None:
                    pipe.hdel(key, live.linkedid)
                else:
                    pipe.hset(key, live.linkedid, live.card)
                    pipe.expire(key, self._ttl)
            pipe.publish(self._channel, f"{user_id}\n{text}")
            await pipe.execute()

    async def live_cards(self, user_id: int) -> list[str]:
        """The user's live cards from Redis."""
        try:
            cards = await self._redis.hgetall(self._live_key(user_id))
        except (RedisError, OSError) as err:
            raise FanoutUnavailable(f"redis: {err}") from err
        return [c.decode() if isinstance(c, bytes) else c for c in cards.values()]

    async def _listen(self, deliver: Deliver) -> None:
        first = True
        while True:
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
                if first:
                    first = False
                    self._subscribed.set()
                else:
                    log.info("pops_redis_resubscribed")
                    if self._resync is not None:
                        await self._resync()  # messages published meanwhile were lost
                while True:
                    message: dict[str, Any] | None = await pubsub.get_message(timeout=None)
                    if message is not None and message.get("type") == "message":
                        _dispatch(deliver, message["data"])
            except (RedisError, OSError) as err:
                if first:
                    raise
                log.warning("pops_redis_listener_lost", error=str(err))
                await asyncio.sleep(_RESUBSCRIBE_DELAY_S)
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]


def _dispatch(deliver: Deliver, data: str) -> None:
    user, sep, text = data.partition("\n")
    if not sep or not user.isdigit():
        log.warning("pops_redis_bad_message", head=data[:40])
        return
    deliver(int(user), text)
