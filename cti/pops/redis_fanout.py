"""Fan-out through Redis: pub/sub for messages, a hash per user (with a TTL) for live cards.

A user connected to instance B gets the pops of calls instance A consumed: A publishes on one
channel, every instance's subscriber delivers to the sockets it holds. Live cards live in Redis so
a tab reconnecting to any instance gets its current state.

A's own tabs do not wait for the round trip: a post reaches them at once, a publish as soon as
Redis has it, and A's subscriber skips what A published (each message names its instance). The
posts of the call path are thus one hop from the ring event to half the tabs, whatever Redis's
load, and keep their order; a publish made while posts are on their way may reach A's tabs after
them (they are notices, not cards).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis
import structlog
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from cti.pops.fanout import DEFAULT_LIVE_TTL_S, Deliver, FanoutUnavailable, LiveChange, Resync

log = structlog.get_logger(__name__)

DEFAULT_PREFIX = "cti:pops"
MAX_IN_FLIGHT = 20_000  # posts queued for Redis (tens of MB); past it Redis is away or far behind
MAX_BATCH = 500  # publishes per script call: Redis runs a script without serving anyone else
_RESUBSCRIBE_DELAY_S = 1.0
_ORIGIN = "@"  # a message on the channel: "@<instance>\n<user id>\n<text>"


# One batch of publishes in one command (atomic, in order, one reply to parse): per item, KEYS[i]
# is the user's live hash and four ARGV after the channel and the TTL: the live change ("set",
# "del" or "" for none), the call's linkedid, the card, and the message to publish.
_PUBLISH_LUA = """
local channel, ttl = ARGV[1], tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
  local at = 3 + (i - 1) * 4
  local change, linkedid = ARGV[at], ARGV[at + 1]
  if change == "set" then
    redis.call("HSET", key, linkedid, ARGV[at + 2])
    redis.call("EXPIRE", key, ttl)
  elseif change == "del" then
    redis.call("HDEL", key, linkedid)
  end
  redis.call("PUBLISH", channel, ARGV[at + 3])
end
return #KEYS
"""


@dataclass(slots=True)
class _Publish:
    user_id: int
    text: str
    live: LiveChange | None
    done: asyncio.Future[None] | None  # None: posted, nobody waits


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
        self._pending: list[_Publish] = []
        self.dropped = 0  # posts dropped with MAX_IN_FLIGHT queued
        self._publish_script = self._redis.register_script(_PUBLISH_LUA)
        self._flusher: asyncio.Task[None] | None = None
        # Names this instance's messages on the channel: its own subscriber skips them.
        self.origin = uuid.uuid4().hex[:12]
        self._deliver: Deliver | None = None

    def _live_key(self, user_id: int) -> str:
        return f"{self._prefix}:live:{user_id}"

    async def start(self, deliver: Deliver, resync: Resync | None = None) -> None:
        """Subscribe and deliver every published message; returns once subscribed."""
        self._resync = resync
        self._deliver = deliver
        self._listener = asyncio.create_task(self._listen(deliver), name="pops-redis-listener")
        waiter = asyncio.create_task(self._subscribed.wait())
        done, _ = await asyncio.wait({waiter, self._listener}, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
            self._listener.result()  # the listener died before subscribing: raise its error

    async def close(self) -> None:
        """Stop listening (after the publishes in flight) and close the connection pool."""
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await self._flusher
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
            self._listener = None
        await self._redis.aclose()

    async def publish(self, user_id: int, text: str, live: LiveChange | None = None) -> None:
        """Write the live change and publish the message; returns once Redis has both.

        Publishes (and posts) made while a round trip is in flight go together in the next one
        (one script call, atomic, in the order they were made): a busy consumer pays per round
        trip, not per message, and the more it has to send the fewer round trips per message.
        """
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue(_Publish(user_id, text, live, done))
        await done
        if self._deliver is not None:  # this instance's own tabs: not through the channel
            self._deliver(user_id, text)

    def post(self, user_id: int, text: str, live: LiveChange | None = None) -> bool:
        """Queue the same without waiting for Redis (the call path's pops): a failure is logged
        by the flusher. This instance's tabs have it at once, whatever becomes of it in Redis.
        Past ``MAX_IN_FLIGHT`` queued, Redis is away or far behind: dropped for the others."""
        if self._deliver is not None:
            self._deliver(user_id, text)
        if len(self._pending) >= MAX_IN_FLIGHT:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning("pops_redis_backlog_full", dropped=self.dropped, limit=MAX_IN_FLIGHT)
            return False
        self._queue(_Publish(user_id, text, live, None))
        return True

    def _queue(self, item: _Publish) -> None:
        self._pending.append(item)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush(), name="pops-redis-publish")

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            try:
                error = await self._publish_with_retry(batch)
            except BaseException as err:  # a bug or a cancel: its publishers raise, not hang
                _settle(batch, err if isinstance(err, Exception) else FanoutUnavailable("stopped"))
                raise
            _settle(batch, error)

    async def _publish_with_retry(self, batch: list[_Publish]) -> FanoutUnavailable | None:
        for attempt in (1, 2):
            try:
                await self._publish_batch(batch)
            except RedisConnectionError as err:
                # After a Redis restart the first use of each pooled connection fails: once more,
                # on a new one (the script runs whole or not at all).
                if attempt == 2:
                    return FanoutUnavailable(f"redis: {err}")
            except (RedisError, OSError) as err:
                return FanoutUnavailable(f"redis: {err}")
            else:
                return None
        return None  # not reached: the second attempt returns

    async def _publish_batch(self, batch: list[_Publish]) -> None:
        keys: list[str] = []
        args: list[str | int] = [self._channel, self._ttl]
        for item in batch:
            keys.append(self._live_key(item.user_id))
            if item.live is None:
                args += ["", "", ""]
            elif item.live.card is None:
                args += ["del", item.live.linkedid, ""]
            else:
                args += ["set", item.live.linkedid, item.live.card]
            args.append(f"{_ORIGIN}{self.origin}\n{item.user_id}\n{item.text}")
        await self._publish_script(keys=keys, args=args)

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
                        _dispatch(deliver, message["data"], self.origin)
            except (RedisError, OSError) as err:
                if first:
                    raise
                log.warning("pops_redis_listener_lost", error=str(err))
                await asyncio.sleep(_RESUBSCRIBE_DELAY_S)
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]


def _settle(batch: list[_Publish], error: Exception | None) -> None:
    posted = sum(item.done is None for item in batch)
    if error is not None and posted:
        # One pop lost each; the tabs get their calls' state when the fan-out is back (resync).
        log.warning("pops_publish_failed", messages=posted, error=str(error))
    for item in batch:
        if item.done is None or item.done.done():  # posted, or its publisher was cancelled
            continue
        if error is None:
            item.done.set_result(None)
        else:
            item.done.set_exception(error)


def _dispatch(deliver: Deliver, data: str, own: str) -> None:
    if data.startswith(_ORIGIN):
        origin, _, data = data.partition("\n")
        if origin[1:] == own:
            return  # this instance delivered it to its tabs when it posted or published it
    user, sep, text = data.partition("\n")
    if not sep or not user.isdigit():
        log.warning("pops_redis_bad_message", head=data[:40])
        return
    deliver(int(user), text)
