"""Two app instances and the real Redis: a tab on instance B gets the pops instance A consumed."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from structlog.testing import capture_logs

from cti.calls.events import AgentRinging, CallAnswered, CallSnapshot, CallStarted
from cti.pops.fanout import FanoutUnavailable, LiveChange
from cti.pops.redis_fanout import MAX_BATCH, RedisFanout
from cti.web.pops_setup import POP_SERVICE
from tests.integration.pops_support import (
    RunningApp,
    open_tab,
    receive,
    receive_until,
    seed_agents,
    start_app,
)

pytestmark = pytest.mark.redis

CALL = CallSnapshot(
    pbx="pbx",
    linkedid="1700000100.1",
    direction="inbound",
    state="ringing",
    caller="+79161234567",
    called="+74951234567",
    queue="sales",
)


@pytest.fixture
async def prefix(redis_url: str) -> AsyncIterator[str]:
    prefix = f"cti:test:{uuid.uuid4().hex[:8]}"
    yield prefix
    client = aioredis.Redis.from_url(redis_url)
    keys = [key async for key in client.scan_iter(f"{prefix}:*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


@pytest.fixture
async def two_instances(
    database_url: str, redis_url: str, prefix: str
) -> AsyncIterator[tuple[RunningApp, RunningApp]]:
    first = await start_app(database_url, redis_url=redis_url, redis_prefix=prefix)
    second = await start_app(database_url, redis_url=redis_url, redis_prefix=prefix)
    yield first, second
    await second.close()
    await first.close()


async def test_a_tab_on_instance_b_gets_the_pops_instance_a_consumed(
    two_instances: tuple[RunningApp, RunningApp], sessions: async_sessionmaker[AsyncSession]
) -> None:
    consumer, other = two_instances
    agents = await seed_agents(sessions, ["101", "102"])
    async with aiohttp.ClientSession() as client:
        tab_101 = await open_tab(client, other.url, agents["101"].token)
        tab_102 = await open_tab(client, consumer.url, agents["102"].token)
        assert (await receive(tab_101))["cards"] == []
        await receive(tab_102)
        service = consumer.app[POP_SERVICE]
        await service.on_call_event(CallStarted(pbx="pbx", at=1.0, call=CALL))
        for ext in ("101", "102"):
            await service.on_call_event(
                AgentRinging(pbx="pbx", at=1.0, call=CALL, extension=ext, interface=f"PJSIP/{ext}")
            )
        ringing = await receive_until(tab_101, "call.ringing")
        assert ringing["card"]["linkedid"] == CALL.linkedid
        assert ringing["card"]["caller"]["display"] == "8 (916) 123-45-67"
        # A tab opening on instance B now gets the live card from Redis at once.
        late = await open_tab(client, other.url, agents["101"].token)
        state = await receive(late)
        assert [card["status"] for card in state["cards"]] == ["ringing"]
        answered = replace(CALL, state="answered", answered_by="102")
        await service.on_call_event(
            CallAnswered(pbx="pbx", at=2.0, call=answered, extension="102", interface="PJSIP/102")
        )
        gone = await receive_until(tab_101, "call.answered_elsewhere")
        assert gone["answered_by"]["user"]["name"] == "Agent 102"
        assert (await receive_until(late, "call.answered_elsewhere"))["id"] == gone["id"]
        in_call = await receive_until(tab_102, "call.answered")
        assert in_call["card"]["status"] == "in-call"
        for ws in (tab_101, tab_102, late):
            await ws.close()


async def test_redis_keeps_live_cards_per_user_with_a_ttl(redis_url: str, prefix: str) -> None:
    received: list[tuple[int, str]] = []
    all_three = asyncio.Event()

    def deliver(user: int, text: str) -> None:
        received.append((user, text))
        if len(received) == 3:
            all_three.set()

    fanout = RedisFanout(redis_url, prefix=prefix, live_ttl_s=60)
    await fanout.start(deliver)
    await fanout.publish(5, '{"type":"x"}', LiveChange("L1", '{"linkedid":"L1"}'))
    await fanout.publish(5, '{"type":"y"}', LiveChange("L2", '{"linkedid":"L2"}'))
    await fanout.publish(5, '{"type":"z"}', LiveChange("L1", None))
    assert await fanout.live_cards(5) == ['{"linkedid":"L2"}']
    client = aioredis.Redis.from_url(redis_url)
    ttl = await client.ttl(f"{prefix}:live:5")
    await client.aclose()
    assert 0 < ttl <= 60
    await asyncio.wait_for(all_three.wait(), timeout=5)
    assert [text for _, text in received] == ['{"type":"x"}', '{"type":"y"}', '{"type":"z"}']
    assert {user for user, _ in received} == {5}
    await fanout.close()


async def test_publishes_made_together_share_one_round_trip_and_keep_their_order(
    redis_url: str, prefix: str
) -> None:
    received: list[tuple[int, str]] = []
    everything = asyncio.Event()
    count = 40

    def deliver(user: int, text: str) -> None:
        received.append((user, text))
        if len(received) == count:
            everything.set()

    fanout = RedisFanout(redis_url, prefix=prefix, live_ttl_s=60)
    await fanout.start(deliver)
    real_script = fanout._publish_script
    round_trips = 0

    async def counted_script(**kwargs: Any) -> Any:
        nonlocal round_trips
        round_trips += 1
        return await real_script(**kwargs)

    fanout._publish_script = counted_script  # type: ignore[assignment]
    await asyncio.gather(
        *(
            fanout.publish(k % 4, f'{{"n":{k}}}', LiveChange(f"L{k}", f'{{"linkedid":"L{k}"}}'))
            for k in range(count)
        )
    )
    # Made in one turn of the loop, before the first could leave: all in one round trip.
    assert round_trips == 1
    await asyncio.wait_for(everything.wait(), timeout=5)
    assert [text for _, text in received] == [f'{{"n":{k}}}' for k in range(count)]
    assert [user for user, _ in received] == [k % 4 for k in range(count)]
    assert len(await fanout.live_cards(3)) == count // 4
    await fanout.close()


async def test_posts_go_in_order_with_publishes_and_the_call_path_never_waits(
    redis_url: str, prefix: str
) -> None:
    received: list[str] = []
    four = asyncio.Event()

    def deliver(user: int, text: str) -> None:
        received.append(text)
        if len(received) == 4:
            four.set()

    fanout = RedisFanout(redis_url, prefix=prefix)
    await fanout.start(deliver)
    assert fanout.post(1, "a", LiveChange("L1", '{"linkedid":"L1"}'))  # returns at once
    assert fanout.post(1, "b")
    await fanout.publish(1, "c")  # waits for its round trip, which the posts went before
    assert fanout.post(1, "d", LiveChange("L1", None))
    await asyncio.wait_for(four.wait(), timeout=5)
    assert received == ["a", "b", "c", "d"]
    assert await fanout.live_cards(1) == []
    await fanout.close()


async def test_a_post_to_an_unreachable_redis_is_logged_not_raised(prefix: str) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    fanout = RedisFanout(f"redis://127.0.0.1:{port}/0", prefix=prefix)
    with capture_logs() as logs:
        assert fanout.post(7, "lost")
        await fanout.close()  # waits for the posts in flight
    failed = [e for e in logs if e["event"] == "pops_publish_failed"]
    assert len(failed) == 1
    assert failed[0]["messages"] == 1
    waiting = RedisFanout(f"redis://127.0.0.1:{port}/0", prefix=prefix)
    with pytest.raises(FanoutUnavailable):
        await waiting.publish(7, "raised")  # the other callers (robots, call-backs) still learn it
    await waiting.close()


async def test_a_lost_subscription_is_resumed_and_the_tabs_get_their_state_again(
    database_url: str, redis_url: str, prefix: str, sessions: async_sessionmaker[AsyncSession]
) -> None:
    running = await start_app(database_url, redis_url=redis_url, redis_prefix=prefix)
    agents = await seed_agents(sessions, ["101"])
    try:
        async with aiohttp.ClientSession() as client:
            tab = await open_tab(client, running.url, agents["101"].token)
            await receive(tab)
            service = running.app[POP_SERVICE]
            await service.on_call_event(CallStarted(pbx="pbx", at=1.0, call=CALL))
            await service.on_call_event(
                AgentRinging(pbx="pbx", at=1.0, call=CALL, extension="101", interface="PJSIP/101")
            )
            await receive_until(tab, "call.ringing")
            admin = aioredis.Redis.from_url(redis_url, decode_responses=True)
            listeners = [
                c["id"]
                for c in await admin.client_list(_type="pubsub")
                if c.get("name") == f"{prefix}:pops"
            ]
            assert len(listeners) == 1
            await admin.client_kill_filter(_id=listeners[0])
            await admin.aclose()
            state = await receive_until(tab, "state", wait_s=10)
            assert [card["linkedid"] for card in state["cards"]] == [CALL.linkedid]
            await tab.close()
    finally:
        await running.close()


async def test_a_long_backlog_goes_in_bounded_batches_in_order(redis_url: str, prefix: str) -> None:
    received: list[str] = []
    everything = asyncio.Event()
    count = MAX_BATCH * 2 + 10

    def deliver(_user: int, text: str) -> None:
        received.append(text)
        if len(received) == count:
            everything.set()

    fanout = RedisFanout(redis_url, prefix=prefix)
    await fanout.start(lambda _user, _text: None)
    other = RedisFanout(redis_url, prefix=prefix)  # another instance: through Redis
    await other.start(deliver)
    sizes: list[int] = []
    real_batch = fanout._publish_batch

    async def counted(batch: list[Any]) -> None:
        sizes.append(len(batch))
        await real_batch(batch)

    fanout._publish_batch = counted  # type: ignore[method-assign]
    for k in range(count):
        assert fanout.post(1, str(k))
    await asyncio.wait_for(everything.wait(), timeout=10)
    assert sizes == [MAX_BATCH, MAX_BATCH, 10]
    assert received == [str(k) for k in range(count)]
    await fanout.close()
    await other.close()


async def test_an_instance_hands_its_own_tabs_their_messages_at_once_and_only_once(
    redis_url: str, prefix: str
) -> None:
    here: list[tuple[int, str]] = []
    there: list[tuple[int, str]] = []
    arrived = {"here": asyncio.Event(), "there": asyncio.Event()}

    def deliver_here(user: int, text: str) -> None:
        here.append((user, text))
        if text == "from-b":
            arrived["here"].set()

    def deliver_there(user: int, text: str) -> None:
        there.append((user, text))
        if text == "published":
            arrived["there"].set()

    a = RedisFanout(redis_url, prefix=prefix)
    b = RedisFanout(redis_url, prefix=prefix)
    await a.start(deliver_here)
    await b.start(deliver_there)
    try:
        assert a.post(3, "posted", LiveChange("L1", '{"linkedid":"L1"}'))
        assert here == [(3, "posted")]  # before any round trip to Redis
        await a.publish(3, "published")
        assert here == [(3, "posted"), (3, "published")]  # as soon as Redis has it
        await asyncio.wait_for(arrived["there"].wait(), timeout=5)
        assert there == [(3, "posted"), (3, "published")]  # the other instance, through Redis
        # B's message reaches A through the channel after A's own two went by: skipped there.
        await b.publish(4, "from-b")
        await asyncio.wait_for(arrived["here"].wait(), timeout=5)
        assert here == [(3, "posted"), (3, "published"), (4, "from-b")]
        assert await b.live_cards(3) == ['{"linkedid":"L1"}']
    finally:
        await a.close()
        await b.close()
